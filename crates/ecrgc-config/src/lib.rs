//! The ecrgc configuration file (TOML).
//!
//! This crate owns the configuration contract: every key, its default and its validation.
//! Unknown keys are errors, so a typo never silently turns a safety setting off. Every
//! number has a range (each field's documentation names it); a value outside it is refused
//! rather than clamped, since `unused_days = 999999999` meant as "never" would otherwise
//! reach date arithmetic. Every error names the file, the key and the offending value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Default local store when neither the command line nor the config names one.
pub const DEFAULT_STORE: &str = "./ecrgc-data";

/// Errors reading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line, key and value.
        message: String,
    },
    /// A key has a value outside what ecrgc accepts.
    #[error("invalid config file {path}: `{key}` = {value:?}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted key, e.g. `rules.unused_days`.
        key: String,
        /// The value as written.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Store URL or local path.
    pub store: Option<String>,
    /// Which accounts and regions are in scope.
    #[serde(default)]
    pub org: OrgConfig,
    /// Which sources are collected.
    #[serde(default)]
    pub sources: SourcesConfig,
    /// Detection thresholds.
    #[serde(default)]
    pub rules: RulesConfig,
    /// Safety settings.
    #[serde(default)]
    pub safety: SafetyConfig,
    /// How hard `collect` may push the AWS APIs.
    #[serde(default)]
    pub collect: CollectConfig,
    /// How `apply` reaches and paces the AWS APIs.
    #[serde(default)]
    pub apply: ApplyConfig,
    /// Storage prices the savings are computed with.
    #[serde(default)]
    pub pricing: PricingConfig,
    /// What the FinOps report groups by and how far back its trend looks.
    #[serde(default)]
    pub report: ReportConfig,
    /// Margins of `lifecycle suggest`. Left out of the hash while at its defaults, so that
    /// configurations written before it existed keep their hash.
    #[serde(default, skip_serializing_if = "LifecycleConfig::is_default")]
    pub lifecycle: LifecycleConfig,
}

/// `[lifecycle]`: how far `lifecycle suggest` stays from the observed usage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Days added to the age of the oldest kept (or last used) untagged image, 0 to 3650.
    #[serde(default = "default_untagged_margin_days")]
    pub untagged_margin_days: u32,
    /// Images added to the rank of the oldest kept image of a tag prefix, 0 to 10000.
    #[serde(default = "default_count_margin")]
    pub count_margin: u32,
    /// A tag prefix (`ci-`, `pr-`…) needs at least this many images to get a rule, 2 to
    /// 10000.
    #[serde(default = "default_min_prefix_images")]
    pub min_prefix_images: u32,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            untagged_margin_days: default_untagged_margin_days(),
            count_margin: default_count_margin(),
            min_prefix_images: default_min_prefix_images(),
        }
    }
}

impl LifecycleConfig {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn default_untagged_margin_days() -> u32 {
    7
}
fn default_count_margin() -> u32 {
    3
}
fn default_min_prefix_images() -> u32 {
    10
}

/// `[pricing]`: ECR storage prices in USD per GiB-month (AWS bills storage per GB-month,
/// with a GB of 2^30 bytes). The defaults are ECR's list prices; set your own when a
/// contract or a region differs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    /// Standard storage, every region not listed in `regions`; every price is 0 to
    /// [`MAX_PRICE`].
    #[serde(default = "default_storage_price")]
    pub storage_gb_month: f64,
    /// Standard storage by region, e.g. `{ "sa-east-1" = 0.12 }`.
    #[serde(default)]
    pub regions: std::collections::BTreeMap<String, f64>,
    /// Archive storage class, every region.
    #[serde(default = "default_archive_price")]
    pub archive_gb_month: f64,
    /// Days of archive storage charged at least, even when an image is deleted sooner, 0 to
    /// 3650.
    #[serde(default = "default_archive_minimum_days")]
    pub archive_minimum_days: u32,
}

impl Default for PricingConfig {
    fn default() -> Self {
        Self {
            storage_gb_month: default_storage_price(),
            regions: Default::default(),
            archive_gb_month: default_archive_price(),
            archive_minimum_days: default_archive_minimum_days(),
        }
    }
}

impl PricingConfig {
    /// Standard storage price of a region, USD per GiB-month.
    pub fn storage_price(&self, region: &str) -> f64 {
        self.regions
            .get(region)
            .copied()
            .unwrap_or(self.storage_gb_month)
    }
}

fn default_storage_price() -> f64 {
    0.10
}
fn default_archive_price() -> f64 {
    0.01
}
fn default_archive_minimum_days() -> u32 {
    90
}

/// `[report]`: the FinOps report's groupings and trend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Repository tag whose value names the owner (team, cost centre); "" for none.
    #[serde(default = "default_owner_tag")]
    pub owner_tag: String,
    /// Repositories listed in the top-repositories table, 1 to 1000.
    #[serde(default = "default_top_repositories")]
    pub top_repositories: u32,
    /// Days of earlier plans the trend shows, 0 to 3650.
    #[serde(default = "default_trend_days")]
    pub trend_days: u32,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            owner_tag: default_owner_tag(),
            top_repositories: default_top_repositories(),
            trend_days: default_trend_days(),
        }
    }
}

fn default_owner_tag() -> String {
    "team".to_owned()
}
fn default_top_repositories() -> u32 {
    10
}
fn default_trend_days() -> u32 {
    30
}

