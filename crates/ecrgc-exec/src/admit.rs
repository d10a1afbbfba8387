//! Admission: the checks a plan passes before the executor makes a single API call.
//!
//! The file must parse as a known version of its kind with every item matching its id and
//! appearing once; then [`ecrgc_review::admit`] applies the rules every reviewed plan kind
//! shares (the store's record, the real clock, what-if plans, the bound configuration,
//! approvals). Anything refused is bad input (exit status 2) and nothing is touched. What a
//! dry run would refuse with `--yes` comes back as warnings.

use std::collections::HashSet;
use std::path::Path;

use ecrgc_config::Config;
use ecrgc_lifecycle::LifecyclePlan;
use ecrgc_manifest::Manifest;
use ecrgc_model::time::Micros;
use ecrgc_review::{Admission, ApprovalPolicy, Binding, Gate, ReviewedPlan};
use ecrgc_store::Store;

use crate::error::{ExecError, Result};

/// What the plan is checked against.
pub struct Checks<'a> {
    /// The store in use.
    pub store: &'a Store,
    /// The configuration in force.
    pub config: &'a Config,
    /// Whether it came from a file (else the defaults).
    pub configured: bool,
    /// The clock: the real one for `--yes`.
    pub now: Micros,
    /// `--yes`.
    pub execute: bool,
}

/// What review left of a plan: the approvals that count, the items they do not all cover,
/// and what a dry run would be refused for with `--yes`.
#[derive(Debug, Clone, Default)]
pub struct Review {
    /// Principals whose approvals count.
    pub approvers: Vec<String>,
    /// Items in the file that not every counted approval kept (not applied).
    pub not_approved: usize,
    /// Refusals `--yes` would meet, shown by a dry run.
    pub warnings: Vec<String>,
}

/// A manifest that may be applied.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The manifest as reviewed, narrowed to the items every counted approval kept.
    pub manifest: Manifest,
    /// Its plan's identity ([`ecrgc_manifest::Header::manifest_id`]).
    pub manifest_id: String,
    /// The file, for messages.
    pub path: String,
    /// The snapshot time the plan read, µs.
    pub snapshot_time: Micros,
    /// Approvals and warnings.
    pub review: Review,
}

/// A lifecycle plan that may be applied.
#[derive(Debug, Clone)]
pub struct AdmittedPlan {
    /// The plan as reviewed, narrowed to the items every counted approval kept.
    pub plan: LifecyclePlan,
    /// Its identity.
    pub plan_id: String,
    /// The snapshot time, µs.
    pub snapshot_time: Micros,
    /// Approvals and warnings.
    pub review: Review,
}

/// Reads the file at `path`.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| ExecError::ReadManifest {
        path: path.display().to_string(),
        source,
    })
}

/// Admits the deletion manifest `text`, read from `path`.
pub async fn admit(path: &Path, text: &str, checks: &Checks<'_>) -> Result<Admitted> {
    let shown = path.display().to_string();
    let mut manifest = Manifest::from_json(&shown, text)?;
    let admission = gate(&manifest, &shown, checks).await?;
    let review = narrow(&mut manifest.items, &admission, |i| i.item_id.as_str());
    Ok(Admitted {
        manifest,
        manifest_id: admission.plan_id,
        path: shown,
        snapshot_time: admission.snapshot_time,
        review,
    })
}

/// Admits the lifecycle plan `text`, read from `path`.
pub async fn admit_lifecycle(path: &str, text: &str, checks: &Checks<'_>) -> Result<AdmittedPlan> {
    let mut plan = LifecyclePlan::from_json(path, text)?;
    let admission = gate(&plan, path, checks).await?;
    let review = narrow(&mut plan.items, &admission, |i| i.item_id.as_str());
    Ok(AdmittedPlan {
        plan,
        plan_id: admission.plan_id,
        snapshot_time: admission.snapshot_time,
        review,
    })
}

async fn gate<P: ReviewedPlan>(plan: &P, path: &str, c: &Checks<'_>) -> Result<Admission> {
    let binding = Binding::new(c.configured, c.config.bound_settings());
    Ok(ecrgc_review::admit(
        plan,
        &Gate {
            path,
            store: c.store,
            now: c.now,
            execute: c.execute,
            binding: Some(&binding),
            approvals: ApprovalPolicy {
                required: c.config.safety.approvals_required,
                must_differ: c.config.safety.approver_must_differ,
            },
        },
    )
    .await?)
}

/// Keeps the items every counted approval kept.
fn narrow<I>(items: &mut Vec<I>, admission: &Admission, id: impl Fn(&I) -> &str) -> Review {
    let before = items.len();
    if let Some(approved) = &admission.approved {
        let approved: &HashSet<String> = approved;
        items.retain(|i| approved.contains(id(i)));
    }
    Review {
        approvers: admission.approvers.clone(),
        not_approved: before - items.len(),
        warnings: admission.warnings.clone(),
    }
}
