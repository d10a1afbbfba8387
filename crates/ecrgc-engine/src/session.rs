//! Building DataFusion sessions over the snapshot store.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{
    FairSpillPool, GreedyMemoryPool, MemoryPool, TrackConsumersPool,
};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{JsonReadOptions, ParquetReadOptions, SessionConfig};
use ecrgc_model::params::{
    REPORT_PARAMS, TARGET, TargetRow, report_params_batch, report_params_schema,
};
use ecrgc_model::{PlanTotalsBuilder, TableDef, all_tables, plan_tables};
use ecrgc_store::{RunMarker, Store};

use crate::params::Params;
use crate::{Context, EngineError, Result};

/// A session configured for ecrgc's workloads, with no memory limit (tests, fixtures).
pub fn new_context() -> SessionContext {
    session(session_config(false), Arc::new(RuntimeEnv::default()))
}

/// A session whose operators share `options.memory_limit` and spill to `options.spill_dir`
/// (see [`EngineOptions`]).
pub fn new_context_with(options: &EngineOptions) -> Result<SessionContext> {
    let mut runtime = RuntimeEnvBuilder::new();
    let pool_bytes = options.pool_bytes();
    if let Some(limit) = pool_bytes {
        // With hash joins, first come, first served: an operator that can spill (a sort,
        // an aggregate) spills when the pool is full, one that cannot (a hash join's build
        // side) fails, and the plan runs again with sort-merge joins. With those nearly every
        // large consumer can spill, and a greedy pool would let the first sorts take it all
        // and the next one's merge fail: DataFusion's FairSpillPool gives each spilling
        // operator an equal share instead. TrackConsumersPool names the largest consumers
        // when the pool runs out.
        let bytes = usize::try_from(limit).unwrap_or(usize::MAX);
        let top = NonZeroUsize::new(5).expect("5 > 0");
        let tracked: Arc<dyn MemoryPool> = if options.sort_merge_joins {
            Arc::new(TrackConsumersPool::new(FairSpillPool::new(bytes), top))
        } else {
            Arc::new(TrackConsumersPool::new(GreedyMemoryPool::new(bytes), top))
        };
        // ...and a nested-loop join is never refused its left side (see `pool.rs`).
        let pool = crate::pool::NoNestedLoopFallback::new(tracked);
        runtime = runtime.with_memory_pool(Arc::new(pool));
    }
    if let Some(dir) = &options.spill_dir {
        std::fs::create_dir_all(dir).map_err(|source| EngineError::Io {
            path: format!("engine.spill_dir {}", dir.display()),
            source,
        })?;
        runtime = runtime.with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![dir.clone()])),
        );
    }
    let runtime = runtime
        .build_arc()
        .context(|| "cannot set up the engine's memory pool and spill folder".to_owned())?;
    let mut config = session_config(options.sort_merge_joins);
    if let Some(limit) = pool_bytes {
        // What a sort sets aside to merge its spilled runs (DataFusion's default: 10 MB per
        // sort), scaled to the limit so that a small limit still leaves room to sort.
        let reserve = (limit / 32).min(DEFAULT_SORT_SPILL_RESERVATION);
        config = config.set_u64("datafusion.execution.sort_spill_reservation_bytes", reserve);
    }
    Ok(session(config, runtime))
}

/// DataFusion's default of `datafusion.execution.sort_spill_reservation_bytes`.
const DEFAULT_SORT_SPILL_RESERVATION: u64 = 10 * 1024 * 1024;

fn session_config(sort_merge_joins: bool) -> SessionConfig {
    SessionConfig::new()
        .with_information_schema(true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.reorder_filters", true)
        // Hash joins hold their whole build side and cannot spill; sort-merge joins can.
        .set_bool("datafusion.optimizer.prefer_hash_join", !sort_merge_joins)
}

fn session(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionContext {
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    // Replaces DataFusion's `string_agg` for its ORDER BY form, which the decision step
    // uses on every image: same results, a groups accumulator instead of one boxed
    // accumulator per group (see `string_agg.rs`).
    ctx.register_udaf(crate::string_agg::ordered_string_agg());
    ctx
}

/// How a session uses memory and disk: `[engine]` of the configuration, and the join
/// strategy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// Bytes the operators may hold; `None`: [`memory_available`], or no limit when that is
    /// unknown.
    pub memory_limit: Option<u64>,
    /// Where operators spill; `None`: the system's temporary folder.
    pub spill_dir: Option<PathBuf>,
    /// Sort-merge joins instead of hash joins: slower, but they spill, so a plan whose hash
    /// joins exceed the limit can run again with them ([`is_resources_exhausted`]).
    pub sort_merge_joins: bool,
}

impl EngineOptions {
    /// The options `[engine]` gives, with hash joins.
    pub fn from_config(engine: &ecrgc_config::EngineConfig) -> Self {
        Self {
            memory_limit: engine.memory_limit_bytes(),
            spill_dir: engine.spill_dir.clone(),
            sort_merge_joins: false,
        }
    }

    /// The pool's size: the limit set, else all the process may use. Only the engine's own
    /// reservations count against it, so without a limit set the pool is full only where the
    /// process would otherwise be killed for want of memory: there the plan retries with
    /// joins that spill, or stops with an error that names the setting.
    pub fn pool_bytes(&self) -> Option<u64> {
        self.memory_limit.or_else(memory_available)
    }
}

/// The memory this process may use: the machine's (`MemTotal` of `/proc/meminfo`) or, when
/// smaller, its container's (`memory.max` of cgroup v2, `memory.limit_in_bytes` of v1).
/// `None` where neither is readable (not Linux).
pub fn memory_available() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    });
    // "max" (v2) or a huge number (v1) means no limit of the container's own.
    let container = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .and_then(|t| t.trim().parse::<u64>().ok())
    .filter(|b| *b < (1 << 60));
    match (machine, container) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    }
}

