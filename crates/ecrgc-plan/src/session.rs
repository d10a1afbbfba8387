//! The DataFusion session a plan, `explain`, `lifecycle suggest` and `report` read.

use datafusion::execution::context::SessionContext;
use ecrgc_config::Config;
use ecrgc_engine::{EngineOptions, Params, Planner};
use ecrgc_model::time::{DAY, Micros};
use ecrgc_store::{RunMarker, Store};

use crate::error::Result;
use crate::history::Chosen;

/// A session over the chosen run and its history window, with the params and the catalog
/// installed (rules and guards computed once, in memory), within `[engine]`'s memory limit.
pub async fn prepare_session(
    store: &Store,
    chosen: &Chosen,
    config: &Config,
    planner: &Planner,
    now: Micros,
) -> Result<(SessionContext, Params)> {
    let options = EngineOptions::from_config(&config.engine);
    prepare_session_with(store, chosen, config, planner, now, &options).await
}

/// [`prepare_session`] with the engine's options given (the join strategy of a retry).
pub async fn prepare_session_with(
    store: &Store,
    chosen: &Chosen,
    config: &Config,
    planner: &Planner,
    now: Micros,
    options: &EngineOptions,
) -> Result<(SessionContext, Params)> {
    let ctx = ecrgc_engine::new_context_with(options)?;
    ecrgc_engine::register_run(&ctx, store, &chosen.run).await?;
    ecrgc_engine::register_history(&ctx, store, &chosen.history).await?;
    let params = Params::from_config(config, now);
    ecrgc_engine::register_params(&ctx, &params)?;
    planner.install(&ctx, true).await?;
    Ok((ctx, params))
}

/// Registers `earlier_plan_totals`: the stored plan totals of the committed runs of the
/// trend window before `run` (`report.trend_days`).
pub async fn register_earlier_plans(
    ctx: &SessionContext,
    store: &Store,
    run: &RunMarker,
    config: &Config,
) -> Result<()> {
    let start = ecrgc_model::time::before(
        run.snapshot_time_micros,
        i64::from(config.report.trend_days),
        DAY,
    );
    let earlier: Vec<RunMarker> = store
        .committed_runs()
        .await?
        .into_iter()
        .filter(|r| {
            r.snapshot_time_micros >= start && r.snapshot_time_micros < run.snapshot_time_micros
        })
        .collect();
    ecrgc_engine::register_runs(
        ctx,
        store,
        &earlier,
        "earlier_",
        &ecrgc_model::plan_tables(),
    )
    .await?;
    Ok(())
}
