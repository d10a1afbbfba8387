//! What every apply needs before its first change: the call gates of `[apply]`, a session
//! per account, the live references (read lazily, see [`crate::checks::references`]), the
//! apply lease and the journal; and the lease check before every change.

use std::collections::HashMap;
use std::time::Duration;

use ecrgc_aws::{AccountSession, Aws, Caller, Failure};
use ecrgc_config::Config;
use ecrgc_model::time::Micros;
use ecrgc_store::Store;
use tokio::sync::Mutex;

use crate::checks::references::{AwsReader, References, WorkloadSources};
use crate::error::Result;
use crate::journal::{Entry, Event, Journal};
use crate::lease::{Holder, Lease};

/// The call gates and retries of `[apply]`.
pub(crate) fn apply_caller(config: &Config) -> Caller {
    let a = &config.apply;
    Caller::from_keys(
        a.max_attempts,
        (a.initial_backoff_ms, a.max_backoff_ms),
        a.api_concurrency,
        &a.api_concurrency_overrides,
    )
}

/// Before journaling entries that announce a change, after any wait for the journal: the
/// lease must still be held, else the run stops before the change (see [`crate::lease`]).
/// One check for every mutating call, because each one is announced by an intent entry.
pub(crate) fn check_lease(lease: Option<&Lease>, entries: &[Entry]) -> Result<()> {
    match lease {
        Some(lease) if entries.iter().any(|e| e.event == Event::Intent) => lease.check(),
        _ => Ok(()),
    }
}

/// What every apply needs before its first repository: a session per account, the live
/// references (read lazily, see [`crate::checks::references`]), and the journal of an
/// `--yes` run.
pub(crate) struct Prepared {
    pub(crate) sessions: HashMap<String, Result<AccountSession, Failure>>,
    pub(crate) references: References,
    pub(crate) journal: Option<Mutex<Journal>>,
    /// The plan's apply lease, taken for an `--yes` run before anything else is prepared.
    pub(crate) lease: Option<Lease>,
}

/// Where and what [`prepare_shared`] prepares.
pub(crate) struct PrepareScope<'a> {
    pub(crate) config: &'a Config,
    pub(crate) store: &'a Store,
    /// Accounts and regions of the pending items.
    pub(crate) items: Vec<(String, String)>,
    /// The instant of the snapshot run planned.
    pub(crate) snapshot_time: Micros,
    /// The plan's id (the journal's key), its local journal, and whether to open it.
    pub(crate) plan_id: &'a str,
    pub(crate) journal_path: &'a std::path::Path,
    pub(crate) execute: bool,
}

/// Opens the sessions (item accounts, and every account whose workloads may reference an
/// image), sets up the live references of every such account × region (read before the
/// first batch that needs them), and opens the journal.
pub(crate) async fn prepare_shared(scope: PrepareScope<'_>, caller: &Caller) -> Result<Prepared> {
    let config = scope.config;
    let home = scope.items.first().map(|i| i.1.clone());
    let aws = Aws::load(caller.clone(), home.as_deref()).await?;
    // One apply at a time: the lease comes before the sweep (a second apply is refused
    // without repeating it), the journal session and any change. The journal history the
    // caller read before may miss what a previous holder did just before its lease lapsed;
    // every item is described live before any call, so such an item is found gone.
    let session = format!(
        "{}-{:04x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"),
        std::process::id() & 0xffff
    );
    let lease = if scope.execute {
        let holder = Holder::this_process(Some(aws.caller_arn()), &session);
        let ttl = Duration::from_secs(config.apply.lease_seconds);
        Some(Lease::acquire(scope.store, scope.plan_id, holder, ttl).await?)
    } else {
        None
    };
    let check_ecs = config.sources.ecs || config.sources.config_aggregator.is_some();
    let check_lambda = config.sources.lambda;
    let workloads = WorkloadSources::from_config(&config.sources);
    let mut accounts: Vec<String> = scope.items.iter().map(|i| i.0.clone()).collect();
    let mut reference_accounts = Vec::new();
    if check_ecs || check_lambda || !workloads.per_account.is_empty() {
        reference_accounts = if config.org.discover.is_some() {
            aws.organization_accounts()
                .await?
                .into_iter()
                .map(|a| a.id)
                .collect()
        } else if config.org.accounts.is_empty() {
            vec![aws.caller_account().to_owned()]
        } else {
            config.org.accounts.clone()
        };
        accounts.extend(reference_accounts.iter().cloned());
    }
    accounts.sort();
    accounts.dedup();
    let role = config.apply_role();
    let sessions: HashMap<String, Result<AccountSession, Failure>> =
        futures::future::join_all(accounts.iter().map(|a| {
            let aws = &aws;
            async move { (a.clone(), aws.account(a, role).await) }
        }))
        .await
        .into_iter()
        .collect();

    let mut regions = config.org.regions.clone();
    if regions.is_empty() {
        regions = scope.items.iter().map(|i| i.1.clone()).collect();
        regions.sort();
        regions.dedup();
    }
    // Deregistered task definitions, stopped tasks and deployments inside the rollback
    // window count, the window counted from the snapshot (see `references`).
    let recent_since = ecrgc_model::time::before(
        scope.snapshot_time,
        i64::from(config.rules.rollback_window_hours),
        ecrgc_model::time::HOUR,
    );
    // Contexts and declared-reference locations are places of their own, read once.
    let places: Vec<(String, String)> = reference_accounts
        .iter()
        .flat_map(|a| regions.iter().map(move |r| (a.clone(), r.clone())))
        .chain(workloads.once.iter().map(|p| (p.clone(), String::new())))
        .collect();
    let reader = AwsReader::new(
        caller.clone(),
        reference_accounts
            .iter()
            .filter_map(|a| sessions.get(a).map(|s| (a.clone(), s.clone())))
            .collect(),
        (check_ecs, check_lambda, workloads),
        recent_since,
        config.apply.api_concurrency.max(1) as usize,
    );
    let references = References::new(
        reader,
        places,
        Duration::from_secs(config.apply.reference_max_age_seconds),
        config.apply.parallel_repositories as usize,
    );
    let journal = if scope.execute {
        Some(Mutex::new(Journal::open(
            scope.journal_path,
            scope.store.clone(),
            scope.plan_id,
            &session,
        )?))
    } else {
        None
    };
    Ok(Prepared {
        sessions,
        references,
        journal,
        lease,
    })
}
