//! The run: which items are left to do, the sessions and the live references they need, the
//! repositories worked on in parallel, and the summary over every session of the manifest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use ecrgc_aws::replication::{ReplicationRule, replication_rules};
use ecrgc_aws::{AccountSession, Aws, CallStats, Caller, Failure};
use ecrgc_config::{Config, TagSelector};
use ecrgc_manifest::Item;
use ecrgc_model::time::Micros;
use ecrgc_store::Store;
use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::Result;
use crate::admit::Admitted;
use crate::journal::{Entry, Event, History, Journal, read_history};
use crate::lease::{Holder, Lease};
use crate::live::process_repository;
use crate::references::{AwsReader, References, RepoKey};
use crate::replication::{ImageKey, phases, replica_key};

/// What happens to an image that passes every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// BatchDeleteImage.
    Delete,
    /// UpdateImageStorageClass to ARCHIVE.
    Archive,
}

/// The final word on one item in this session.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The item.
    pub item_id: String,
    /// Deleted, archived, absent, already archived, skipped or failed (or, in a dry run,
    /// what would be done).
    pub event: Event,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// What was found or what the API said.
    pub message: Option<String>,
    /// The API's failure code.
    pub code: Option<String>,
}

/// What the run shares with every repository task.
pub struct Shared {
    /// The call gates.
    pub caller: Caller,
    /// A session per account, or why none.
    pub sessions: HashMap<String, Result<AccountSession, Failure>>,
    /// Whether Inspector usage is re-read.
    pub inspector: bool,
    /// Every live workload reference, re-read when too old (see [`crate::references`]).
    pub references: References,
    /// The snapshot time.
    pub snapshot_time: Micros,
    /// Delete or archive.
    pub mode: Mode,
    /// `false` in a dry run.
    pub execute: bool,
    /// Images per batch.
    pub batch_size: usize,
    /// Repositories with this tag are left alone.
    pub exclude_tag: TagSelector,
    /// Only repositories with this tag may lose images.
    pub opt_in_tag: Option<TagSelector>,
    /// Each item registry's replication rules now (account, region), or why not read.
    pub replication: HashMap<(String, String), Result<Vec<ReplicationRule>, Failure>>,
    journal: Option<Mutex<Journal>>,
    /// The plan's apply lease (`--yes` only), checked before every intent is journaled.
    lease: Option<Lease>,
    progress: ProgressBar,
}

impl Shared {
    /// Fills the item fields of a journal entry.
    pub(crate) fn fill_item(&self, e: &mut Entry, item: &Item) {
        e.item_id = Some(item.item_id.clone());
        e.account_id = Some(item.account_id.clone());
        e.region = Some(item.region.clone());
        e.repository_name = Some(item.repository_name.clone());
        e.image_digest = Some(item.image_digest.clone());
    }

    /// A final decision on `item`, and its journal entry.
    pub(crate) fn decision(
        &self,
        item: &Item,
        event: Event,
        reason: Option<&str>,
        message: Option<String>,
    ) -> (Decision, Entry) {
        let mut e = Entry::new(event);
        self.fill_item(&mut e, item);
        e.reason = reason.map(str::to_owned);
        e.message = message.clone();
        self.progress.inc(1);
        (
            Decision {
                item_id: item.item_id.clone(),
                event,
                reason: reason.map(str::to_owned),
                message,
                code: None,
            },
            e,
        )
    }

    /// Whether the apply lease is still held (always, in a dry run, which takes none). Asked
    /// again inside every attempt of a mutating call, after any wait: an attempt retried
    /// through a long throttling storm must not outlive the lease.
    pub(crate) fn lease_held(&self) -> bool {
        self.lease.as_ref().is_none_or(Lease::still_held)
    }

    /// Appends to the journal (nothing in a dry run). Entries that announce a change (an
    /// intent precedes every mutating call) need the lease still held.
    pub(crate) async fn record(&self, entries: Vec<Entry>) -> Result<()> {
        if let Some(journal) = &self.journal {
            let mut journal = journal.lock().await;
            check_lease(self.lease.as_ref(), &entries)?;
            journal.append(entries).await?;
        }
        Ok(())
    }

