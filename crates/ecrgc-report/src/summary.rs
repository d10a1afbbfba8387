//! The plan summary: what was scanned, what would be deleted, what was kept and why, and
//! which collection failures blocked what.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Image count and bytes.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Images.
    pub images: u64,
    /// Sum of `imageSizeInBytes` over image manifests; an image index counts 0, since its
    /// children are counted as images of their own (ECR reports an index at the size of its
    /// largest child).
    pub bytes: u64,
}

impl Totals {
    /// Adds one image.
    pub fn add(&mut self, bytes: u64) {
        self.images += 1;
        self.bytes += bytes;
    }
}

/// A usage source that was not read completely, and what it blocked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockedSource {
    /// Account read.
    pub account_id: String,
    /// Region read.
    pub region: String,
    /// Source.
    pub source: String,
    /// `denied`, `error` or `disabled`.
    pub status: String,
    /// The error message.
    pub error: Option<String>,
}

/// The thresholds a plan ran with: the `params` row, for the record and for a second
/// engine replaying the same SQL.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlanParams {
    /// The instant planned for, RFC 3339.
    pub now: String,
    /// `params.unused_cutoff`, RFC 3339.
    pub unused_cutoff: String,
    /// `params.rollback_cutoff`, RFC 3339.
    pub rollback_cutoff: String,
    /// `params.young_cutoff`, RFC 3339.
    pub young_cutoff: String,
    /// `params.pull_cutoff`, RFC 3339.
    pub pull_cutoff: String,
    /// `params.unused_days`.
    pub unused_days: i64,
    /// `params.keep_newest`.
    pub keep_newest: i64,
    /// `params.exclude_tag_key`.
    pub exclude_tag_key: String,
    /// `params.exclude_tag_value` (null: the key alone selects, any value).
    pub exclude_tag_value: Option<String>,
    /// `params.opt_in_tag_key` (null: every repository may enter the manifest).
    pub opt_in_tag_key: Option<String>,
    /// `params.opt_in_tag_value` (null with a key: any value).
    pub opt_in_tag_value: Option<String>,
}

/// What was scanned.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Scanned {
    /// Every image of the run.
    pub totals: Totals,
    /// Repositories.
    pub repositories: u64,
    /// Registries (account × region with repositories).
    pub registries: u64,
}

/// The summary of one plan, as written to `summary.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    /// Snapshot run planned.
    pub run_id: String,
    /// The instant the run describes.
    pub snapshot_time: String,
    /// The instant the plan was made for.
    pub now: String,
    /// Store read.
    pub store: String,
    /// Thresholds used.
    pub params: PlanParams,
    /// Committed runs of the history window (`history_*` tables), oldest first; the planned
    /// run is the last.
    pub history_runs: Vec<String>,
    /// Rules that ran.
    pub rules: Vec<String>,
    /// Guards that ran.
    pub guards: Vec<String>,
    /// What the run holds.
    pub scanned: Scanned,
    /// Listed images by status: `delete`, `not_opted_in`, `protected`, `kept_with_parent`.
    pub by_status: BTreeMap<String, Totals>,
    /// Manifest items by primary rule.
    pub delete_by_rule: BTreeMap<String, Totals>,
    /// Manifest items by registry account.
    pub delete_by_account: BTreeMap<String, Totals>,
    /// Manifest items by repository (account/region/repository).
    pub delete_by_repository: BTreeMap<String, Totals>,
    /// Flagged images that were kept, by primary guard.
    pub protected_by_reason: BTreeMap<String, Totals>,
    /// Images a guard `usage_coverage_gap` kept, by the failure that caused it.
    pub blocked_by_failure: BTreeMap<String, Totals>,
    /// Usage sources not read completely in this run.
    pub blocked_sources: Vec<BlockedSource>,
    /// Replicas that delete replication removes along with manifest items, in their own
    /// registries (each also a manifest item of its own when it is in the snapshot).
    #[serde(default)]
    pub replicas_taken_along: Totals,
    /// Who may pull without being collected (the view `scope_gaps`), with the repositories
    /// each makes of unknown use (`usage_coverage_gap`, `out_of_scope`).
    #[serde(default)]
    pub out_of_scope: Vec<OutOfScope>,
    /// Accounts collected in an earlier run of the history window and missing from this
    /// one (left the organization, suspended, dropped from `org.accounts`).
    #[serde(default)]
    pub vanished_accounts: Vec<String>,
    /// Image strings that name an ECR registry but do not parse, per source
    /// (`workload_refs.ref_parse_error`).
    #[serde(default)]
    pub malformed_references: Vec<MalformedReferences>,
    /// Per registry account and region, images whose `last_recorded_pull_time` may be the
    /// collector's own BatchGetImage (read without a pull-time update exclusion; see
    /// [`crate::explain::COLLECTOR_READ_SQL`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collector_pulls: Vec<CollectorPulls>,
    /// Per registry account and region, what Inspector's coverage can vouch for (the view
    /// `inspector_coverage_summary`).
    #[serde(default)]
    pub inspector_coverage: Vec<InspectorCoverage>,
}

