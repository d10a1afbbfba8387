//! A plan from start to finish: the session, the decision step and the plan's files, the
//! plan's record in the store (without which the executor refuses its manifest) and its
//! `plan_totals` (the trend of later reports, `ecrgc query`, Athena).

use std::path::Path;

use arrow::array::RecordBatch;
use ecrgc_engine::{Catalog, EngineOptions, Planner};
use ecrgc_report::{PlanContext, PlanOutput, write_plan};
use ecrgc_store::{RunMarker, Store};

use crate::error::{PlanError, Result};
use crate::header::{Provenance, plan_header};
use crate::inputs::PlanInputs;
use crate::session::{prepare_session_with, register_earlier_plans};

/// The stages of [`plan`], for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Rules, guards and views are computed.
    RulesAndGuards,
    /// The decision step runs and the files are written.
    Writing,
    /// The engine ran out of its memory limit: the plan runs again with joins that spill.
    Retrying,
}

impl Stage {
    /// What the stage does, for a spinner.
    pub fn message(self) -> &'static str {
        match self {
            Self::RulesAndGuards => "running rules and guards",
            Self::Writing => "deciding and writing reports",
            Self::Retrying => {
                "out of [engine] memory_limit: planning again with sort-merge joins that spill"
            }
        }
    }
}

/// A plan written and recorded.
pub struct Written {
    /// The summary, the files, the record and the FinOps report.
    pub output: PlanOutput,
    /// Why the plan's totals were not stored, if they were not: the plan stands, later
    /// trends miss the run.
    pub totals_not_stored: Option<PlanError>,
}

impl Written {
    /// The text `plan` prints: the summary, the FinOps headline and the files written.
    pub fn text(&self) -> String {
        ecrgc_report::text::render(
            &self.output.summary,
            &self.output.finops.report,
            &self.output.files,
        )
    }
}

/// Plans the chosen run with `catalog` into `out` and records the plan in the store.
///
/// When the engine runs out of `[engine] memory_limit` (a hash join's build side cannot
/// spill), the plan runs once more with sort-merge joins, which spill to `spill_dir`:
/// slower, but it finishes instead of failing. Nothing of the first attempt is kept.
pub async fn plan(
    inputs: &PlanInputs<'_>,
    catalog: Catalog,
    provenance: Provenance<'_>,
    out: &Path,
    progress: &dyn Fn(Stage),
) -> Result<Written> {
    let header = plan_header(ecrgc_manifest::KIND, inputs, provenance, &catalog).await;
    let planner = Planner::new(catalog);
    let mut options = EngineOptions::from_config(&inputs.config.engine);
    let output = match decide_and_write(inputs, &planner, &header, out, progress, &options).await {
        Err(e) if e.is_resources_exhausted() => {
            progress(Stage::Retrying);
            options.sort_merge_joins = true;
            match decide_and_write(inputs, &planner, &header, out, progress, &options).await {
                Err(e) if e.is_resources_exhausted() => {
                    let limit = match (&inputs.config.engine.memory_limit, options.pool_bytes()) {
                        (Some(set), _) => set.clone(),
                        (None, Some(bytes)) => format!("{} MiB (all the memory)", bytes >> 20),
                        (None, None) => "none".to_owned(),
                    };
                    return Err(PlanError::OutOfMemory {
                        limit,
                        source: Box::new(e),
                    });
                }
                other => other?,
            }
        }
        other => other?,
    };
    record_plan(inputs, output, out).await
}

/// One attempt of [`plan`]: the session, the decisions and the plan's files.
async fn decide_and_write(
    inputs: &PlanInputs<'_>,
    planner: &Planner,
    header: &ecrgc_review::PlanHeader,
    out: &Path,
    progress: &dyn Fn(Stage),
    options: &EngineOptions,
) -> Result<PlanOutput> {
    let (store, chosen, config) = (inputs.store, inputs.chosen, inputs.config);
    progress(Stage::RulesAndGuards);
    let (ctx, params) =
        prepare_session_with(store, chosen, config, planner, inputs.now, options).await?;
    let run = &chosen.run;
    register_earlier_plans(&ctx, store, run, config).await?;
    progress(Stage::Writing);
    write_plan(PlanContext {
        ctx: &ctx,
        planner,
        run_id: &run.run_id,
        snapshot_time: &run.snapshot_time,
        params: &params,
        history_runs: chosen.history.iter().map(|r| r.run_id.clone()).collect(),
        header: header.clone(),
        out_dir: out,
        snapshot_micros: run.snapshot_time_micros,
        pricing: &config.pricing,
        report: &config.report,
    })
    .await
    .map_err(|source| PlanError::Planning {
        run_id: run.run_id.clone(),
        source,
    })
}

/// Records a written plan in the store, and its totals in the run's history.
async fn record_plan(inputs: &PlanInputs<'_>, output: PlanOutput, out: &Path) -> Result<Written> {
    let (store, run) = (inputs.store, &inputs.chosen.run);
    // The executor admits only manifests whose plan the store records; without the record
    // the manifest is useless, so it is removed rather than left to be refused later.
    let planned = &output.planned;
    let parts = ecrgc_review::record_parts(&planned.plan_id);
    let body = serde_json::to_vec_pretty(planned)?;
    if let Err(source) = store.put_object(&[&parts[0], &parts[1]], body).await {
        let _ = std::fs::remove_file(out.join("manifest.json"));
        return Err(PlanError::RecordPlan {
            store: store.display().to_owned(),
            source,
        });
    }
    // The plan's figures join the store's history, for the trend of later reports, for
    // `ecrgc query` and for Athena. A failure here costs the trend a night, not the plan.
    let totals_not_stored = store_plan_totals(store, run, &output.finops.totals)
        .await
        .err();
    Ok(Written {
        output,
        totals_not_stored,
    })
}

/// Writes a plan's `plan_totals` into the run's partition, replacing an earlier plan's.
pub async fn store_plan_totals(store: &Store, run: &RunMarker, totals: &RecordBatch) -> Result<()> {
    let parts = run.table_parts(ecrgc_model::PlanTotalsBuilder::NAME);
    let mut body = Vec::new();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut body, totals.schema(), Some(props))?;
    w.write(totals)?;
    w.close()?;
    store
        .put_object(&[&parts[0], &parts[1], &parts[2], "plan.parquet"], body)
        .await?;
    Ok(())
}