/// `[apply]`: the executor's role, batching, parallelism and retries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApplyConfig {
    /// Role assumed in every account but the caller's own [default: `org.role_name`]. A
    /// separate deletion role keeps the collector read-only.
    #[serde(default)]
    pub role_name: Option<String>,
    /// Repositories worked on at the same time, 1 to 1024.
    #[serde(default = "default_parallel_repositories")]
    pub parallel_repositories: u32,
    /// Calls in flight per API in one account and region, 1 to 100.
    #[serde(default = "default_apply_api_concurrency")]
    pub api_concurrency: u32,
    /// Per-API overrides of `api_concurrency`, by service or API, each 1 to 100.
    #[serde(default)]
    pub api_concurrency_overrides: std::collections::BTreeMap<String, u32>,
    /// Images re-validated and deleted per batch, 1 to 100 (BatchDeleteImage takes at most
    /// 100).
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// Attempts per API call, the first included, on throttling and transient errors, 1 to
    /// 100.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First backoff after a throttled or failed attempt, in milliseconds, 1 to 600000.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Longest single backoff, in milliseconds, 1 to 600000.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// The live workload references (task definitions, services and their pinned digests,
    /// tasks, Lambda versions and aliases) of an account and region are read again before a
    /// batch when the last reading is older than this many seconds, so a long apply never
    /// deletes on a stale view; 1 to 3600.
    #[serde(default = "default_reference_max_age_seconds")]
    pub reference_max_age_seconds: u64,
    /// Seconds the apply lease of a manifest lasts unless renewed (it is renewed every
    /// third of it while the apply runs): the longest a crashed apply keeps another one
    /// waiting; 10 to 3600. Left out of the configuration hash while it has its default.
    #[serde(
        default = "default_lease_seconds",
        skip_serializing_if = "is_default_lease_seconds"
    )]
    pub lease_seconds: u64,
}

/// The shortest and longest `[apply] lease_seconds` accepted.
pub const LEASE_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 10..=3600;

fn default_lease_seconds() -> u64 {
    120
}
fn is_default_lease_seconds(v: &u64) -> bool {
    *v == default_lease_seconds()
}

impl Default for ApplyConfig {
    fn default() -> Self {
        Self {
            role_name: None,
            parallel_repositories: default_parallel_repositories(),
            api_concurrency: default_apply_api_concurrency(),
            api_concurrency_overrides: Default::default(),
            batch_size: default_batch_size(),
            max_attempts: default_max_attempts(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            reference_max_age_seconds: default_reference_max_age_seconds(),
            lease_seconds: default_lease_seconds(),
        }
    }
}

/// The longest `apply.reference_max_age_seconds`: a view of the workloads older than an hour
/// is not a live check.
pub const MAX_REFERENCE_AGE_SECONDS: u64 = 3600;

fn default_reference_max_age_seconds() -> u64 {
    300
}
fn default_parallel_repositories() -> u32 {
    32
}
fn default_apply_api_concurrency() -> u32 {
    2
}
fn default_batch_size() -> u32 {
    100
}

/// `[collect]`: parallelism and retries of the collectors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CollectConfig {
    /// Account × region × source units read at the same time, 1 to 1024.
    #[serde(default = "default_parallel_units")]
    pub parallel_units: u32,
    /// Calls in flight per API in one account and region (AWS limits are per account,
    /// region and API), 1 to 100.
    #[serde(default = "default_api_concurrency")]
    pub api_concurrency: u32,
    /// Per-API overrides of `api_concurrency`, by service (`ecr`) or API
    /// (`ecr:DescribeImages`), each 1 to 100.
    #[serde(default)]
    pub api_concurrency_overrides: std::collections::BTreeMap<String, u32>,
    /// Attempts per API call, the first included, on throttling and transient errors, 1 to
    /// 100.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First backoff after a throttled or failed attempt, in milliseconds; it doubles with
    /// every attempt (with jitter) up to `max_backoff_ms`; 1 to 600000.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Longest single backoff, in milliseconds, 1 to 600000.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

impl Default for CollectConfig {
    fn default() -> Self {
        Self {
            parallel_units: default_parallel_units(),
            api_concurrency: default_api_concurrency(),
            api_concurrency_overrides: Default::default(),
            max_attempts: default_max_attempts(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

fn default_parallel_units() -> u32 {
    16
}
fn default_api_concurrency() -> u32 {
    4
}
fn default_max_attempts() -> u32 {
    10
}
fn default_initial_backoff_ms() -> u64 {
    200
}
fn default_max_backoff_ms() -> u64 {
    20_000
}

/// `[org]`: accounts, role and regions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// Accounts listed explicitly.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// `organizations` to discover accounts through AWS Organizations.
    pub discover: Option<String>,
    /// Role assumed in every account but the caller's own.
    #[serde(default = "default_role_name")]
    pub role_name: String,
    /// Regions read in every account.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Accounts whose ECR is inventoried; empty means all.
    #[serde(default)]
    pub registry_accounts: Vec<String>,
}

impl Default for OrgConfig {
    fn default() -> Self {
        Self {
            accounts: Vec::new(),
            discover: None,
            role_name: default_role_name(),
            regions: Vec::new(),
            registry_accounts: Vec::new(),
        }
    }
}

fn default_role_name() -> String {
    "ecrgc-collector".into()
}

/// `[sources]`: which usage sources are read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// Inspector2 coverage.
    #[serde(default = "yes")]
    pub inspector: bool,
    /// ECS task definitions, services (their task sets, the digests their current
    /// revisions pin, the revisions of deployments inside the rollback window) and tasks.
    /// Nothing else sees services (the Config aggregator never does), so `false` makes every
    /// workload account × region an `ecs` `disabled` coverage gap: `plan` then keeps every
    /// image those accounts can pull.
    #[serde(default = "yes")]
    pub ecs: bool,
    /// Lambda image functions.
    #[serde(default = "yes")]
    pub lambda: bool,
    /// AWS Config aggregator holding ECS task definitions of the whole organization.
    pub config_aggregator: Option<AggregatorConfig>,
    /// Layer sizes of every single-platform image (`collect --layers`): one BatchGetImage
    /// per 100 images, each a pull unless the collector role has ECR's pull-time update
    /// exclusion. Off by default; `--layers` / `--no-layers` override it.
    // Left out of the serialized form when off, so configurations written before the key
    // existed keep their hash (plans record it; apply compares it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub layers: bool,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            inspector: true,
            ecs: true,
            lambda: true,
            config_aggregator: None,
            layers: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// Where the Config aggregator lives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AggregatorConfig {
    /// Account holding the aggregator.
    pub account: String,
    /// Region of the aggregator.
    pub region: String,
    /// Aggregator name.
    pub name: String,
}

/// `[rules]`: thresholds the rules read through the `params` table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// An image unused for this many days is a candidate, 1 to 3650 ([`UNUSED_DAYS_RANGE`]).
    #[serde(default = "default_unused_days")]
    pub unused_days: u32,
    /// Task definitions deregistered less than this many hours ago still protect their
    /// images, 0 to 8760.
    #[serde(default = "default_rollback_window_hours")]
    pub rollback_window_hours: u32,
    /// Newest N images per repository are always kept, 0 to 10000.
    #[serde(default)]
    pub keep_newest: u32,
    /// Images pushed less than this many days ago are never candidates, 0 to 3650.
    #[serde(default = "default_min_age_days")]
    pub min_age_days: u32,
    /// An ECR pull within this many days keeps an image (and the `not_pulled` rule flags
    /// images without one), 1 to 3650.
    #[serde(default = "default_unused_days")]
    pub recent_pull_days: u32,
    /// An image is unused only if it was unused in every committed run of this many days,
    /// 0 to 3650.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    /// Rules that are off by default to switch on, e.g. `["not_pulled"]`.
    #[serde(default)]
    pub enable: Vec<String>,
    /// Rules to switch off. Guards cannot be switched off.
    #[serde(default)]
    pub disable: Vec<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            unused_days: default_unused_days(),
            rollback_window_hours: default_rollback_window_hours(),
            keep_newest: 0,
            min_age_days: default_min_age_days(),
            recent_pull_days: default_unused_days(),
            history_days: default_history_days(),
            enable: Vec::new(),
            disable: Vec::new(),
        }
    }
}

