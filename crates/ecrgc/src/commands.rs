//! The commands: each wires configuration, store, engine and reports together.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use ecrgc_collect::demo::{DemoOptions, generate};
use ecrgc_config::Config;
use ecrgc_engine::{Catalog, Params, Planner, SqlKind};
use ecrgc_model::time::{DAY, Micros, parse_rfc3339};
use ecrgc_report::{PlanContext, write_plan};
use ecrgc_store::{RunMarker, Store};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{
    Cli, CollectArgs, Command, DemoArgs, ExplainArgs, Format, PlanArgs, QueryArgs, RulesArgs,
    StoreArgs,
};
use crate::error::bad_input;

/// Runs one command.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => demo(args).await,
        Command::Collect(args) => collect(args).await,
        Command::Plan(args) => plan(args).await,
        Command::Query(args) => query(args).await,
        Command::Explain(args) => explain(args).await,
        Command::Rules(args) => rules(args),
        Command::Apply(args) => apply(args).await,
    }
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    })
}

fn parse_now(now: Option<&str>) -> Result<Micros> {
    match now {
        Some(s) => parse_rfc3339(s).map_err(|e| {
            bad_input(format!(
                "invalid --now {s:?}: {e} (expected RFC 3339, e.g. 2026-11-21T03:00:00Z)"
            ))
        }),
        None => Ok(chrono::Utc::now().timestamp_micros()),
    }
}

async fn open_store(args: &StoreArgs, config: &Config) -> Result<Store> {
    Ok(ecrgc_aws::open_store(&config.store_location(args.store.as_deref())).await?)
}

fn load_catalog(sql_dir: Option<&Path>) -> Result<Catalog> {
    Ok(match sql_dir {
        Some(dir) => Catalog::load_dir(dir)?,
        None => Catalog::builtin(),
    })
}

/// The catalog with the rules the configuration (or `--rule`) switches on.
fn configured_catalog(
    sql_dir: Option<&Path>,
    only: &[String],
    config: &Config,
    config_path: Option<&Path>,
) -> Result<Catalog> {
    let origin = config_path.map_or_else(|| "defaults".to_owned(), |p| p.display().to_string());
    Ok(load_catalog(sql_dir)?.select_rules(
        only,
        &config.rules.enable,
        &config.rules.disable,
        &origin,
    )?)
}

/// A committed run to plan, and the runs of its history window (oldest first, the run
/// itself last).
struct Chosen {
    run: RunMarker,
    history: Vec<RunMarker>,
}

impl Chosen {
    /// Picks `run` (default: the latest) among the store's committed runs, listed once.
    async fn pick(store: &Store, run: Option<&str>, config: &Config) -> Result<Self> {
        let all = store.committed_runs().await?;
        let found = match run {
            Some(id) => all.iter().find(|r| r.run_id == id).cloned(),
            None => all.last().cloned(),
        };
        let chosen = match (found, run) {
            (Some(r), _) => r,
            (None, Some(id)) => {
                return Err(bad_input(format!(
                    "no committed run {id:?} in {}",
                    store.display()
                )));
            }
            (None, None) => anyhow::bail!(
                "no committed run in {}: run `ecrgc collect` (or `ecrgc demo`) first",
                store.display()
            ),
        };
        let window_start = chosen.snapshot_time_micros - i64::from(config.rules.history_days) * DAY;
        let history = all
            .into_iter()
            .filter(|r| {
                r.snapshot_time_micros >= window_start
                    && r.snapshot_time_micros <= chosen.snapshot_time_micros
            })
            .collect();
        Ok(Self {
            run: chosen,
            history,
        })
    }
}

/// A session over the chosen run and its history window, with the params and the catalog
/// installed (rules and guards computed once, in memory).
async fn prepare_session(
    store: &Store,
    chosen: &Chosen,
    config: &Config,
    planner: &Planner,
    now: Micros,
) -> Result<(datafusion::execution::context::SessionContext, Params)> {
    let ctx = ecrgc_engine::new_context();
    ecrgc_engine::register_run(&ctx, store, &chosen.run).await?;
    ecrgc_engine::register_history(&ctx, store, &chosen.history).await?;
    let params = Params::from_config(config, now);
    ecrgc_engine::register_params(&ctx, &params)?;
    planner.install(&ctx, true).await?;
    Ok((ctx, params))
}

