//! One unit of work: one source in one account and region, with its call counters, its
//! builders and the outcome it records in `collection_coverage`.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ecrgc_aws::{CallStats, Caller, Failure};
use ecrgc_model::WorkloadRefRow;
use ecrgc_model::image_ref::parse_image_ref;
use ecrgc_model::time::Micros;

use super::progress::CollectProgress;
use super::sink::{Sink, SinkClosed, Tables};

/// Why a unit stopped early.
#[derive(Debug)]
pub(crate) enum UnitError {
    /// An API call failed for good: recorded in the coverage table, the run goes on.
    Failed(Failure),
    /// The writer is gone: the whole run fails.
    Sink(SinkClosed),
}

impl From<Failure> for UnitError {
    fn from(f: Failure) -> Self {
        Self::Failed(f)
    }
}

/// A listing abandoned by its [`TokenGuard`](ecrgc_aws::pages::TokenGuard) fails the unit
/// like any other failed call: `token = guard.next(page.next_token())?` in a unit's loop.
impl From<ecrgc_aws::pages::PageError> for UnitError {
    fn from(e: ecrgc_aws::pages::PageError) -> Self {
        Self::Failed(e.into())
    }
}

impl From<SinkClosed> for UnitError {
    fn from(s: SinkClosed) -> Self {
        Self::Sink(s)
    }
}

/// What every unit shares with the rest of the run.
#[derive(Clone)]
pub(crate) struct RunContext {
    pub caller: Caller,
    pub sink: Sink,
    pub run_id: Arc<str>,
    pub now: Micros,
    pub progress: Arc<CollectProgress>,
    /// Requests a unit keeps in flight at once (the gates cap each API further).
    pub fan_out: usize,
    /// Manifests already read into the store, so that none is read twice.
    pub prior: Arc<super::prior::Prior>,
}

/// Where a unit's calls go: borrowed by the unit's concurrent requests while the unit's
/// builders are appended to. The executor makes its own to call the shared workload readers
/// ([`super::workloads`]).
pub struct Api {
    /// The shared gates and retries.
    pub caller: Caller,
    /// The account called (for a kubeconfig context or a declared-reference location, what
    /// is read).
    pub account: String,
    /// The region called.
    pub region: String,
    /// This unit's call counters.
    pub stats: CallStats,
}

impl Api {
    /// Calls of `account` and `region` through `caller`, counted afresh.
    pub fn new(caller: Caller, account: &str, region: &str) -> Self {
        Self {
            caller,
            account: account.to_owned(),
            region: region.to_owned(),
            stats: CallStats::default(),
        }
    }

    /// One API call of this unit, through the shared gates and retries.
    pub async fn call<T, E, F, Fut>(&self, api: &str, f: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        self.caller
            .call(&self.account, &self.region, api, &self.stats, f)
            .await
    }
}

/// A unit being collected.
pub(crate) struct Unit {
    pub ctx: RunContext,
    pub api: Api,
    pub source: &'static str,
    pub tables: Tables,
    pub items: u64,
    /// Failures that cost part of the unit but not all of it (a repository skipped).
    pub partial: Vec<Failure>,
    /// Resources that disappeared between two calls (a service deleted mid-run): they run
    /// nothing any more, so the unit stays `ok`; its coverage message counts them.
    pub skipped: Vec<String>,
    /// Outcomes of units read inside this one (ECR layers, the pull-time check).
    pub extra: Vec<Outcome>,
    started: Instant,
}

impl Unit {
    pub(crate) fn new(ctx: &RunContext, account: &str, region: &str, source: &'static str) -> Self {
        Self {
            tables: Tables::new(&ctx.run_id, ctx.now),
            ctx: ctx.clone(),
            api: Api {
                caller: ctx.caller.clone(),
                account: account.to_owned(),
                region: region.to_owned(),
                stats: CallStats::default(),
            },
            source,
            items: 0,
            partial: Vec::new(),
            skipped: Vec::new(),
            extra: Vec::new(),
            started: Instant::now(),
        }
    }

    pub(crate) async fn maybe_flush(&mut self) -> Result<(), SinkClosed> {
        self.tables.maybe_flush(&self.ctx.sink).await
    }

    /// Writes what is left and returns the coverage outcomes: this unit's first, then
    /// those of the units read inside it.
    pub(crate) async fn finish(
        mut self,
        result: Result<(), UnitError>,
    ) -> Result<Vec<Outcome>, SinkClosed> {
        let failure = match result {
            Ok(()) => None,
            Err(UnitError::Sink(s)) => return Err(s),
            Err(UnitError::Failed(f)) => Some(f),
        };
        self.tables.flush(&self.ctx.sink).await?;
        let (status, mut error) = status_of(failure.as_ref(), &self.partial);
        if status != "ok" {
            self.ctx.progress.add_error();
        } else if let Some(first) = self.skipped.first() {
            error = Some(skipped_note(self.skipped.len(), first));
        }
        let mut out = vec![Outcome {
            account_id: self.api.account,
            region: self.api.region,
            source: self.source,
            status,
            error,
            items: self.items as i64,
            api_calls: self.api.stats.calls() as i64,
            throttles: self.api.stats.throttles() as i64,
            duration_ms: self.started.elapsed().as_millis() as i64,
        }];
        out.append(&mut self.extra);
        Ok(out)
    }
}

/// The coverage status and message of a unit that failed with `failure`, or lost `partial`.
fn status_of(failure: Option<&Failure>, partial: &[Failure]) -> (String, Option<String>) {
    match (failure, partial.first()) {
        (Some(f), _) => (f.kind.coverage_status().to_owned(), Some(f.message.clone())),
        (None, Some(p)) => (
            "error".to_owned(),
            Some(format!(
                "{} item(s) skipped; first: {}",
                partial.len(),
                p.message
            )),
        ),
        (None, None) => ("ok".to_owned(), None),
    }
}