fn default_unused_days() -> u32 {
    90
}
fn default_rollback_window_hours() -> u32 {
    24
}
fn default_min_age_days() -> u32 {
    14
}
fn default_history_days() -> u32 {
    14
}

/// `[safety]`: what may never be touched and what may enter a manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    /// `key=value`, or `key` alone for any value: repositories with this tag are left out
    /// entirely.
    #[serde(default = "default_exclude_tag")]
    pub exclude_tag: String,
    /// `key=value`, or `key` alone for any value: only repositories with this tag may enter a
    /// manifest; empty for all.
    #[serde(default = "default_opt_in_tag")]
    pub opt_in_tag: String,
    /// Hours a manifest stays valid after it is written, 1 to 720.
    #[serde(default = "default_manifest_ttl_hours")]
    pub manifest_ttl_hours: u32,
    /// Approvals (`ecrgc approve`) a plan needs before `apply --yes` acts on it, 0 (none) to
    /// 20.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub approvals_required: u32,
    /// Whether an approval by the planner's own principal does not count.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub approver_must_differ: bool,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            exclude_tag: default_exclude_tag(),
            opt_in_tag: default_opt_in_tag(),
            manifest_ttl_hours: default_manifest_ttl_hours(),
            approvals_required: 0,
            approver_must_differ: true,
        }
    }
}

// The two approval keys stay out of the serialized form (and the hash) at their defaults,
// so that configurations written before they existed keep their hash.
fn is_zero(n: &u32) -> bool {
    *n == 0
}
fn is_true(b: &bool) -> bool {
    *b
}

fn default_exclude_tag() -> String {
    "unusd=true".into()
}
fn default_opt_in_tag() -> String {
    "ecrgc:auto-delete=true".into()
}
fn default_manifest_ttl_hours() -> u32 {
    72
}

/// A repository tag selector: `key=value` matches that value, `key` alone matches the key
/// with any value (`key=` matches the empty value only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSelector {
    /// Tag key.
    pub key: String,
    /// Tag value; `None` for any value.
    pub value: Option<String>,
}