/// Plans `run` and prints the summary; returns the summary.
async fn plan_run(
    store: &Store,
    chosen: &Chosen,
    config: &Config,
    catalog: Catalog,
    now: Micros,
    out: &Path,
) -> Result<ecrgc_report::Summary> {
    let planner = Planner::new(catalog);
    let started = std::time::Instant::now();
    let spinner = spinner("running rules and guards");
    let (ctx, params) = prepare_session(store, chosen, config, &planner, now).await?;
    let run = &chosen.run;
    spinner.set_message("deciding and writing reports");
    let output = write_plan(PlanContext {
        ctx: &ctx,
        planner: &planner,
        run_id: &run.run_id,
        snapshot_time: &run.snapshot_time,
        params: &params,
        history_runs: chosen.history.iter().map(|r| r.run_id.clone()).collect(),
        store: store.display(),
        config_hash: &config.hash(),
        manifest_ttl_hours: i64::from(config.safety.manifest_ttl_hours),
        out_dir: out,
    })
    .await
    .with_context(|| format!("planning run {}", run.run_id))?;
    // The executor admits only manifests whose plan the store records; without the record
    // the manifest is useless, so it is removed rather than left to be refused later.
    let planned = &output.planned;
    let parts = ecrgc_manifest::PlannedRecord::store_parts(&planned.manifest_id);
    let body = serde_json::to_vec_pretty(planned)?;
    if let Err(e) = store.put_object(&[&parts[0], &parts[1]], body).await {
        let _ = std::fs::remove_file(out.join("manifest.json"));
        return Err(anyhow::Error::new(e).context(format!(
            "recording the plan in the store {} (the manifest was removed: apply would refuse it)",
            store.display()
        )));
    }
    let (summary, files) = (output.summary, output.files);
    spinner.finish_and_clear();
    eprintln!(
        "planned run {} in {:.1} s",
        run.run_id,
        started.elapsed().as_secs_f64()
    );
    let text = ecrgc_report::text::render(&summary, &files);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(summary)
}

fn spinner(message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
    );
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

async fn apply(args: ecrgc_exec::ApplyArgs) -> Result<()> {
    let summary = ecrgc_exec::run(args).await?;
    if summary.failed() > 0 {
        anyhow::bail!(
            "{} items failed; they are in the journal and the next apply retries them",
            summary.failed()
        );
    }
    Ok(())
}

async fn demo(args: DemoArgs) -> Result<()> {
    let config = load_config(args.config.as_deref())?;
    let now = parse_now(args.now.as_deref())?;
    if args.images == 0 {
        return Err(bad_input("--images must be at least 1"));
    }
    let store = Store::open(&args.store)?;
    let bar = ProgressBar::new(args.images);
    bar.set_style(
        ProgressStyle::with_template("generating {bar:30} {pos}/{len} images ({elapsed})")
            .expect("valid template"),
    );
    let options = DemoOptions {
        images: args.images,
        seed: args.seed,
        now,
    };
    let started = std::time::Instant::now();
    let (run, truth) = generate(&store, &options, |n| bar.set_position(n))
        .await
        .context("generating the demo organization")?;
    bar.finish_and_clear();
    eprintln!(
        "wrote demo run {} ({} images) to {} in {:.1} s",
        run.run_id,
        truth.all.images,
        store.display(),
        started.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let truth_path = args.out.join("demo-truth.json");
    std::fs::write(&truth_path, serde_json::to_vec_pretty(&truth)?)
        .with_context(|| format!("cannot write {}", truth_path.display()))?;
    let catalog = configured_catalog(None, &[], &config, args.config.as_deref())?;
    let chosen = Chosen::pick(&store, Some(&run.run_id), &config).await?;
    plan_run(&store, &chosen, &config, catalog, now, &args.out).await?;
    Ok(())
}

async fn collect(args: CollectArgs) -> Result<()> {
    use ecrgc_collect::aws::{CollectOptions, CollectProgress, Shard, collect};
    let config_path = args.store.config.as_deref().ok_or_else(|| {
        bad_input("collect needs a configuration file (--config FILE or ECRGC_CONFIG): the accounts and regions to read")
    })?;
    let config = load_config(Some(config_path))?;
    let now = parse_now(args.now.as_deref())?;
    let shard = match &args.shard {
        Some(s) => Some(s.parse::<Shard>().map_err(bad_input)?),
        None => None,
    };
    let store = open_store(&args.store, &config).await?;
    let progress = std::sync::Arc::new(CollectProgress::default());
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix:<17} {bar:24} {pos}/{len} units  {msg} ({elapsed})",
        )
        .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let options = CollectOptions {
        now,
        shard,
        run_name: args.run_name.clone(),
        layers: match (args.layers, args.no_layers) {
            (true, _) => true,
            (_, true) => false,
            _ => config.sources.layers,
        },
    };
    let work = collect(&config, &store, &options, progress.clone());
    tokio::pin!(work);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    let report = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tick.tick() => {
                let p = progress.snapshot();
                bar.set_prefix(p.phase.clone());
                bar.set_length(p.units_total);
                bar.set_position(p.units_done);
                bar.set_message(format!(
                    "accounts {}/{}  images {}  refs {}  errors {}",
                    p.accounts_done, p.accounts_total, p.images, p.refs, p.errors
                ));
            }
        }
    };
    bar.finish_and_clear();
    let report = report.context("collecting")?;
    // Pull times the collector moved are a data-quality problem for later plans, not a
    // failure of this run: said on stderr where people look for warnings.
    for o in &report.outcomes {
        if o.source == "pull_time_exclusion" && o.status != "ok" {
            eprintln!(
                "warning: {}/{}: {}",
                o.account_id,
                o.region,
                o.error.as_deref().unwrap_or(&o.status)
            );
        }
    }
    let mut out = std::io::stdout().lock();
    match (&report.committed, report.shards_done) {
        (Some(m), _) => writeln!(
            out,
            "committed run {} ({} images, {} workload references{}) to {}",
            m.run_id,
            m.tables.get("images").map_or(0, |t| t.rows),
            m.tables.get("workload_refs").map_or(0, |t| t.rows),
            match m.tables.get("image_layers").map_or(0, |t| t.rows) {
                0 => String::new(),
                n => format!(", {n} image layers"),
            },
            store.display()
        )?,
        (None, Some((done, count))) => writeln!(
            out,
            "shard finished for run {}: {done} of {count} shards in; the last one commits",
            report.run_id
        )?,
        (None, None) => writeln!(out, "run {} written", report.run_id)?,
    }
    writeln!(
        out,
        "{} API calls, {} throttled; {} of {} units not ok",
        report.api_calls,
        report.throttles,
        report.outcomes.iter().filter(|o| o.status != "ok").count(),
        report.outcomes.len()
    )?;
    for o in report.outcomes.iter().filter(|o| o.status != "ok") {
        writeln!(
            out,
            "  {} {} {:<17} {:<8} {}",
            o.account_id,
            o.region,
            o.source,
            o.status,
            o.error.as_deref().unwrap_or_default()
        )?;
    }
    out.flush()?;
    Ok(())
}