    /// Skips every item with one reason.
    pub(crate) async fn skip_all(
        &self,
        items: &[&Item],
        reason: &str,
        message: &str,
    ) -> Result<Vec<Decision>> {
        let mut decisions = Vec::new();
        let mut entries = Vec::new();
        for item in items {
            let (d, e) =
                self.decision(item, Event::Skipped, Some(reason), Some(message.to_owned()));
            decisions.push(d);
            entries.push(e);
        }
        self.record(entries).await?;
        Ok(decisions)
    }
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

/// Everything a run needs.
pub struct RunOptions<'a> {
    /// The admitted manifest.
    pub admitted: &'a Admitted,
    /// The configuration now.
    pub config: &'a Config,
    /// The store (planned records, snapshot, journal).
    pub store: &'a Store,
    /// Delete or archive.
    pub mode: Mode,
    /// `false` for a dry run.
    pub execute: bool,
    /// The local journal file.
    pub journal_path: PathBuf,
    /// Progress display (stderr).
    pub progress: ProgressBar,
}

/// Figures of a manifest after this run, over every session.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// The plan.
    pub manifest_id: String,
    /// Delete or archive.
    pub mode: Option<Mode>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Items in the manifest given.
    pub items: u64,
    /// Items the plan had.
    pub planned_items: u64,
    /// Final events by kind (`deleted`, `skipped`, …), over every session; in a dry run,
    /// what would happen.
    pub by_event: BTreeMap<String, u64>,
    /// Skipped items by reason.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Failed items by code.
    pub failed_by_code: BTreeMap<String, u64>,
    /// Bytes of the images deleted (or archived), by the manifest's sizes.
    pub bytes: u64,
    /// Items this session acted on or decided.
    pub decided_now: u64,
    /// Items earlier sessions had finished.
    pub done_before: u64,
    /// API calls this session.
    pub api_calls: u64,
    /// Throttled answers this session.
    pub throttles: u64,
    /// The local journal.
    pub journal: Option<String>,
    /// The journal in the store.
    pub journal_store: Option<String>,
}

impl Summary {
    /// Items that failed.
    pub fn failed(&self) -> u64 {
        self.by_event.get("failed").copied().unwrap_or(0)
    }

    /// Items skipped because a check could not be made, not for a finding about the image
    /// ([`crate::status::is_blocked`]): a run with some exits with status 3.
    pub fn blocked(&self) -> u64 {
        self.blocked_by_reason().iter().map(|(_, n)| n).sum()
    }

    /// [`Summary::blocked`] by reason.
    pub fn blocked_by_reason(&self) -> Vec<(&str, u64)> {
        self.skipped_by_reason
            .iter()
            .filter(|(r, _)| crate::status::is_blocked(r))
            .map(|(r, n)| (r.as_str(), *n))
            .collect()
    }
}

/// The outcome of a run.
pub struct Report {
    /// Figures.
    pub summary: Summary,
    /// Per item, in manifest order: the final event and its reason.
    pub items: Vec<(Item, Decision, bool)>,
}

