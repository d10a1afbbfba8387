//! Lifecycle advice: per repository, the ECR lifecycle policy that the observed usage
//! supports, and everything needed to apply it safely.
//!
//! ECR lifecycle rules see only push dates, tags and counts; ecrgc sees what uses an image.
//! This crate turns the second into the first, and never the other way round:
//!
//! * [`policy`]: the ECR lifecycle policy document (`rules[]` with `rulePriority`,
//!   `selection`, `action`), validated the way ECR validates it, with a canonical text and
//!   its hash (so "the policy this replaces" can be compared across reformatting).
//! * [`simulate`]: ECR's evaluation, done on a list of images: rules in priority order, an
//!   image matched by a rule's tag selection is considered by that rule only,
//!   `imageCountMoreThan` keeps the newest N by push time, `sinceImagePushed` expires what is
//!   older than N days. Used on the snapshot by `lifecycle suggest` and on live
//!   DescribeImages by the executor.
//! * [`derive`]: from one repository's images and the plan's guards, the policy: an
//!   untagged-age rule and "keep the newest K" rules per tag prefix, each checked against
//!   the snapshot so that no rule expires, today, an image a guard protects or a child whose
//!   parent stays.
//! * [`plan`]: the lifecycle plan file (`lifecycle-plan.json`) and the record the store
//!   keeps of it, with the same admission rules as the deletion manifest.
//! * [`render`]: the text `lifecycle suggest` prints.

pub mod derive;
pub mod plan;
pub mod policy;
pub mod render;
pub mod simulate;

pub use derive::{DeriveSettings, ImageFacts, RepoFacts, Suggestion, derive};
pub use plan::{LifecycleHeader, LifecycleItem, LifecyclePlan};
pub use policy::{LifecyclePolicy, PolicyRule};
pub use simulate::{Evaluation, SimImage, simulate};

/// Errors of lifecycle policies and plans.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A policy document ECR would refuse (or one the simulator cannot evaluate).
    #[error("{origin}: {field}: {reason}")]
    InvalidPolicy {
        /// Where the policy came from (a file, a repository).
        origin: String,
        /// The JSON path of the offending field, e.g. `rules[0].selection.countUnit`.
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// Not JSON, or not a lifecycle plan.
    #[error("{path}: not a valid lifecycle plan: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parser error.
        #[source]
        source: serde_json::Error,
    },
    /// A plan format version this build does not know.
    #[error(
        "{path}: lifecycle_plan_version {found} is not supported (this ecrgc reads {})",
        plan::LIFECYCLE_PLAN_VERSION
    )]
    Version {
        /// The file.
        path: String,
        /// The version found.
        found: u32,
    },
    /// An item whose content does not match its id.
    #[error(
        "{path}: item {index} ({repository}) was altered: its content does not match item_id {item_id}"
    )]
    AlteredItem {
        /// The file.
        path: String,
        /// Position in `items`.
        index: usize,
        /// `account/region/name`.
        repository: String,
        /// The id it claims.
        item_id: String,
    },
    /// The same item twice.
    #[error("{path}: item {index} ({repository}) appears twice")]
    DuplicateItem {
        /// The file.
        path: String,
        /// Position of the second copy.
        index: usize,
        /// `account/region/name`.
        repository: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = LifecycleError> = std::result::Result<T, E>;

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
