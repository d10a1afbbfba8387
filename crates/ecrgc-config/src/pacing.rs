//! `[collect]` and `[apply]`: how hard the collectors and the executor may push the AWS
//! APIs, and how `apply` reaches them.

use serde::{Deserialize, Serialize};

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