impl TagSelector {
    /// Parses `key=value` or `key`; `None` when the key is empty.
    pub fn parse(s: &str) -> Option<Self> {
        let (key, value) = match s.split_once('=') {
            Some((k, v)) => (k, Some(v.trim().to_owned())),
            None => (s, None),
        };
        let key = key.trim();
        if key.is_empty() {
            return None;
        }
        Some(Self {
            key: key.to_owned(),
            value,
        })
    }

    /// Whether a repository tag `key` = `value` is selected.
    pub fn matches(&self, key: &str, value: &str) -> bool {
        self.key == key && self.value.as_deref().is_none_or(|v| v == value)
    }
}

impl std::fmt::Display for TagSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}", self.key),
            None => write!(f, "{} (any value)", self.key),
        }
    }
}

/// The highest price accepted, USD per GiB-month (ECR lists 0.10): a higher one is a typo
/// (cents for dollars) that would inflate every saving.
pub const MAX_PRICE: f64 = 100.0;
/// `rules.unused_days` and `rules.recent_pull_days`: a day to ten years. To never flag an
/// image for want of use, disable the rules that read it (`stale`, `never_used`,
/// `untagged_fallback`) instead.
pub const UNUSED_DAYS_RANGE: std::ops::RangeInclusive<u64> = 1..=3650;
/// Other day counts (`min_age_days`, `history_days`, margins, `archive_minimum_days`,
/// `trend_days`): none to ten years.
pub const DAYS_RANGE: std::ops::RangeInclusive<u64> = 0..=3650;
/// `rules.rollback_window_hours`: none to a year.
pub const ROLLBACK_WINDOW_HOURS_RANGE: std::ops::RangeInclusive<u64> = 0..=8760;
/// `rules.keep_newest` and `lifecycle.count_margin`.
pub const KEEP_NEWEST_RANGE: std::ops::RangeInclusive<u64> = 0..=10_000;
/// `safety.manifest_ttl_hours`: an hour to 30 days; a manifest older than that describes
/// registries that have moved on.
pub const MANIFEST_TTL_HOURS_RANGE: std::ops::RangeInclusive<u64> = 1..=720;
/// `safety.approvals_required`.
pub const APPROVALS_REQUIRED_RANGE: std::ops::RangeInclusive<u64> = 0..=20;
/// `collect.parallel_units` and `apply.parallel_repositories`.
pub const PARALLELISM_RANGE: std::ops::RangeInclusive<u64> = 1..=1024;
/// `api_concurrency` and its overrides: AWS limits are a few calls per second per API.
pub const API_CONCURRENCY_RANGE: std::ops::RangeInclusive<u64> = 1..=100;
/// `max_attempts`, the first attempt included.
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u64> = 1..=100;
/// `initial_backoff_ms` and `max_backoff_ms`: a millisecond to ten minutes.
pub const BACKOFF_MS_RANGE: std::ops::RangeInclusive<u64> = 1..=600_000;
/// `apply.batch_size`: BatchDeleteImage takes at most 100 image ids.
pub const BATCH_SIZE_RANGE: std::ops::RangeInclusive<u64> = 1..=100;
/// `lifecycle.min_prefix_images`.
pub const MIN_PREFIX_IMAGES_RANGE: std::ops::RangeInclusive<u64> = 2..=10_000;
/// `report.top_repositories`.
pub const TOP_REPOSITORIES_RANGE: std::ops::RangeInclusive<u64> = 1..=1000;

/// An integer key, its value and the values it accepts.
struct Bound {
    key: String,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
    unit: &'static str,
    reason: Option<String>,
}

impl Bound {
    fn new(
        key: &str,
        value: impl Into<u64>,
        range: std::ops::RangeInclusive<u64>,
        unit: &'static str,
    ) -> Self {
        Self {
            key: key.to_owned(),
            value: value.into(),
            range,
            unit,
            reason: None,
        }
    }