/// Applies (or dry-runs) the admitted manifest.
pub async fn run(opts: RunOptions<'_>) -> Result<Report> {
    let admitted = opts.admitted;
    let manifest = &admitted.manifest;
    let archive = opts.mode == Mode::Archive;
    let history = read_history(Some(&opts.journal_path), opts.store, &admitted.manifest_id).await?;
    let latest = history.latest(archive);
    let pending: Vec<&Item> = manifest
        .items
        .iter()
        .filter(|i| {
            !latest
                .get(i.item_id.as_str())
                .is_some_and(|e| e.event.is_done(archive))
        })
        .collect();
    let mut prior_done: HashMap<RepoKey, HashSet<String>> = HashMap::new();
    for e in latest.values().filter(|e| e.event.is_done(archive)) {
        if let (Some(a), Some(r), Some(n), Some(d)) = (
            &e.account_id,
            &e.region,
            &e.repository_name,
            &e.image_digest,
        ) {
            prior_done
                .entry((a.clone(), r.clone(), n.clone()))
                .or_default()
                .insert(d.clone());
        }
    }
    opts.progress.set_length(pending.len() as u64);

    let caller = apply_caller(opts.config);
    let mut decisions: HashMap<String, Decision> = HashMap::new();
    let mut journal_paths = (None, None);
    let mut shared = None;
    if !pending.is_empty() {
        let shared = shared.insert(prepare(&opts, &pending, caller.clone()).await?);
        if let Some(j) = &shared.journal {
            let j = j.lock().await;
            journal_paths = (
                Some(j.local_path().display().to_string()),
                Some(j.store_folder()),
            );
        }
        let mut started = Entry::new(Event::SessionStarted);
        started.detail = Some(serde_json::json!({
            "mode": opts.mode,
            "items": manifest.items.len(),
            "pending": pending.len(),
            "tool_version": env!("CARGO_PKG_VERSION"),
            "config_hash": opts.config.hash(),
            "planned_config_sha256": manifest.header.plan.config.sha256,
            "approvers": admitted.review.approvers,
        }));
        shared.record(vec![started]).await?;

        // Replicas before the sources whose deletion would take them along (see
        // `replication`); without delete replication there is one phase.
        let known: HashMap<ImageKey, &Item> = manifest
            .items
            .iter()
            .map(|i| {
                (
                    (
                        i.account_id.clone(),
                        i.region.clone(),
                        i.repository_name.clone(),
                        i.image_digest.clone(),
                    ),
                    i,
                )
            })
            .collect();
        let by_id: HashMap<&str, &Item> = manifest
            .items
            .iter()
            .map(|i| (i.item_id.as_str(), i))
            .collect();
        let (ordered, refused) = phases(&pending, &known);
        let mut entries = Vec::new();
        for (item, reason, message) in refused {
            let (d, e) = shared.decision(item, Event::Skipped, Some(reason), Some(message));
            decisions.insert(d.item_id.clone(), d);
            entries.push(e);
        }
        shared.record(entries).await?;
        for phase in ordered {
            let mut ready = Vec::new();
            let mut entries = Vec::new();
            for item in phase {
                let held = item.replicas.iter().find_map(|dest| {
                    let replica = known.get(&replica_key(item, dest))?;
                    let done = decisions
                        .get(&replica.item_id)
                        .map(|d| d.event)
                        .or_else(|| latest.get(replica.item_id.as_str()).map(|e| e.event))
                        .is_some_and(|e| e.is_done(archive));
                    (!done).then(|| format!("its replica in {dest} was not deleted"))
                });
                match held {
                    Some(why) => {
                        let reason = crate::replication::reason::REPLICA_KEPT;
                        let (d, e) = shared.decision(item, Event::Skipped, Some(reason), Some(why));
                        decisions.insert(d.item_id.clone(), d);
                        entries.push(e);
                    }
                    None => ready.push(item),
                }
            }
            shared.record(entries).await?;
            let mut groups: BTreeMap<RepoKey, Vec<&Item>> = BTreeMap::new();
            for item in ready {
                groups
                    .entry((
                        item.account_id.clone(),
                        item.region.clone(),
                        item.repository_name.clone(),
                    ))
                    .or_default()
                    .push(item);
            }
            let empty = HashSet::new();
            let (shared_ref, prior_ref, empty_ref) = (&*shared, &prior_done, &empty);
            let results: Vec<Vec<Decision>> = futures::stream::iter(interleave(groups))
                .map(|(key, items)| async move {
                    let prior = prior_ref.get(&key).unwrap_or(empty_ref);
                    process_repository(shared_ref, &key, items, prior).await
                })
                .buffer_unordered(opts.config.apply.parallel_repositories.max(1) as usize)
                .try_collect()
                .await?;
            // What this phase finished counts as done for the parents checks of the next.
            for d in results.into_iter().flatten() {
                if d.event.is_done(archive)
                    && let Some(item) = by_id.get(d.item_id.as_str())
                {
                    prior_done
                        .entry((
                            item.account_id.clone(),
                            item.region.clone(),
                            item.repository_name.clone(),
                        ))
                        .or_default()
                        .insert(item.image_digest.clone());
                }
                decisions.insert(d.item_id.clone(), d);
            }
        }
    }
    opts.progress.finish_and_clear();
    let summary = summarize(&opts, &history, &decisions, &caller, &journal_paths);
    if let Some(shared) = &shared {
        let mut finished = Entry::new(Event::SessionFinished);
        finished.detail = serde_json::to_value(&summary).ok();
        shared.record(vec![finished]).await?;
        if let Some(lease) = &shared.lease {
            lease.release().await;
        }
    }
    let items = manifest
        .items
        .iter()
        .map(|item| {
            if let Some(d) = decisions.get(&item.item_id) {
                return (item.clone(), d.clone(), false);
            }
            let e = latest.get(item.item_id.as_str());
            let d = Decision {
                item_id: item.item_id.clone(),
                event: e.map(|e| e.event).unwrap_or(Event::Skipped),
                reason: e.and_then(|e| e.reason.clone()),
                message: e.and_then(|e| e.message.clone()),
                code: e.and_then(|e| e.code.clone()),
            };
            (item.clone(), d, true)
        })
        .collect();
    Ok(Report { summary, items })
}

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