async fn plan(args: PlanArgs) -> Result<()> {
    let config = load_config(args.store.config.as_deref())?;
    let now = parse_now(args.now.as_deref())?;
    let catalog = configured_catalog(
        args.sql_dir.as_deref(),
        &args.rules,
        &config,
        args.store.config.as_deref(),
    )?;
    let store = open_store(&args.store, &config).await?;
    let chosen = Chosen::pick(&store, args.run.as_deref(), &config).await?;
    plan_run(&store, &chosen, &config, catalog, now, &args.out).await?;
    Ok(())
}

async fn query(args: QueryArgs) -> Result<()> {
    let config = load_config(args.store.config.as_deref())?;
    let store = open_store(&args.store, &config).await?;
    let run = Chosen::pick(&store, args.run.as_deref(), &config)
        .await?
        .run;
    let ctx = ecrgc_engine::new_context();
    ecrgc_engine::register_run(&ctx, &store, &run).await?;
    let df = ctx.sql(&args.sql).await.map_err(bad_input)?;
    let batches = df.collect().await?;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Table => {
            let table = arrow::util::pretty::pretty_format_batches(&batches)?;
            writeln!(stdout, "{table}")?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut stdout);
            for b in &batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut stdout);
            for b in &batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    stdout.flush()?;
    Ok(())
}

async fn explain(args: ExplainArgs) -> Result<()> {
    let config = load_config(args.store.config.as_deref())?;
    let now = parse_now(args.now.as_deref())?;
    let catalog = configured_catalog(
        args.sql_dir.as_deref(),
        &[],
        &config,
        args.store.config.as_deref(),
    )?;
    let store = open_store(&args.store, &config).await?;
    let chosen = Chosen::pick(&store, args.run.as_deref(), &config).await?;
    let planner = Planner::new(catalog);
    let (ctx, _) = prepare_session(&store, &chosen, &config, &planner, now).await?;
    let run = &chosen.run;
    let keys = ecrgc_report::explain::resolve(&ctx, &args.image).await?;
    if keys.is_empty() {
        return Err(bad_input(format!(
            "no image {:?} in run {} of {}",
            args.image,
            run.run_id,
            store.display()
        )));
    }
    ecrgc_report::explain::install_decisions(&ctx, &planner).await?;
    let mut stdout = std::io::stdout().lock();
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            writeln!(stdout)?;
        }
        let text = ecrgc_report::explain::explain(&ctx, &planner, key).await?;
        stdout.write_all(text.as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}

fn rules(args: RulesArgs) -> Result<()> {
    let catalog = load_catalog(args.sql_dir.as_deref())?;
    let mut stdout = std::io::stdout().lock();
    for (kind, title) in [(SqlKind::Rule, "Rules"), (SqlKind::Guard, "Guards")] {
        writeln!(stdout, "{title} (in precedence order):")?;
        for unit in catalog.of(kind) {
            let off = if unit.enabled {
                ""
            } else {
                " (off by default)"
            };
            if args.full {
                writeln!(
                    stdout,
                    "\n== {}{off} ==\n{}",
                    unit.path,
                    unit.text.trim_end()
                )?;
            } else {
                writeln!(stdout, "  {:<26} {}{off}", unit.id, unit.summary)?;
            }
        }
        writeln!(stdout)?;
    }
    Ok(())
}