    /// A reason of its own; it must name the range.
    fn because(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    fn reason(&self) -> String {
        self.reason.clone().unwrap_or_else(|| {
            format!(
                "out of range: {} to {} {}",
                self.range.start(),
                self.range.end(),
                self.unit
            )
        })
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates config text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks values the TOML types cannot express.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: &str, reason: &str| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        for (key, list) in [
            ("org.accounts", &self.org.accounts),
            ("org.registry_accounts", &self.org.registry_accounts),
        ] {
            for a in list {
                if !is_account_id(a) {
                    return Err(invalid(key, a, "an account id is 12 digits"));
                }
            }
        }
        // A registry whose own account's workloads are not read would be judged without the
        // workloads most likely to run its images. With discovery the accounts are known
        // only to `collect`, which checks the same after listing the organization.
        if self.org.discover.is_none()
            && !self.org.accounts.is_empty()
            && let Some(a) = self
                .org
                .registry_accounts
                .iter()
                .find(|a| !self.org.accounts.contains(a))
        {
            return Err(invalid(
                "org.registry_accounts",
                a,
                "not among org.accounts: every registry account must also be collected as a \
                 workload account",
            ));
        }
        if let Some(d) = &self.org.discover
            && d != "organizations"
        {
            return Err(invalid(
                "org.discover",
                d,
                "the only discovery is \"organizations\"",
            ));
        }
        for r in &self.org.regions {
            if !is_region(r) {
                return Err(invalid(
                    "org.regions",
                    r,
                    "not a region name like eu-west-1",
                ));
            }
        }
        if let Some(agg) = &self.sources.config_aggregator {
            if !is_account_id(&agg.account) {
                return Err(invalid(
                    "sources.config_aggregator.account",
                    &agg.account,
                    "an account id is 12 digits",
                ));
            }
            if !is_region(&agg.region) {
                return Err(invalid(
                    "sources.config_aggregator.region",
                    &agg.region,
                    "not a region name like eu-west-1",
                ));
            }
        }
        for id in &self.rules.enable {
            if self.rules.disable.contains(id) {
                return Err(invalid("rules.enable", id, "also listed in rules.disable"));
            }
        }
        if TagSelector::parse(&self.safety.exclude_tag).is_none() {
            return Err(invalid(
                "safety.exclude_tag",
                &self.safety.exclude_tag,
                "expected key=value, or key alone for any value",
            ));
        }
        if !self.safety.opt_in_tag.is_empty()
            && TagSelector::parse(&self.safety.opt_in_tag).is_none()
        {
            return Err(invalid(
                "safety.opt_in_tag",
                &self.safety.opt_in_tag,
                "expected key=value, key alone for any value, or \"\" to let every repository in",
            ));
        }
        for bound in self.numeric_bounds() {
            if !bound.range.contains(&bound.value) {
                return Err(invalid(
                    &bound.key,
                    &bound.value.to_string(),
                    &bound.reason(),
                ));
            }
        }
        let prices = std::iter::once((
            "pricing.storage_gb_month".to_owned(),
            self.pricing.storage_gb_month,
        ))
        .chain(std::iter::once((
            "pricing.archive_gb_month".to_owned(),
            self.pricing.archive_gb_month,
        )))
        .chain(
            self.pricing
                .regions
                .iter()
                .map(|(r, p)| (format!("pricing.regions.{r}"), *p)),
        );
        for (key, price) in prices {
            if !price.is_finite() || !(0.0..=MAX_PRICE).contains(&price) {
                return Err(invalid(
                    &key,
                    &price.to_string(),
                    &format!("a price is a number of USD from 0 to {MAX_PRICE}"),
                ));
            }
        }
        for r in self.pricing.regions.keys() {
            if !is_region(r) {
                return Err(invalid(
                    "pricing.regions",
                    r,
                    "not a region name like eu-west-1",
                ));
            }
        }
        if self.apply.role_name.as_deref() == Some("") {
            return Err(invalid(
                "apply.role_name",
                "",
                "name a role, or leave the key out",
            ));
        }
        Ok(())
    }

    /// Every integer key with its value and accepted range, in the order they are checked.
    fn numeric_bounds(&self) -> Vec<Bound> {
        let (r, s, c, a, l, p, t) = (
            &self.rules,
            &self.safety,
            &self.collect,
            &self.apply,
            &self.lifecycle,
            &self.pricing,
            &self.report,
        );
        let mut out = vec![
            Bound::new(
                "rules.unused_days",
                r.unused_days,
                UNUSED_DAYS_RANGE,
                "days",
            ),
            Bound::new(
                "rules.rollback_window_hours",
                r.rollback_window_hours,
                ROLLBACK_WINDOW_HOURS_RANGE,
                "hours",
            ),
            Bound::new(
                "rules.keep_newest",
                r.keep_newest,
                KEEP_NEWEST_RANGE,
                "images",
            ),
            Bound::new("rules.min_age_days", r.min_age_days, DAYS_RANGE, "days"),
            Bound::new(
                "rules.recent_pull_days",
                r.recent_pull_days,
                UNUSED_DAYS_RANGE,
                "days",
            ),
            Bound::new("rules.history_days", r.history_days, DAYS_RANGE, "days"),
            Bound::new(
                "safety.manifest_ttl_hours",
                s.manifest_ttl_hours,
                MANIFEST_TTL_HOURS_RANGE,
                "hours",
            ),
            Bound::new(
                "safety.approvals_required",
                s.approvals_required,
                APPROVALS_REQUIRED_RANGE,
                "approvals",
            ),
            Bound::new(
                "collect.parallel_units",
                c.parallel_units,
                PARALLELISM_RANGE,
                "units",
            ),
            Bound::new(
                "collect.api_concurrency",
                c.api_concurrency,
                API_CONCURRENCY_RANGE,
                "calls",
            ),
            Bound::new(
                "collect.max_attempts",
                c.max_attempts,
                MAX_ATTEMPTS_RANGE,
                "attempts",
            ),
            Bound::new(
                "collect.initial_backoff_ms",
                c.initial_backoff_ms,
                BACKOFF_MS_RANGE,
                "ms",
            ),
            Bound::new(
                "collect.max_backoff_ms",
                c.max_backoff_ms,
                BACKOFF_MS_RANGE,
                "ms",
            ),
            Bound::new(
                "apply.parallel_repositories",
                a.parallel_repositories,
                PARALLELISM_RANGE,
                "repositories",
            ),
            Bound::new(
                "apply.api_concurrency",
                a.api_concurrency,
                API_CONCURRENCY_RANGE,
                "calls",
            ),
            Bound::new("apply.batch_size", a.batch_size, BATCH_SIZE_RANGE, "images")
                .because("BatchDeleteImage takes 1 to 100 images a call"),
            Bound::new(
                "apply.max_attempts",
                a.max_attempts,
                MAX_ATTEMPTS_RANGE,
                "attempts",
            ),
            Bound::new(
                "apply.initial_backoff_ms",
                a.initial_backoff_ms,
                BACKOFF_MS_RANGE,
                "ms",
            ),
            Bound::new(
                "apply.max_backoff_ms",
                a.max_backoff_ms,
                BACKOFF_MS_RANGE,
                "ms",
            ),
            Bound::new(
                "apply.reference_max_age_seconds",
                a.reference_max_age_seconds,
                1..=MAX_REFERENCE_AGE_SECONDS,
                "seconds",
            )
            .because("the live references are re-read after 1 to 3600 seconds"),
            Bound::new(
                "apply.lease_seconds",
                a.lease_seconds,
                LEASE_SECONDS_RANGE,
                "seconds",
            )
            .because(&format!(
                "a lease lasts {} to {} seconds",
                LEASE_SECONDS_RANGE.start(),
                LEASE_SECONDS_RANGE.end()
            )),
            Bound::new(
                "lifecycle.untagged_margin_days",
                l.untagged_margin_days,
                DAYS_RANGE,
                "days",
            ),
            Bound::new(
                "lifecycle.count_margin",
                l.count_margin,
                KEEP_NEWEST_RANGE,
                "images",
            ),
            Bound::new(
                "lifecycle.min_prefix_images",
                l.min_prefix_images,
                MIN_PREFIX_IMAGES_RANGE,
                "images",
            ),
            Bound::new(
                "pricing.archive_minimum_days",
                p.archive_minimum_days,
                DAYS_RANGE,
                "days",
            ),
            Bound::new(
                "report.top_repositories",
                t.top_repositories,
                TOP_REPOSITORIES_RANGE,
                "repositories",
            ),
            Bound::new("report.trend_days", t.trend_days, DAYS_RANGE, "days"),
        ];
        for (section, overrides) in [
            ("collect", &c.api_concurrency_overrides),
            ("apply", &a.api_concurrency_overrides),
        ] {
            for (api, value) in overrides {
                out.push(Bound::new(
                    &format!("{section}.api_concurrency_overrides.{api}"),
                    *value,
                    API_CONCURRENCY_RANGE,
                    "calls",
                ));
            }
        }
        out
    }

    /// The exclude tag as a selector.
    pub fn exclude_tag(&self) -> TagSelector {
        TagSelector::parse(&self.safety.exclude_tag).unwrap_or(TagSelector {
            key: "unusd".into(),
            value: Some("true".into()),
        })
    }

    /// The opt-in tag, or `None` when every repository may enter a manifest.
    pub fn opt_in_tag(&self) -> Option<TagSelector> {
        TagSelector::parse(&self.safety.opt_in_tag)
    }

    /// The store to use: the command line's, else the file's, else [`DEFAULT_STORE`].
    pub fn store_location(&self, flag: Option<&str>) -> String {
        flag.or(self.store.as_deref())
            .unwrap_or(DEFAULT_STORE)
            .to_owned()
    }

    /// The role `apply` assumes.
    pub fn apply_role(&self) -> &str {
        self.apply
            .role_name
            .as_deref()
            .unwrap_or(&self.org.role_name)
    }

    /// The settings a plan is bound to, by `section.key`: every setting that changes which
    /// images are read, flagged or kept, or what apply re-checks live (`org`, `sources`,
    /// `rules`, `lifecycle`, and the exclude and opt-in tags). Prices, report layout,
    /// parallelism and retries, the manifest lifetime and the approval policy (read when
    /// applying) are left out: they change no decision about an image.
    pub fn bound_settings(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut out = std::collections::BTreeMap::new();
        let sections = [
            ("org", serde_json::to_value(&self.org)),
            ("sources", serde_json::to_value(&self.sources)),
            ("rules", serde_json::to_value(&self.rules)),
            ("lifecycle", serde_json::to_value(&self.lifecycle)),
        ];
        for (section, value) in sections {
            if let Ok(serde_json::Value::Object(map)) = value {
                for (key, v) in map {
                    out.insert(format!("{section}.{key}"), v);
                }
            }
        }
        out.insert(
            "safety.exclude_tag".into(),
            serde_json::Value::String(self.safety.exclude_tag.clone()),
        );
        out.insert(
            "safety.opt_in_tag".into(),
            serde_json::Value::String(self.safety.opt_in_tag.clone()),
        );
        out
    }

    /// SHA-256 of the effective configuration, recorded in runs and manifests.
    pub fn hash(&self) -> String {
        let canonical = serde_json::to_string(self).unwrap_or_default();
        let digest = Sha256::digest(canonical.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("ecrgc.toml"))
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        let c = parse("").expect("empty config is valid");
        assert_eq!(c.rules.unused_days, 90);
        assert_eq!(c.rules.rollback_window_hours, 24);
        assert_eq!(c.safety.exclude_tag, "unusd=true");
        assert_eq!(
            c.opt_in_tag(),
            Some(TagSelector {
                key: "ecrgc:auto-delete".into(),
                value: Some("true".into())
            })
        );
        assert_eq!(c.safety.manifest_ttl_hours, 72);
    }

    #[test]
    fn the_design_example_parses() {
        let c = parse(
            r#"
store = "s3://bucket/prefix"
[org]
accounts = ["111111111111", "222222222222"]
role_name = "ecrgc-collector"
regions = ["eu-west-1", "us-east-1"]
registry_accounts = ["111111111111"]
[sources]
inspector = true
ecs = true
lambda = true
config_aggregator = { account = "111111111111", region = "eu-west-1", name = "org" }
[rules]
unused_days = 90
rollback_window_hours = 24
keep_newest = 0
[safety]
exclude_tag = "unusd=true"
opt_in_tag = "ecrgc:auto-delete=true"
manifest_ttl_hours = 72
"#,
        )
        .expect("design example is valid");
        assert_eq!(c.org.accounts.len(), 2);
        assert_eq!(
            c.sources.config_aggregator.map(|a| a.name),
            Some("org".into())
        );
    }

    #[test]
    fn prices_are_per_region_and_must_be_sensible() {
        let c = parse("[pricing]\nregions = { \"sa-east-1\" = 0.15 }\n[report]\nowner_tag = \"cost-center\"\n")
            .expect("valid");
        assert_eq!(c.pricing.storage_price("sa-east-1"), 0.15);
        assert_eq!(c.pricing.storage_price("eu-west-1"), 0.10);
        assert_eq!(c.pricing.archive_minimum_days, 90);
        assert_eq!(c.report.owner_tag, "cost-center");
        let e = parse("[pricing]\nstorage_gb_month = -1.0\n").expect_err("negative");
        assert_eq!(
            e.to_string(),
            "invalid config file ecrgc.toml: `pricing.storage_gb_month` = \"-1\": a price is a \
             number of USD from 0 to 100"
        );
        let e = parse("[pricing]\nregions = { \"moon-1\" = 0.1 }\n").expect_err("region");
        assert!(
            e.to_string().contains("`pricing.regions` = \"moon-1\""),
            "{e}"
        );
    }

    #[test]
    fn errors_name_file_key_and_value() {
        let e = parse("[org]\naccounts = [\"12345\"]\n").expect_err("short account id");
        let msg = e.to_string();
        assert!(
            msg.contains("ecrgc.toml") && msg.contains("org.accounts") && msg.contains("12345"),
            "{msg}"
        );

        let e = parse("[rules]\nunused_dayz = 3\n").expect_err("unknown key");
        let msg = e.to_string();
        assert!(
            msg.contains("ecrgc.toml") && msg.contains("unused_dayz"),
            "{msg}"
        );

        let e = parse("[rules]\nunused_days = \"ninety\"\n").expect_err("wrong type");
        assert!(e.to_string().contains("ninety"), "{e}");
    }

    #[test]
    fn registry_accounts_must_be_collected_accounts() {
        let e = parse(
            "[org]\naccounts = [\"111111111111\", \"222222222222\"]\n\
             registry_accounts = [\"111111111111\", \"333333333333\"]\n",
        )
        .expect_err("a registry account outside accounts");
        let msg = e.to_string();
        assert!(
            msg.contains("ecrgc.toml")
                && msg.contains("org.registry_accounts")
                && msg.contains("333333333333"),
            "{msg}"
        );
        // Listed among the accounts: fine.
        parse(
            "[org]\naccounts = [\"111111111111\", \"222222222222\"]\n\
             registry_accounts = [\"222222222222\"]\n",
        )
        .expect("registry among accounts");
        // With discovery the organization's accounts are known only to `collect`.
        parse(
            "[org]\ndiscover = \"organizations\"\naccounts = [\"111111111111\"]\n\
             registry_accounts = [\"333333333333\"]\n",
        )
        .expect("checked after discovery");
    }

    #[test]
    fn layers_are_off_unless_asked_for() {
        assert!(!parse("").expect("valid").sources.layers);
        let c = parse("[sources]\nlayers = true\n").expect("valid");
        assert!(c.sources.layers);
        assert_ne!(c.hash(), parse("").expect("valid").hash());
        assert_eq!(
            parse("[sources]\nlayers = false\n").expect("valid").hash(),
            parse("").expect("valid").hash(),
            "an explicit default keeps the hash"
        );
    }

    #[test]
    fn bound_settings_hold_what_decides_and_nothing_else() {
        let a = parse("").expect("valid");
        let bound = a.bound_settings();
        for key in [
            "org.accounts",
            "org.regions",
            "sources.inspector",
            "rules.unused_days",
            "rules.history_days",
            "lifecycle.count_margin",
            "safety.exclude_tag",
            "safety.opt_in_tag",
        ] {
            assert!(bound.contains_key(key), "{key} missing from {bound:?}");
        }
        assert!(!bound.keys().any(|k| k.starts_with("pricing.")
            || k.starts_with("report.")
            || k.starts_with("apply.")
            || k.starts_with("collect.")));
        let b = parse("[rules]\nunused_days = 30\n[pricing]\nstorage_gb_month = 0.2\n[apply]\nbatch_size = 10\n[safety]\napprovals_required = 2\n")
            .expect("valid");
        let changed: Vec<&String> = bound
            .iter()
            .filter(|(k, v)| b.bound_settings().get(*k) != Some(*v))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(changed, vec!["rules.unused_days"]);
        assert_eq!(b.safety.approvals_required, 2);
        assert!(b.safety.approver_must_differ);
    }

    #[test]
    fn the_reference_age_defaults_to_five_minutes_and_is_bounded() {
        assert_eq!(
            parse("").expect("valid").apply.reference_max_age_seconds,
            300
        );
        let c = parse("[apply]\nreference_max_age_seconds = 60\n").expect("valid");
        assert_eq!(c.apply.reference_max_age_seconds, 60);
        for bad in ["0", "3601"] {
            let e = parse(&format!("[apply]\nreference_max_age_seconds = {bad}\n"))
                .expect_err("out of range");
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid config file ecrgc.toml: `apply.reference_max_age_seconds` = \
                     \"{bad}\": the live references are re-read after 1 to 3600 seconds"
                )
            );
        }
    }

    #[test]
    fn hash_changes_with_settings() {
        let a = parse("").expect("valid");
        let b = parse("[rules]\nunused_days = 30\n").expect("valid");
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash(), parse("").expect("valid").hash());
    }

    #[test]
    fn the_apply_lease_lasts_two_minutes_unless_configured() {
        assert_eq!(parse("").expect("valid").apply.lease_seconds, 120);
        assert_eq!(
            parse("[apply]\nlease_seconds = 120\n")
                .expect("valid")
                .hash(),
            parse("").expect("valid").hash(),
            "the default lease keeps the hash of every configuration written before it"
        );
        let c = parse("[apply]\nlease_seconds = 600\n").expect("valid");
        assert_eq!(c.apply.lease_seconds, 600);
        for bad in ["0", "9", "3601"] {
            let e = parse(&format!("[apply]\nlease_seconds = {bad}\n")).expect_err(bad);
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid config file ecrgc.toml: `apply.lease_seconds` = \"{bad}\": a lease \
                     lasts 10 to 3600 seconds"
                )
            );
        }
    }

    #[test]
    fn numbers_outside_their_range_are_refused_naming_key_value_and_range() {
        for (text, key, value, range) in [
            (
                "[rules]\nunused_days = 999999999\n",
                "rules.unused_days",
                "999999999",
                "1 to 3650 days",
            ),
            (
                "[rules]\nunused_days = 0\n",
                "rules.unused_days",
                "0",
                "1 to 3650 days",
            ),
            (
                "[safety]\nmanifest_ttl_hours = 100000000\n",
                "safety.manifest_ttl_hours",
                "100000000",
                "1 to 720 hours",
            ),
            (
                "[safety]\nmanifest_ttl_hours = 721\n",
                "safety.manifest_ttl_hours",
                "721",
                "1 to 720 hours",
            ),
            (
                "[rules]\nrollback_window_hours = 8761\n",
                "rules.rollback_window_hours",
                "8761",
                "0 to 8760 hours",
            ),
            (
                "[rules]\nhistory_days = 4000\n",
                "rules.history_days",
                "4000",
                "0 to 3650 days",
            ),
            (
                "[collect]\nmax_attempts = 0\n",
                "collect.max_attempts",
                "0",
                "1 to 100 attempts",
            ),
            (
                "[collect]\napi_concurrency_overrides = { ecr = 500 }\n",
                "collect.api_concurrency_overrides.ecr",
                "500",
                "1 to 100 calls",
            ),
            (
                "[apply]\nmax_backoff_ms = 3600000\n",
                "apply.max_backoff_ms",
                "3600000",
                "1 to 600000 ms",
            ),
            (
                "[report]\ntop_repositories = 0\n",
                "report.top_repositories",
                "0",
                "1 to 1000 repositories",
            ),
            (
                "[lifecycle]\nmin_prefix_images = 1\n",
                "lifecycle.min_prefix_images",
                "1",
                "2 to 10000 images",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid config file ecrgc.toml: `{key}` = {value:?}: out of range: {range}"
                ),
                "{text}"
            );
        }
        let e = parse("[pricing]\nstorage_gb_month = 1e300\n").expect_err("absurd price");
        assert!(e.to_string().contains("from 0 to 100"), "{e}");
    }

    #[test]
    fn every_bound_holds_its_default_and_its_ends() {
        let c = Config::default();
        for b in c.numeric_bounds() {
            assert!(b.range.contains(&b.value), "{} default {}", b.key, b.value);
        }
        parse("[rules]\nunused_days = 3650\nrollback_window_hours = 0\n[safety]\nmanifest_ttl_hours = 720\n")
            .expect("the ends of a range are accepted");
    }

    #[test]
    fn a_tag_key_alone_selects_any_value() {
        let any = TagSelector::parse("do-not-delete").expect("key alone");
        assert_eq!(any.value, None);
        assert!(any.matches("do-not-delete", "yes") && any.matches("do-not-delete", ""));
        assert!(!any.matches("other", "yes"));
        let empty = TagSelector::parse("do-not-delete=").expect("empty value");
        assert!(empty.matches("do-not-delete", "") && !empty.matches("do-not-delete", "yes"));
        let exact = TagSelector::parse(" team = platform ").expect("key=value");
        assert!(exact.matches("team", "platform") && !exact.matches("team", "other"));
        assert_eq!(TagSelector::parse("=x"), None);
        let c = parse("[safety]\nexclude_tag = \"keep\"\nopt_in_tag = \"owner\"\n").expect("valid");
        assert_eq!(c.exclude_tag().to_string(), "keep (any value)");
        assert_eq!(c.opt_in_tag().map(|t| t.value), Some(None));
        let e = parse("[safety]\nexclude_tag = \"=true\"\n").expect_err("no key");
        assert!(
            e.to_string().contains("`safety.exclude_tag` = \"=true\""),
            "{e}"
        );
    }
}
