//! Profiles the engine half of `ecrgc plan`, step by step, over a committed run.
//!
//! ```sh
//! cargo run --release -p ecrgc-engine --example profile_plan -- \
//!     STORE NOW [--sql-dir DIR] [--history-days N] [--explain] [--units]
//!     [--memory-limit SIZE] [--sort-merge]
//! ```
//!
//! It builds the session exactly as `ecrgc plan` does (latest committed run, history window,
//! default configuration, `Planner::install` with materialization), then runs the decision
//! step and drains it without writing anything, so that the engine's time can be told apart
//! from the report writers'. `--units` also times every rule and guard on its own;
//! `--explain` prints `EXPLAIN ANALYZE` of each of them and of the decision step (the
//! per-operator times and row counts `benches/README.md` cites). `--memory-limit` is
//! `[engine] memory_limit` (`2GiB`); `--sort-merge` plans with sort-merge joins, as `plan`
//! does when hash joins exceed the limit.

use std::time::Instant;

use datafusion::execution::context::SessionContext;
use ecrgc_config::Config;
use ecrgc_engine::{Catalog, Params, Planner, SqlKind};
use ecrgc_model::time::{DAY, parse_rfc3339};
use ecrgc_store::Store;
use futures::StreamExt;

type BoxError = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with("--")
                && (*i == 0
                    || !matches!(
                        args[i - 1].as_str(),
                        "--sql-dir" | "--history-days" | "--memory-limit"
                    ))
        })
        .map(|(_, a)| a)
        .collect();
    let [store, now] = positional[..] else {
        return Err(
            "usage: profile_plan STORE NOW [--sql-dir DIR] [--history-days N] \
                    [--explain] [--units] [--memory-limit SIZE] [--sort-merge]"
                .into(),
        );
    };
    let now = parse_rfc3339(now)?;
    let mut config = Config::default();
    if let Some(days) = value("--history-days") {
        config.rules.history_days = days.parse()?;
    }
    let catalog = match value("--sql-dir") {
        Some(dir) => Catalog::load_dir(std::path::Path::new(&dir))?,
        None => Catalog::builtin(),
    };
    let explain = flag("--explain");
    config.engine.memory_limit = value("--memory-limit");
    config.validate(std::path::Path::new("--memory-limit"))?;
    let mut options = ecrgc_engine::EngineOptions::from_config(&config.engine);
    options.sort_merge_joins = flag("--sort-merge");

    let started = Instant::now();
    let store = Store::open(store)?;
    let runs = store.committed_runs().await?;
    let run = runs.last().ok_or("no committed run")?.clone();
    let window_start = ecrgc_model::time::before(
        run.snapshot_time_micros,
        i64::from(config.rules.history_days),
        DAY,
    );
    let history: Vec<_> = runs
        .iter()
        .filter(|r| {
            r.snapshot_time_micros >= window_start
                && r.snapshot_time_micros <= run.snapshot_time_micros
        })
        .cloned()
        .collect();
    let ctx = ecrgc_engine::new_context_with(&options)?;
    ecrgc_engine::register_run(&ctx, &store, &run).await?;
    ecrgc_engine::register_history(&ctx, &store, &history).await?;
    ecrgc_engine::register_params(&ctx, &Params::from_config(&config, now))?;
    lap(
        &format!("session ({} history runs)", history.len()),
        started,
    );

    let planner = Planner::new(catalog);
    if flag("--units") {
        // Views only, so each rule and guard can be run alone.
        planner.install(&ctx, false).await?;
        for (kind, prefix) in [(SqlKind::Rule, "rule"), (SqlKind::Guard, "guard")] {
            for unit in planner.catalog().enabled(kind) {
                let name = format!("{prefix}_{}", unit.id);
                run_query(&ctx, &name, &format!("SELECT * FROM {name}"), explain).await?;
            }
        }
    }
    let t = Instant::now();
    planner.install(&ctx, true).await?;
    lap("install: candidates + protections", t);
    let t = Instant::now();
    let decisions = planner.decisions(&ctx).await?;
    if explain {
        let sql = format!("EXPLAIN ANALYZE {}", decision_sql(&planner));
        print_explain(&ctx, &sql).await?;
    } else {
        let mut rows = 0;
        let mut stream = decisions.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            rows += batch?.num_rows();
        }
        eprintln!("decisions: {rows} rows");
    }
    lap("decisions", t);
    lap("total", started);
    Ok(())
}

fn decision_sql(planner: &Planner) -> String {
    planner
        .catalog()
        .of(SqlKind::Plan)
        .find(|u| u.id == "decisions")
        .map(|u| u.query().to_owned())
        .unwrap_or_default()
}

async fn run_query(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    explain: bool,
) -> Result<(), BoxError> {
    let t = Instant::now();
    if explain {
        print_explain(ctx, &format!("EXPLAIN ANALYZE {sql}")).await?;
    } else {
        let mut rows = 0;
        let mut stream = ctx.sql(sql).await?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            rows += batch?.num_rows();
        }
        eprintln!("{name}: {rows} rows");
    }
    lap(name, t);
    Ok(())
}

async fn print_explain(ctx: &SessionContext, sql: &str) -> Result<(), BoxError> {
    let batches = ctx.sql(sql).await?.collect().await?;
    println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
    Ok(())
}

fn lap(what: &str, since: Instant) {
    eprintln!("{what:<40} {:>8.2} s", since.elapsed().as_secs_f64());
}