/// What Inspector covers in one registry account and region, and its rescan settings: the
/// usage rules (`stale`, `never_used`) judge only images covered `ACTIVE`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct InspectorCoverage {
    /// Registry account.
    pub account_id: String,
    /// Region of the registry.
    pub region: String,
    /// Every image of the registry.
    pub images: u64,
    /// Covered `ACTIVE`: Inspector monitors them.
    pub active: u64,
    /// Covered but not `ACTIVE`: Inspector stopped monitoring them.
    pub inactive: u64,
    /// Of `inactive`, those whose rescan duration lapsed (`SCAN_ELIGIBILITY_EXPIRED`).
    pub expired: u64,
    /// Without a coverage row.
    pub no_coverage: u64,
    /// Status of the run's `inspector` unit there (`ok`, `denied`, …).
    pub inspector_status: Option<String>,
    /// `rescanDuration` (after the push), when read.
    pub rescan_duration: Option<String>,
    /// `pullDateRescanDuration` (after the last use or pull), when read.
    pub pull_date_rescan_duration: Option<String>,
    /// `pullDateRescanMode`, when read.
    pub pull_date_rescan_mode: Option<String>,
    /// The push duration is `LIFETIME`: Inspector monitors every image while it exists.
    pub monitors_for_lifetime: Option<bool>,
}

impl InspectorCoverage {
    /// The rescan settings in one phrase, e.g. `push LIFETIME, DAYS_180 after LAST_IN_USE_AT`.
    pub fn settings(&self) -> String {
        match (&self.rescan_duration, &self.pull_date_rescan_duration) {
            (None, None) => "rescan settings not read".to_owned(),
            (push, pull) => format!(
                "push {}, {} after {}",
                push.as_deref().unwrap_or("?"),
                pull.as_deref().unwrap_or("?"),
                self.pull_date_rescan_mode.as_deref().unwrap_or("?")
            ),
        }
    }
}

/// Images of one registry account and region whose pull time may be the collector's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CollectorPulls {
    /// Registry account.
    pub account_id: String,
    /// Region of the registry.
    pub region: String,
    /// How many images.
    pub images: u64,
}

/// Someone a repository policy lets pull who is outside the collected scope.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutOfScope {
    /// An account id, or a description of a wider grant (`any AWS account (…)`).
    pub who: String,
    /// Repositories of this run it may pull from.
    pub repositories: u64,
}

/// The unparsable references of one source.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MalformedReferences {
    /// `config_aggregator`, `ecs` or `lambda`.
    pub source: String,
    /// How many workload references.
    pub references: u64,
    /// Up to three, as `image (resource): why`.
    pub examples: Vec<String>,
}

impl Summary {
    /// Totals of one status (zero when absent).
    pub fn status(&self, status: &str) -> Totals {
        self.by_status.get(status).copied().unwrap_or_default()
    }
}