/// The coverage message of an `ok` unit that skipped resources deleted while it ran.
pub(crate) fn skipped_note(count: usize, first: &str) -> String {
    format!("{count} resource(s) gone during the run, skipped; first: {first}")
}

/// A unit read inside another one, with its own call counters and its own coverage row:
/// the layers of an ECR unit, which may fail while the inventory succeeds.
pub(crate) struct SideUnit {
    pub api: Api,
    pub source: &'static str,
    pub items: u64,
    /// Items (repositories) whose part was skipped.
    pub partial: Vec<Failure>,
    started: Instant,
}

impl SideUnit {
    pub(crate) fn new(parent: &Unit, source: &'static str) -> Self {
        Self {
            api: Api {
                caller: parent.api.caller.clone(),
                account: parent.api.account.clone(),
                region: parent.api.region.clone(),
                stats: CallStats::default(),
            },
            source,
            items: 0,
            partial: Vec::new(),
            started: Instant::now(),
        }
    }

    /// The coverage row; `failure` when the unit could not run at all (e.g. the inventory
    /// it reads along with failed), else with a status from its own calls.
    pub(crate) fn outcome(self, failure: Option<&Failure>) -> Outcome {
        let (status, error) = status_of(failure, &self.partial);
        self.outcome_as(status, error)
    }

    /// The coverage row with a status decided by the caller.
    pub(crate) fn outcome_as(self, status: String, error: Option<String>) -> Outcome {
        Outcome {
            account_id: self.api.account,
            region: self.api.region,
            source: self.source,
            status,
            error,
            items: self.items as i64,
            api_calls: self.api.stats.calls() as i64,
            throttles: self.api.stats.throttles() as i64,
            duration_ms: self.started.elapsed().as_millis() as i64,
        }
    }
}

/// How one unit ended: its `collection_coverage` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Account read.
    pub account_id: String,
    /// Region read.
    pub region: String,
    /// `ecr`, `inspector`, `config_aggregator`, `ecs`, `lambda`; `ecr_layers` and
    /// `pull_time_exclusion` with `--layers`.
    pub source: &'static str,
    /// `ok`, `denied`, `disabled` or `error`; `not_excluded` for `pull_time_exclusion`.
    pub status: String,
    /// The failure, when not `ok`; for an `ok` unit, a note on the resources that
    /// disappeared while it ran and were skipped.
    pub error: Option<String>,
    /// Rows collected.
    pub items: i64,
    /// API calls made, retries included.
    pub api_calls: i64,
    /// Throttling answers met.
    pub throttles: i64,
    /// Wall time of the unit.
    pub duration_ms: i64,
}

impl Outcome {
    /// A unit that was never attempted: its source is switched off, or its account's role
    /// could not be assumed.
    pub(crate) fn not_read(
        account: &str,
        region: &str,
        source: &'static str,
        status: &str,
        error: &str,
    ) -> Self {
        Self {
            account_id: account.to_owned(),
            region: region.to_owned(),
            source,
            status: status.to_owned(),
            error: Some(error.to_owned()),
            items: 0,
            api_calls: 0,
            throttles: 0,
            duration_ms: 0,
        }
    }
}

/// Microseconds since the epoch of an SDK timestamp.
pub(crate) fn micros(t: &aws_smithy_types::DateTime) -> Micros {
    t.secs() * 1_000_000 + i64::from(t.subsec_nanos() / 1_000)
}

/// A workload reference as a collector reads it.
pub(crate) struct RefRecord<'a> {
    pub kind: &'a str,
    pub resource_arn: &'a str,
    pub status: &'a str,
    pub status_at: Option<Micros>,
    pub container_name: Option<&'a str>,
    pub image_uri: &'a str,
    pub resolved_digest: Option<&'a str>,
}

impl Tables {
    /// Appends a workload reference of `api`'s account and region, with the image string
    /// parsed.
    pub(crate) fn push_ref(&mut self, api: &Api, source: &str, r: RefRecord<'_>) {
        self.push_ref_in(&api.account, &api.region, source, r);
    }

    /// Appends a workload reference of `account` and `region` (the aggregator reads
    /// every account's), with the image string parsed.
    pub(crate) fn push_ref_in(
        &mut self,
        account: &str,
        region: &str,
        source: &str,
        r: RefRecord<'_>,
    ) {
        let parsed = parse_image_ref(r.image_uri);
        self.refs.append(WorkloadRefRow {
            account_id: account,
            region,
            source,
            kind: r.kind,
            resource_arn: r.resource_arn,
            status: r.status,
            status_at: r.status_at,
            container_name: r.container_name,
            image_uri: r.image_uri,
            ref_is_ecr: parsed.is_ecr,
            ref_account_id: parsed.account_id.as_deref(),
            ref_region: parsed.region.as_deref(),
            ref_repository: Some(parsed.repository.as_str()),
            ref_tag: parsed.tag.as_deref(),
            ref_digest: parsed.digest.as_deref(),
            resolved_digest: r.resolved_digest,
            ref_parse_error: parsed.parse_error.as_deref(),
        });
    }
}

/// Follows a list call's continuation token (`nextToken`, `NextMarker`…) through every page;
/// `page` sends one request for a token and returns its items and the next token.
pub(crate) async fn paginate<T, F, Fut, E>(
    api: &Api,
    name: &str,
    page: F,
) -> Result<Vec<T>, Failure>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    api.caller
        .paginate(&api.account, &api.region, name, &api.stats, page)
        .await
}