/// Whether `err` (or an error it wraps) is DataFusion running out of the memory pool.
pub fn is_resources_exhausted(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        let df = e
            .downcast_ref::<DataFusionError>()
            .or_else(|| e.downcast_ref::<Arc<DataFusionError>>().map(|a| a.as_ref()));
        if let Some(df) = df
            && matches!(df.find_root(), DataFusionError::ResourcesExhausted(_))
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Registers the store's object store with the session so that its URLs resolve.
pub fn register_store(ctx: &SessionContext, store: &Store) {
    ctx.register_object_store(store.base_url(), store.object_store());
}

/// Registers every table of one committed run under its plain name (`images`, …).
pub async fn register_run(ctx: &SessionContext, store: &Store, run: &RunMarker) -> Result<()> {
    register_store(ctx, store);
    for def in all_tables() {
        let parts = run.table_parts(def.name);
        let url = store.folder_url(&[&parts[0], &parts[1], &parts[2]]);
        let schema = def.schema();
        let options = ParquetReadOptions {
            schema: Some(&schema),
            ..Default::default()
        };
        ctx.register_parquet(def.name, &url, options)
            .await
            .context(|| {
                format!(
                    "cannot open table {} of run {} at {url}",
                    def.name, run.run_id
                )
            })?;
    }
    Ok(())
}

/// Prefix of the history tables: `history_images` holds the images of every run in the
/// history window, each row with its `run_id` and `snapshot_time`.
pub const HISTORY_PREFIX: &str = "history_";

/// Registers `history_<table>` for every table, over the given committed runs (the
/// history window a plan looks back on; it includes the planned run itself).
pub async fn register_history(
    ctx: &SessionContext,
    store: &Store,
    runs: &[RunMarker],
) -> Result<()> {
    register_runs(ctx, store, runs, HISTORY_PREFIX, &all_tables()).await
}

/// Registers `<prefix><table>` for each of `tables`, over the files of the given committed
/// runs (an empty table when there are none). Runs are named folder by folder, so files of a
/// run that never committed are never read.
pub async fn register_runs(
    ctx: &SessionContext,
    store: &Store,
    runs: &[RunMarker],
    prefix: &str,
    tables: &[TableDef],
) -> Result<()> {
    register_store(ctx, store);
    for def in tables {
        let name = format!("{prefix}{}", def.name);
        let urls = runs
            .iter()
            .map(|run| {
                let parts = run.table_parts(def.name);
                ListingTableUrl::parse(store.folder_url(&[&parts[0], &parts[1], &parts[2]]))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .context(|| format!("cannot list history of {}", def.name))?;
        if urls.is_empty() {
            ctx.register_table(
                &name,
                Arc::new(MemTable::try_new(def.schema(), vec![vec![]])?),
            )?;
            continue;
        }
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(def.schema());
        let table = ListingTable::try_new(config).context(|| format!("cannot open {name}"))?;
        ctx.register_table(&name, Arc::new(table))?;
    }
    Ok(())
}

/// Prefix of the tables of the latest committed run in `ecrgc query`.
pub const LATEST_PREFIX: &str = "latest_";

/// Registers what `ecrgc query` offers: every snapshot and plan table over all committed
/// runs under its plain name (`images` is the whole history; each row carries its `run_id`
/// and `snapshot_time`), the same tables of `latest` as `latest_<table>`, and the executor's
/// journal as `journal`.
pub async fn register_query_tables(
    ctx: &SessionContext,
    store: &Store,
    runs: &[RunMarker],
    latest: &RunMarker,
) -> Result<()> {
    let mut tables = all_tables();
    tables.extend(plan_tables());
    register_runs(ctx, store, runs, "", &tables).await?;
    register_runs(
        ctx,
        store,
        std::slice::from_ref(latest),
        LATEST_PREFIX,
        &tables,
    )
    .await?;
    register_journal(ctx, store).await
}

/// The columns of the executor's journal lines (`journal/manifest_id=…/session=…/*.jsonl`),
/// as [`ecrgc_model::journal`] defines them; structured `detail` objects are left out.
pub fn journal_schema() -> SchemaRef {
    ecrgc_model::journal::schema()
}

/// Registers `journal`: every line every `apply` wrote to the store, `at` as a timestamp.
async fn register_journal(ctx: &SessionContext, store: &Store) -> Result<()> {
    let schema = journal_schema();
    let has_lines = !store.list_objects(&["journal"]).await?.is_empty();
    if has_lines {
        let options = JsonReadOptions {
            schema: Some(&schema),
            file_extension: ".jsonl",
            ..Default::default()
        };
        ctx.register_json("journal_lines", store.folder_url(&["journal"]), options)
            .await
            .context(|| format!("cannot open the journal of {}", store.display()))?;
    } else {
        ctx.register_table(
            "journal_lines",
            Arc::new(MemTable::try_new(schema, vec![vec![]])?),
        )?;
    }
    let columns = ecrgc_model::journal::column_names()
        .map(|name| match name {
            "at" => "CAST(at AS TIMESTAMP) AS at".to_owned(),
            name => name.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    ctx.sql(&format!(
        "CREATE VIEW journal AS SELECT {columns} FROM journal_lines"
    ))
    .await
    .context(|| "cannot create the journal view".to_owned())?;
    Ok(())
}

/// Registers every table, and its `history_` twin, empty and writable (`INSERT INTO`), for
/// fixtures and tests.
pub fn register_empty_tables(ctx: &SessionContext) -> Result<()> {
    for def in all_tables() {
        let table = MemTable::try_new(def.schema(), vec![vec![]])?;
        ctx.register_table(def.name, Arc::new(table))?;
        let history = MemTable::try_new(def.schema(), vec![vec![]])?;
        ctx.register_table(format!("{HISTORY_PREFIX}{}", def.name), Arc::new(history))?;
    }
    // A fixture that names its columns may leave the relation depth out: it has one value.
    let defaults = std::collections::HashMap::from([(
        ecrgc_model::params::RELATION_DEPTH_COLUMN.to_owned(),
        datafusion::prelude::lit(ecrgc_model::params::RELATION_DEPTH),
    )]);
    let params = MemTable::try_new(Params::schema(), vec![vec![]])?.with_column_defaults(defaults);
    ctx.register_table(ecrgc_model::params::PARAMS, Arc::new(params))?;
    let holds = MemTable::try_new(crate::plan::replica_holds_schema(), vec![vec![]])?;
    ctx.register_table(crate::plan::REPLICA_HOLDS, Arc::new(holds))?;
    // What the queries of the reports and `ecrgc explain` read besides the catalog.
    let empty = |schema: SchemaRef| -> Result<Arc<MemTable>> {
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?))
    };
    ctx.register_table(REPORT_PARAMS, empty(report_params_schema())?)?;
    ctx.register_table(TARGET, empty(TargetRow::schema())?)?;
    for name in [EARLIER_PLAN_TOTALS, CURRENT_PLAN_TOTALS] {
        ctx.register_table(name, empty(PlanTotalsBuilder::def().schema())?)?;
    }
    Ok(())
}

/// The `plan_totals` of the earlier runs of the trend window (`sql/report/trend.sql`).
pub const EARLIER_PLAN_TOTALS: &str = "earlier_plan_totals";

/// The `plan_totals` rows of the plan being reported (`sql/report/trend.sql`).
pub const CURRENT_PLAN_TOTALS: &str = "current_plan_totals";

/// Registers (or replaces) `name` as an in-memory table of `batch`.
pub fn register_batch(ctx: &SessionContext, name: &str, batch: RecordBatch) -> Result<()> {
    let _ = ctx.deregister_table(name)?;
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

/// Registers (or replaces) the one-row `report_params` the FinOps queries read.
pub fn register_report_params(ctx: &SessionContext, run_id: &str, owner_tag: &str) -> Result<()> {
    register_batch(ctx, REPORT_PARAMS, report_params_batch(run_id, owner_tag))
}

/// Registers (or replaces) the one-row `target` the queries of `ecrgc explain` read.
pub fn register_target(ctx: &SessionContext, target: &TargetRow<'_>) -> Result<()> {
    register_batch(ctx, TARGET, target.to_batch())
}

/// Registers (or replaces) the one-row `params` table.
pub fn register_params(ctx: &SessionContext, params: &Params) -> Result<()> {
    let _ = ctx.deregister_table(ecrgc_model::params::PARAMS)?;
    let table = MemTable::try_new(Params::schema(), vec![vec![params.to_batch()]])?;
    ctx.register_table(ecrgc_model::params::PARAMS, Arc::new(table))?;
    Ok(())
}
