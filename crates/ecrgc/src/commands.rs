//! The commands: each wires configuration, store, engine and reports together.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use ecrgc_collect::demo::{DemoOptions, generate};
use ecrgc_config::Config;
use ecrgc_engine::{Catalog, Params, Planner, SqlKind};
use ecrgc_model::time::{DAY, MAX_CLOCK_SKEW_SECONDS, Micros, parse_rfc3339};
use ecrgc_report::{PlanContext, write_plan};
use ecrgc_store::{RunMarker, Store};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{
    AthenaDdlArgs, Cli, CollectArgs, Command, DemoArgs, ExplainArgs, Format, PlanArgs, QueryArgs,
    ReportArgs, RulesArgs, StoreArgs,
};
use crate::error::bad_input;
use crate::output::{Sink, render_batches};
use crate::planned::{Provenance, plan_header};
use ecrgc_report::output::{ReportFormat, render_report};

/// Runs one command.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => demo(args).await,
        Command::Collect(args) => collect(args).await,
        Command::Plan(args) => plan(args).await,
        Command::Report(args) => report(args).await,
        Command::Query(args) => query(args).await,
        Command::AthenaDdl(args) => athena_ddl(args),
        Command::Explain(args) => explain(args).await,
        Command::Rules(args) => rules(args),
        Command::Approve(args) => {
            ecrgc_exec::approve::run(args).await?;
            Ok(())
        }
        Command::Apply(args) => apply(args).await,
        Command::Lifecycle(args) => crate::lifecycle::run(args).await,
    }
}

pub(crate) fn load_config(path: Option<&Path>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    })
}

pub(crate) fn parse_now(now: Option<&str>) -> Result<Micros> {
    match now {
        Some(s) => parse_rfc3339(s).map_err(|e| {
            bad_input(format!(
                "invalid --now {s:?}: {e} (expected RFC 3339, e.g. 2026-11-21T03:00:00Z)"
            ))
        }),
        None => Ok(chrono::Utc::now().timestamp_micros()),
    }
}

