//! The derivation's inputs (a repository's images with the plan's view of them), its
//! thresholds and its result.

use ecrgc_model::time::{DAY, Micros};
use serde::{Deserialize, Serialize};

use crate::policy::LifecyclePolicy;

/// Thresholds of the derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeriveSettings {
    /// The evaluation instant.
    pub now: Micros,
    /// Days added to the oldest kept (or used) untagged image's age.
    pub untagged_margin_days: u32,
    /// Images added to the rank of the oldest kept image of a tag prefix family.
    pub count_margin: u32,
    /// A tag prefix needs at least this many images to get a rule.
    pub min_prefix_images: u32,
    /// The plan's `min_age_days`: the untagged threshold is never below it.
    pub min_age_days: u32,
}

/// One repository of the snapshot.
#[derive(Debug, Clone, Default)]
pub struct RepoFacts {
    /// Registry account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Repository name.
    pub repository_name: String,
    /// The lifecycle policy the collector read, if any.
    pub existing_policy: Option<String>,
    /// Set (to the tag) when the repository carries the exclude tag.
    pub excluded: Option<String>,
    /// Set (to the failure) when a usage source failed for an account that can pull.
    pub coverage_gap: Option<String>,
    /// Whether the repository carries the opt-in tag (or none is configured).
    pub opted_in: bool,
    /// Its images.
    pub images: Vec<ImageFacts>,
}

/// One image with the plan's view of it.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    /// Manifest digest.
    pub digest: String,
    /// Push time, µs.
    pub pushed_at: Micros,
    /// Size ECR reports.
    pub size: i64,
    /// Tags.
    pub tags: Vec<String>,
    /// `imageStatus` ACTIVE.
    pub active: bool,
    /// Digests of the images it follows (its index, the subject it signs).
    pub parents: Vec<String>,
    /// Guards that protect it, in precedence order.
    pub guards: Vec<String>,
    /// The latest use or pull seen (Inspector `lastInUseAt`, `lastRecordedPullTime`,
    /// Inspector `imagePulledAt`), µs.
    pub last_used_at: Option<Micros>,
}

/// Images and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Images.
    pub images: u64,
    /// Sum of their sizes.
    pub bytes: u64,
}

impl Counts {
    pub(super) fn add(&mut self, size: i64) {
        self.images += 1;
        self.bytes += u64::try_from(size).unwrap_or(0);
    }
}

/// What the advice is for one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A policy is suggested.
    Suggested,
    /// The suggested policy is the one in place.
    InPlace,
    /// Usage supports no rule that would expire anything today.
    NoRule,
    /// The repository carries the exclude tag.
    Excluded,
    /// A usage source failed: use is unknown.
    CoverageGap,
}

impl Status {
    /// The name printed and serialized.
    pub fn name(self) -> &'static str {
        match self {
            Self::Suggested => "suggested",
            Self::InPlace => "in_place",
            Self::NoRule => "no_rule",
            Self::Excluded => "excluded",
            Self::CoverageGap => "coverage_gap",
        }
    }
}

/// One suggested rule and why the usage supports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleReport {
    /// The rule's priority in the policy.
    pub rule_priority: u32,
    /// The rule's description.
    pub description: String,
    /// The evidence: what is kept, how old or how far down, the margin.
    pub support: String,
    /// What it expires today.
    pub expires_now: Counts,
    /// For an age rule: when the youngest-crossing kept image reaches the threshold
    /// (RFC 3339); run `lifecycle suggest` again before then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_before: Option<String>,
}

/// The policy in place, evaluated on the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Existing {
    /// The text the collector read.
    pub text: String,
    /// [`policy_sha256`] of it.
    pub sha256: String,
    /// What it expires today (when it could be evaluated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_now: Option<Counts>,
    /// Of those, images ecrgc keeps: a policy in place that already endangers used images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_kept: Option<Counts>,
    /// Why it could not be evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The advice for one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    /// Registry account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Repository name.
    pub repository_name: String,
    /// What the advice is.
    pub status: Status,
    /// Why there is no suggestion, or notes on families left without a rule.
    pub notes: Vec<String>,
    /// Whether the repository is opted in (only those enter a lifecycle plan).
    pub opted_in: bool,
    /// Images in the snapshot (and their bytes).
    pub images: Counts,
    /// Images kept (by a guard, a parent, or a parent that stays).
    pub kept: u64,
    /// The suggested policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<LifecyclePolicy>,
    /// Its canonical hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<String>,
    /// Per rule: the evidence and what it expires now.
    pub rules: Vec<RuleReport>,
    /// What the whole policy expires today.
    pub expires_now: Counts,
    /// The policy in place, if the collector read one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<Existing>,
    /// Digests of the kept images, for the executor's live check.
    #[serde(skip)]
    pub kept_digests: Vec<String>,
}

/// Why an image is kept, for the evidence text.
#[derive(Debug, Clone)]
pub(super) enum Kept {
    Guard(String),
    WithParent,
    ParentStays,
}

impl Kept {
    pub(super) fn label(&self) -> &str {
        match self {
            Self::Guard(g) => g,
            Self::WithParent => "kept_with_parent",
            Self::ParentStays => "parent_stays",
        }
    }
}

/// Whole days in `micros`, rounded up.
pub(super) fn days_ceil(micros: Micros) -> i64 {
    let m = micros.max(0);
    m / DAY + i64::from(m % DAY != 0)
}

/// `sha256:0123456789ab…` → `sha256:0123456789ab`.
pub(super) fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}
