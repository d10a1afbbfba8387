//! Building DataFusion sessions over the snapshot store.

use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{ParquetReadOptions, SessionConfig};
use ecrgc_model::all_tables;
use ecrgc_store::{RunMarker, Store};

use crate::params::Params;
use crate::{Context, Result};

/// A session configured for ecrgc's workloads.
pub fn new_context() -> SessionContext {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.execution.parquet.reorder_filters", true);
    let ctx = SessionContext::new_with_config(config);
    // Replaces DataFusion's `string_agg` for its ORDER BY form, which the decision step
    // uses on every image: same results, a groups accumulator instead of one boxed
    // accumulator per group (see `string_agg.rs`).
    ctx.register_udaf(crate::string_agg::ordered_string_agg());
    ctx
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
    register_store(ctx, store);
    for def in all_tables() {
        let name = format!("{HISTORY_PREFIX}{}", def.name);
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

/// Registers every table, and its `history_` twin, empty and writable (`INSERT INTO`), for
/// fixtures and tests.
pub fn register_empty_tables(ctx: &SessionContext) -> Result<()> {
    for def in all_tables() {
        let table = MemTable::try_new(def.schema(), vec![vec![]])?;
        ctx.register_table(def.name, Arc::new(table))?;
        let history = MemTable::try_new(def.schema(), vec![vec![]])?;
        ctx.register_table(format!("{HISTORY_PREFIX}{}", def.name), Arc::new(history))?;
    }
    let params = MemTable::try_new(Params::schema(), vec![vec![]])?;
    ctx.register_table("params", Arc::new(params))?;
    Ok(())
}

/// Registers (or replaces) the one-row `params` table.
pub fn register_params(ctx: &SessionContext, params: &Params) -> Result<()> {
    let _ = ctx.deregister_table("params")?;
    let table = MemTable::try_new(Params::schema(), vec![vec![params.to_batch()]])?;
    ctx.register_table("params", Arc::new(table))?;
    Ok(())
}