pub(crate) async fn open_store(args: &StoreArgs, config: &Config) -> Result<Store> {
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
pub(crate) struct Chosen {
    pub(crate) run: RunMarker,
    pub(crate) history: Vec<RunMarker>,
}

impl Chosen {
    /// Picks `run` (default: the latest) among the store's committed runs, listed once.
    pub(crate) async fn pick(store: &Store, run: Option<&str>, config: &Config) -> Result<Self> {
        Self::pick_among(store, store.committed_runs().await?, run, config)
    }

    /// Picks `run` among runs already listed. Without `run`, the latest is chosen among the
    /// runs whose snapshot time is not in the future of the machine's clock (beyond
    /// [`MAX_CLOCK_SKEW_SECONDS`]; the others are ignored with a warning, so a run made with
    /// a wrong `--now` cannot stay "latest" for good), and among collected runs when the
    /// store holds any: a demo run never becomes the latest run of a store with collected
    /// runs, nor part of their history.
    fn pick_among(
        store: &Store,
        all: Vec<RunMarker>,
        run: Option<&str>,
        config: &Config,
    ) -> Result<Self> {
        let all = match run {
            Some(_) => all,
            None => current_runs(all, chrono::Utc::now().timestamp_micros()),
        };
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
        let window_start = ecrgc_model::time::before(
            chosen.snapshot_time_micros,
            i64::from(config.rules.history_days),
            DAY,
        );
        let demo = chosen.origin == DEMO_ORIGIN;
        let history = all
            .into_iter()
            .filter(|r| {
                r.snapshot_time_micros >= window_start
                    && r.snapshot_time_micros <= chosen.snapshot_time_micros
                    && (demo || r.origin != DEMO_ORIGIN)
            })
            .collect();
        Ok(Self {
            run: chosen,
            history,
        })
    }
}

/// The `origin` of the runs `ecrgc demo` writes.
const DEMO_ORIGIN: &str = "demo";

/// The runs a plan may choose as the latest, oldest first: those whose snapshot time is at
/// most [`MAX_CLOCK_SKEW_SECONDS`] ahead of `real_now` (the others are named in a warning),
/// and only the collected ones when there are any.
fn current_runs(all: Vec<RunMarker>, real_now: Micros) -> Vec<RunMarker> {
    let limit = real_now.saturating_add(MAX_CLOCK_SKEW_SECONDS * 1_000_000);
    let (current, future): (Vec<RunMarker>, Vec<RunMarker>) = all
        .into_iter()
        .partition(|r| r.snapshot_time_micros <= limit);
    for r in &future {
        eprintln!(
            "warning: ignoring run {} ({}): its snapshot time {} is in the future of this \
             machine's clock ({}, {MAX_CLOCK_SKEW_SECONDS} s of skew allowed); plan it with \
             --run {} if that is really meant",
            r.run_id,
            r.origin,
            r.snapshot_time,
            ecrgc_model::time::rfc3339(real_now),
            r.run_id
        );
    }
    if current.iter().any(|r| r.origin != DEMO_ORIGIN) {
        current
            .into_iter()
            .filter(|r| r.origin != DEMO_ORIGIN)
            .collect()
    } else {
        current
    }
}

/// A session over the chosen run and its history window, with the params and the catalog
/// installed (rules and guards computed once, in memory).
pub(crate) async fn prepare_session(
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
    provenance: Provenance<'_>,
) -> Result<ecrgc_report::Summary> {
    let header = plan_header(
        ecrgc_manifest::KIND,
        &chosen.run,
        config,
        provenance,
        &catalog,
        now,
        store.display(),
    )
    .await;
    let planner = Planner::new(catalog);
    let started = std::time::Instant::now();
    let spinner = spinner("running rules and guards");
    let (ctx, params) = prepare_session(store, chosen, config, &planner, now).await?;
    let run = &chosen.run;
    register_earlier_plans(&ctx, store, run, config).await?;
    spinner.set_message("deciding and writing reports");
    let output = write_plan(PlanContext {
        ctx: &ctx,
        planner: &planner,
        run_id: &run.run_id,
        snapshot_time: &run.snapshot_time,
        params: &params,
        history_runs: chosen.history.iter().map(|r| r.run_id.clone()).collect(),
        header,
        out_dir: out,
        snapshot_micros: run.snapshot_time_micros,
        pricing: &config.pricing,
        report: &config.report,
    })
    .await
    .with_context(|| format!("planning run {}", run.run_id))?;
    // The executor admits only manifests whose plan the store records; without the record
    // the manifest is useless, so it is removed rather than left to be refused later.
    let planned = &output.planned;
    let parts = ecrgc_review::record_parts(&planned.plan_id);
    let body = serde_json::to_vec_pretty(planned)?;
    if let Err(e) = store.put_object(&[&parts[0], &parts[1]], body).await {
        let _ = std::fs::remove_file(out.join("manifest.json"));
        return Err(anyhow::Error::new(e).context(format!(
            "recording the plan in the store {} (the manifest was removed: apply would refuse it)",
            store.display()
        )));
    }
    // The plan's figures join the store's history, for the trend of later reports, for
    // `ecrgc query` and for Athena. A failure here costs the trend a night, not the plan.
    if let Err(e) = store_plan_totals(store, run, &output.finops.totals).await {
        spinner.suspend(|| {
            eprintln!(
                "warning: the plan's totals were not stored in {} ({e:#}); later trends will miss run {}",
                store.display(),
                run.run_id
            )
        });
    }
    let (summary, files) = (output.summary.clone(), output.files.clone());
    spinner.finish_and_clear();
    eprintln!(
        "planned run {} in {:.1} s",
        run.run_id,
        started.elapsed().as_secs_f64()
    );
    let text = ecrgc_report::text::render(&summary, &output.finops.report, &files);
    let mut stdout = crate::output::stdout();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(summary)
}

/// Registers `earlier_plan_totals`: the stored plan totals of the committed runs of the
/// trend window before `run` (`report.trend_days`).
async fn register_earlier_plans(
    ctx: &datafusion::execution::context::SessionContext,
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

/// Writes a plan's `plan_totals` into the run's partition, replacing an earlier plan's.
async fn store_plan_totals(
    store: &Store,
    run: &RunMarker,
    totals: &arrow::array::RecordBatch,
) -> Result<()> {
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

pub(crate) fn spinner(message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
    );
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

async fn apply(args: ecrgc_exec::ApplyArgs) -> Result<()> {
    // Failed items exit 1, blocked ones 3: decided by the executor, as for `ecrgc-exec`.
    let summary = ecrgc_exec::run(args).await?;
    Ok(ecrgc_exec::status::outcome(&summary)?)
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
    let provenance = Provenance {
        config_path: args.config.as_deref(),
        sql_dir: None,
        only_rules: &[],
    };
    plan_run(
        &store, &chosen, &config, catalog, now, &args.out, provenance,
    )
    .await?;
    Ok(())
}

async fn collect(args: CollectArgs) -> Result<()> {
    use ecrgc_collect::aws::{CollectOptions, CollectProgress, Shard, collect};
    let config_path = args.store.config.as_deref().ok_or_else(|| {
        bad_input("collect needs a configuration file (--config FILE or ECRGC_CONFIG): the accounts and regions to read")
    })?;
    let config = load_config(Some(config_path))?;
    let now = parse_now(args.now.as_deref())?;
    // A snapshot describes what exists now: one dated in the future would become the
    // store's latest run for as long as the future lasts.
    let real_now = chrono::Utc::now().timestamp_micros();
    if now > real_now.saturating_add(MAX_CLOCK_SKEW_SECONDS * 1_000_000) {
        return Err(bad_input(format!(
            "invalid --now {:?}: it is {} s in the future of this machine's clock ({}); \
             collect records what exists now, so at most {MAX_CLOCK_SKEW_SECONDS} s ahead \
             is accepted",
            args.now.as_deref().unwrap_or_default(),
            (now - real_now) / 1_000_000,
            ecrgc_model::time::rfc3339(real_now)
        )));
    }
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
        register_pull_time_exclusion: args.register_pull_time_exclusion,
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
        // An `ok` unit with a message skipped resources deleted while it read them.
        if o.status == "ok"
            && let Some(note) = &o.error
        {
            eprintln!("note: {}/{} {}: {note}", o.account_id, o.region, o.source);
        }
    }
    let mut out = crate::output::stdout();
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
    // A missing pull-time exclusion is a warning (on stderr, above), not a unit that failed
    // to read: the data is complete, only pull times the collector read may have moved.
    let not_ok = |o: &&ecrgc_collect::aws::Outcome| o.status != "ok" && o.status != "not_excluded";
    writeln!(
        out,
        "{} API calls, {} throttled; {} of {} units not ok",
        report.api_calls,
        report.throttles,
        report.outcomes.iter().filter(not_ok).count(),
        report.outcomes.len()
    )?;
    for o in report.outcomes.iter().filter(not_ok) {
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
    let provenance = Provenance {
        config_path: args.store.config.as_deref(),
        sql_dir: args.sql_dir.as_deref(),
        only_rules: &args.rules,
    };
    plan_run(
        &store, &chosen, &config, catalog, now, &args.out, provenance,
    )
    .await?;
    Ok(())
}

async fn query(args: QueryArgs) -> Result<()> {
    let sql = query_text(&args)?;
    let sink = Sink::open(args.out.as_deref(), args.format)?;
    let config = load_config(args.store.config.as_deref())?;
    let store = open_store(&args.store, &config).await?;
    let runs = store.committed_runs().await?;
    let latest = Chosen::pick_among(&store, runs.clone(), args.run.as_deref(), &config)?.run;
    let ctx = ecrgc_engine::new_context();
    ecrgc_engine::register_query_tables(&ctx, &store, &runs, &latest).await?;
    let df = read_only_sql(&ctx, &sql).await?;
    let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    sink.write_all(&render_batches(args.format, schema, &batches)?)
}

async fn report(args: ReportArgs) -> Result<()> {
    let format = match args.format {
        Format::Table => ReportFormat::Table,
        Format::Csv => ReportFormat::Csv,
        Format::Json => ReportFormat::Json,
        Format::Parquet => ReportFormat::Parquet,
        Format::Html => ReportFormat::Html,
    };
    let sink = Sink::open(args.out.as_deref(), args.format)?;
    let config = load_config(args.config.as_deref())?;
    let summary_path = args.plan.join("summary.json");
    let decisions_path = args.plan.join("decisions.parquet");
    let text = std::fs::read_to_string(&summary_path).map_err(|e| {
        bad_input(format!(
            "cannot read {}: {e} (is --plan a folder `ecrgc plan --out` wrote?)",
            summary_path.display()
        ))
    })?;
    let summary: ecrgc_report::Summary = serde_json::from_str(&text)
        .map_err(|e| bad_input(format!("invalid {}: {e}", summary_path.display())))?;
    if !decisions_path.is_file() {
        return Err(bad_input(format!(
            "no {} (is --plan a folder `ecrgc plan --out` wrote?)",
            decisions_path.display()
        )));
    }
    let now = parse_rfc3339(&summary.now).map_err(|e| {
        bad_input(format!(
            "invalid {}: `now` = {:?}: {e}",
            summary_path.display(),
            summary.now
        ))
    })?;
    let location = args
        .store
        .clone()
        .or_else(|| config.store.clone())
        .unwrap_or_else(|| summary.store.clone());
    let store = ecrgc_aws::open_store(&location).await?;
    let run = store.run(&summary.run_id).await?.ok_or_else(|| {
        bad_input(format!(
            "the plan in {} is of run {}, which {} does not hold",
            args.plan.display(),
            summary.run_id,
            store.display()
        ))
    })?;
    let ctx = ecrgc_engine::new_context();
    ecrgc_engine::register_run(&ctx, &store, &run).await?;
    register_earlier_plans(&ctx, &store, &run, &config).await?;
    ctx.register_parquet(
        ecrgc_engine::plan::DECISIONS,
        decisions_path.display().to_string(),
        datafusion::prelude::ParquetReadOptions::default(),
    )
    .await?;
    let mut computed = ecrgc_report::finops::compute(&ecrgc_report::finops::ReportSpec {
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
    sink.write_all(&render_report(&computed.report, format)?)
}

fn athena_ddl(args: AthenaDdlArgs) -> Result<()> {
    let ddl = crate::athena::ddl(&args.location, &args.database, &args.since)?;
    let mut stdout = crate::output::stdout();
    stdout.write_all(ddl.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Plans `sql` and refuses, before anything runs, every statement that creates, changes or
/// writes: DDL (`CREATE [EXTERNAL] TABLE`, `CREATE VIEW`, `DROP`), DML (`INSERT`, `COPY … TO`,
/// which would write with the store's credentials) and session statements (`SET`,
/// transactions, `PREPARE`). The check walks the whole plan, subqueries and the inside of
/// `EXPLAIN ANALYZE` included.
async fn read_only_sql(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
) -> Result<datafusion::dataframe::DataFrame> {
    let plan = ctx
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(bad_input)?;
    ecrgc_engine::read_only().verify_plan(&plan).map_err(|e| {
        bad_input(format!(
            "`ecrgc query` only reads; the SQL would create, change or write something: {e}"
        ))
    })?;
    Ok(ctx.execute_logical_plan(plan).await?)
}

/// The SQL of `ecrgc query`: the argument, standard input (`-`) or `--file`.
fn query_text(args: &QueryArgs) -> Result<String> {
    let text = match (&args.sql, &args.file) {
        (_, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| bad_input(format!("cannot read --file {}: {e}", path.display())))?,
        (Some(sql), None) if sql == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| bad_input(format!("cannot read SQL from standard input: {e}")))?;
            text
        }
        (Some(sql), None) => sql.clone(),
        (None, None) => return Err(bad_input("give SQL, `-` for standard input, or --file")),
    };
    if text.trim().is_empty() {
        return Err(bad_input("the SQL is empty"));
    }
    Ok(text)
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
    if let Some(why) = ecrgc_model::image_ref::parse_image_ref(&args.image).parse_error {
        return Err(bad_input(format!(
            "{:?} names an ECR registry but is not a valid image reference: {why}",
            args.image
        )));
    }
    if keys.is_empty() {
        return Err(bad_input(format!(
            "no image {:?} in run {} of {}",
            args.image,
            run.run_id,
            store.display()
        )));
    }
    ecrgc_report::explain::install_decisions(&ctx, &planner).await?;
    let mut stdout = crate::output::stdout();
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
    let mut stdout = crate::output::stdout();
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
