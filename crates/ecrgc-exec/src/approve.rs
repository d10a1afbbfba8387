//! `approve`: a reviewer's sign-off, recorded in the store for `apply` to count.
//!
//! The plan file given is the one the reviewer approves: it must be a recorded plan or a
//! reviewed subset of one, not a what-if, not made in the future and not expired (the same
//! rules as `apply --yes`, so an approval is never given to a plan that cannot be applied).
//! The reviewer is whoever STS GetCallerIdentity names; the approval keeps the item ids of
//! the file, so items the reviewer removed are not applied even if another copy of the plan
//! still lists them (see [`ecrgc_review::Approval`] for how principals are counted).

use std::path::PathBuf;

use clap::Args;
use ecrgc_aws::Aws;
use ecrgc_config::Config;
use ecrgc_lifecycle::LifecyclePlan;
use ecrgc_manifest::Manifest;
use ecrgc_model::time::rfc3339;
use ecrgc_review::{
    Approval, ApprovalPolicy, Gate, PlanItem, ReviewedPlan, approval_parts, principal_key,
    write_approval,
};
use ecrgc_store::Store;

use crate::admit::read;
use crate::error::{ExecError, Result};

/// Approve a reviewed plan: record in the store that you (your AWS identity) approve it.
///
/// Give the manifest (or lifecycle plan) as you reviewed it, with any items you removed; the
/// approval covers exactly its items. With `[safety] approvals_required = N`, `apply --yes`
/// acts only on plans with N approvals by principals other than the planner, and only on the
/// items every one of them kept. An approval is written once (create-if-absent) under
/// `_approvals/<plan id>/` and never replaced.
#[derive(Debug, Clone, Args)]
pub struct ApproveArgs {
    /// The reviewed plan: `manifest.json` from `ecrgc plan`, or `lifecycle-plan.json`.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// A comment kept with the approval (a ticket, what was checked).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Configuration file (TOML): the store and the `[apply]` retry settings.
    #[arg(long, short = 'c', env = "ECRGC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Store the plan was made from [default: the config's `store`, else ./ecrgc-data].
    #[arg(long, env = "ECRGC_STORE", value_name = "URL")]
    pub store: Option<String>,
}

/// What was recorded.
#[derive(Debug, Clone)]
pub struct Approved {
    /// The approval.
    pub approval: Approval,
    /// Items the plan had.
    pub planned_items: usize,
    /// Where it was written.
    pub location: String,
}

/// Runs `approve` and prints what was recorded to stdout.
pub async fn run(args: ApproveArgs) -> Result<Approved> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let store = ecrgc_aws::open_store(&config.store_location(args.store.as_deref())).await?;
    let text = read(&args.manifest)?;
    let shown = args.manifest.display().to_string();
    let approved = if ecrgc_lifecycle::plan::is_lifecycle_plan(&text) {
        let plan = LifecyclePlan::from_json(&shown, &text)?;
        record(&plan, &shown, &store, &config, args.comment.clone()).await?
    } else {
        let manifest = Manifest::from_json(&shown, &text)?;
        record(&manifest, &shown, &store, &config, args.comment.clone()).await?
    };
    let a = &approved.approval;
    crate::output::print(&format!(
        "approved {} plan {} ({} of {} planned items) as {} ({})\nrecorded at {}\n",
        a.kind,
        a.plan_id,
        a.item_ids.len(),
        approved.planned_items,
        a.principal,
        a.principal_arn,
        approved.location
    ))?;
    Ok(approved)
}

async fn record<P: ReviewedPlan>(
    plan: &P,
    path: &str,
    store: &Store,
    config: &Config,
    comment: Option<String>,
) -> Result<Approved> {
    let now = chrono::Utc::now().timestamp_micros();
    // The rules of `apply --yes`, but neither the approvals (this is one) nor the
    // configuration (the executor's, not the reviewer's, is bound to the plan).
    ecrgc_review::admit(
        plan,
        &Gate {
            path,
            store,
            now,
            execute: true,
            binding: None,
            approvals: ApprovalPolicy {
                required: 0,
                must_differ: true,
            },
        },
    )
    .await?;
    // STS answers in any region; the environment's, else the SDK's global default.
    let aws = Aws::load(crate::context::apply_caller(config), None).await?;
    let arn = aws.caller_arn().to_owned();
    if arn.is_empty() {
        return Err(ExecError::BadArgument {
            flag: "approve",
            value: path.to_owned(),
            reason: "STS GetCallerIdentity named no ARN, so the approval would name no one".into(),
        });
    }
    let approval = Approval {
        plan_id: plan.plan_id(),
        kind: P::KIND.to_owned(),
        principal: principal_key(&arn),
        principal_arn: arn,
        approved_at: rfc3339(now),
        item_ids: plan
            .items()
            .iter()
            .map(|i| i.item_id().to_owned())
            .collect(),
        comment,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    write_approval(store, &approval).await?;
    let parts = approval_parts(&approval.plan_id, &approval.principal);
    let planned_items = ecrgc_review::read_record::<P>(store, &approval.plan_id)
        .await?
        .map_or(0, |r| r.item_ids.len());
    Ok(Approved {
        location: store.folder_url(&[&parts[0], &parts[1]]) + &parts[2],
        approval,
        planned_items,
    })
}
