//! The ecrgc configuration file (TOML).
//!
//! This crate owns the configuration contract: every key, its default and its validation.
//! Unknown keys are errors, so a typo never silently turns a safety setting off. Every
//! number has a range (each field's documentation names it); a value outside it is refused
//! rather than clamped, since `unused_days = 999999999` meant as "never" would otherwise
//! reach date arithmetic. Every error names the file, the key and the offending value.

mod engine;
mod file;
mod pacing;
mod pricing;
mod rules;
mod safety;
mod scope;
mod validation;

pub use engine::{EngineConfig, MIN_MEMORY_LIMIT};
pub use file::{Config, ConfigError, DEFAULT_STORE};
pub use pacing::{ApplyConfig, CollectConfig};
pub use pricing::{PricingConfig, ReportConfig};
pub use rules::{LifecycleConfig, RulesConfig};
pub use safety::{SafetyConfig, TagSelector};
pub use scope::{AggregatorConfig, KubernetesConfig, OrgConfig, SourcesConfig};
pub use validation::{
    API_CONCURRENCY_RANGE, APPROVALS_REQUIRED_RANGE, BACKOFF_MS_RANGE, BATCH_SIZE_RANGE,
    DAYS_RANGE, KEEP_NEWEST_RANGE, LEASE_SECONDS_RANGE, MANIFEST_TTL_HOURS_RANGE,
    MAX_ATTEMPTS_RANGE, MAX_PRICE, MAX_REFERENCE_AGE_SECONDS, MIN_PREFIX_IMAGES_RANGE,
    PARALLELISM_RANGE, ROLLBACK_WINDOW_HOURS_RANGE, TOP_REPOSITORIES_RANGE, UNUSED_DAYS_RANGE,
};