/// The repositories in the order they are worked on: round-robin over account × region.
///
/// AWS rate-limits each API per account and region, so `parallel_repositories` slots all
/// spent in one account and region (the sorted order's first few hundred repositories) would
/// queue on that one BatchDeleteImage limit while every other region's limit sat unused.
/// Taking the first repository of every account × region, then the second of each, and so on
/// spreads the slots over every limit.
fn interleave<V>(groups: BTreeMap<RepoKey, V>) -> Vec<(RepoKey, V)> {
    let mut by_place: BTreeMap<(String, String), Vec<(RepoKey, V)>> = BTreeMap::new();
    for (key, v) in groups {
        by_place
            .entry((key.0.clone(), key.1.clone()))
            .or_default()
            .push((key, v));
    }
    let mut queues: Vec<std::vec::IntoIter<(RepoKey, V)>> =
        by_place.into_values().map(Vec::into_iter).collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for q in &mut queues {
            out.extend(q.next());
        }
        if out.len() == before {
            return out;
        }
    }
}

/// What every apply needs before its first repository: a session per account, the live
/// references (read lazily, see [`crate::references`]), and the journal of an `--yes` run.
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
    let mut accounts: Vec<String> = scope.items.iter().map(|i| i.0.clone()).collect();
    let mut reference_accounts = Vec::new();
    if check_ecs || check_lambda {
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
    let places: Vec<(String, String)> = reference_accounts
        .iter()
        .flat_map(|a| regions.iter().map(move |r| (a.clone(), r.clone())))
        .collect();
    let reader = AwsReader::new(
        caller.clone(),
        reference_accounts
            .iter()
            .filter_map(|a| sessions.get(a).map(|s| (a.clone(), s.clone())))
            .collect(),
        (check_ecs, check_lambda),
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

/// Everything the repository tasks of a manifest share.
async fn prepare(opts: &RunOptions<'_>, pending: &[&Item], caller: Caller) -> Result<Shared> {
    let config = opts.config;
    let prepared = prepare_shared(
        PrepareScope {
            config,
            store: opts.store,
            items: pending
                .iter()
                .map(|i| (i.account_id.clone(), i.region.clone()))
                .collect(),
            snapshot_time: opts.admitted.snapshot_time,
            plan_id: &opts.admitted.manifest_id,
            journal_path: &opts.journal_path,
            execute: opts.execute,
        },
        &caller,
    )
    .await?;
    let replication = read_replication(pending, &prepared.sessions, &caller).await;
    Ok(Shared {
        replication,
        caller,
        sessions: prepared.sessions,
        inspector: config.sources.inspector,
        references: prepared.references,
        snapshot_time: opts.admitted.snapshot_time,
        mode: opts.mode,
        execute: opts.execute,
        batch_size: config.apply.batch_size.clamp(1, 100) as usize,
        exclude_tag: config.exclude_tag(),
        opt_in_tag: config.opt_in_tag(),
        journal: prepared.journal,
        lease: prepared.lease,
        progress: opts.progress.clone(),
    })
}

/// The replication rules of every registry × region an item lives in, read once each.
async fn read_replication(
    pending: &[&Item],
    sessions: &HashMap<String, Result<AccountSession, Failure>>,
    caller: &Caller,
) -> HashMap<(String, String), Result<Vec<ReplicationRule>, Failure>> {
    let mut places: Vec<(String, String)> = pending
        .iter()
        .map(|i| (i.account_id.clone(), i.region.clone()))
        .collect();
    places.sort();
    places.dedup();
    futures::future::join_all(places.into_iter().map(|(account, region)| async move {
        let rules = match sessions.get(&account) {
            Some(Ok(session)) => {
                let stats = CallStats::default();
                replication_rules(caller, &account, &region, &stats, &session.ecr(&region)).await
            }
            Some(Err(f)) => Err(f.clone()),
            None => Err(Failure::other("no session for the account")),
        };
        ((account, region), rules)
    }))
    .await
    .into_iter()
    .collect()
}

fn summarize(
    opts: &RunOptions<'_>,
    history: &History,
    now: &HashMap<String, Decision>,
    caller: &Caller,
    journal: &(Option<String>, Option<String>),
) -> Summary {
    let archive = opts.mode == Mode::Archive;
    let latest = history.latest(archive);
    let manifest = &opts.admitted.manifest;
    let mut s = Summary {
        manifest_id: opts.admitted.manifest_id.clone(),
        mode: Some(opts.mode),
        dry_run: !opts.execute,
        items: manifest.items.len() as u64,
        planned_items: manifest.header.totals.images,
        api_calls: caller.totals().calls(),
        throttles: caller.totals().throttles(),
        journal: journal.0.clone(),
        journal_store: journal.1.clone(),
        ..Summary::default()
    };
    for item in &manifest.items {
        let prior = latest.get(item.item_id.as_str());
        let (event, reason, code) = match (prior, now.get(&item.item_id)) {
            (Some(p), _) if p.event.is_done(archive) => {
                s.done_before += 1;
                (p.event, p.reason.clone(), p.code.clone())
            }
            (_, Some(d)) => {
                s.decided_now += 1;
                (d.event, d.reason.clone(), d.code.clone())
            }
            (Some(p), None) => (p.event, p.reason.clone(), p.code.clone()),
            (None, None) => continue,
        };
        *s.by_event.entry(event.name()).or_default() += 1;
        match event {
            Event::Deleted | Event::Archived => s.bytes += item.image_size_bytes.max(0) as u64,
            Event::Skipped => {
                *s.skipped_by_reason
                    .entry(reason.unwrap_or_else(|| "unknown".into()))
                    .or_default() += 1
            }
            Event::Failed => {
                let code = code.unwrap_or_else(|| "unknown".into());
                *s.failed_by_code.entry(code).or_default() += 1
            }
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_alternate_between_accounts_and_regions() {
        let key = |a: &str, r: &str, n: &str| (a.to_owned(), r.to_owned(), n.to_owned());
        let groups: BTreeMap<RepoKey, u32> = [
            (key("1", "eu", "a"), 1),
            (key("1", "eu", "b"), 2),
            (key("1", "eu", "c"), 3),
            (key("1", "us", "a"), 4),
            (key("2", "eu", "a"), 5),
            (key("2", "eu", "b"), 6),
        ]
        .into_iter()
        .collect();
        let order: Vec<u32> = interleave(groups).into_iter().map(|(_, v)| v).collect();
        assert_eq!(order, vec![1, 4, 5, 2, 6, 3]);
    }
}
