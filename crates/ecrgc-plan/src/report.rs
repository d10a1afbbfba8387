//! The FinOps report of a plan folder, recomputed from its decisions, the planned run and
//! the totals earlier plans stored.

use std::path::Path;

use ecrgc_config::Config;
use ecrgc_model::time::parse_rfc3339;
use ecrgc_report::finops::{FinopsReport, ReportSpec};

use crate::error::{PlanError, Result};
use crate::session::register_earlier_plans;

/// The report of the plan `plan_dir` holds (what `plan --out` wrote), reading the store
/// `store` names, else the configuration's, else the one the plan read.
pub async fn report(plan_dir: &Path, store: Option<&str>, config: &Config) -> Result<FinopsReport> {
    let summary_path = plan_dir.join("summary.json");
    let decisions_path = plan_dir.join("decisions.parquet");
    let text = std::fs::read_to_string(&summary_path).map_err(|e| {
        PlanError::bad_input(format!(
            "cannot read {}: {e} (is --plan a folder `ecrgc plan --out` wrote?)",
            summary_path.display()
        ))
    })?;
    let summary: ecrgc_report::Summary = serde_json::from_str(&text)
        .map_err(|e| PlanError::bad_input(format!("invalid {}: {e}", summary_path.display())))?;
    if !decisions_path.is_file() {
        return Err(PlanError::bad_input(format!(
            "no {} (is --plan a folder `ecrgc plan --out` wrote?)",
            decisions_path.display()
        )));
    }
    let now = parse_rfc3339(&summary.now).map_err(|e| {
        PlanError::bad_input(format!(
            "invalid {}: `now` = {:?}: {e}",
            summary_path.display(),
            summary.now
        ))
    })?;
    let location = store
        .map(str::to_owned)
        .or_else(|| config.store.clone())
        .unwrap_or_else(|| summary.store.clone());
    let store = ecrgc_aws::open_store(&location).await?;
    let run = store.run(&summary.run_id).await?.ok_or_else(|| {
        PlanError::bad_input(format!(
            "the plan in {} is of run {}, which {} does not hold",
            plan_dir.display(),
            summary.run_id,
            store.display()
        ))
    })?;
    let ctx =
        ecrgc_engine::new_context_with(&ecrgc_engine::EngineOptions::from_config(&config.engine))?;
    ecrgc_engine::register_run(&ctx, &store, &run).await?;
    register_earlier_plans(&ctx, &store, &run, config).await?;
    ctx.register_parquet(
        ecrgc_engine::plan::DECISIONS,
        decisions_path.display().to_string(),
        datafusion::prelude::ParquetReadOptions::default(),
    )
    .await?;
    let mut computed = ecrgc_report::finops::compute(&ReportSpec {
        ctx: &ctx,
        run_id: &run.run_id,
        snapshot_time: run.snapshot_time_micros,
        now,
        pricing: &config.pricing,
        report: &config.report,
    })
    .await?;
    // What Inspector could vouch for is part of the plan, as its summary recorded it.
    computed.report.inspector_coverage = summary.inspector_coverage;
    Ok(computed.report)
}
