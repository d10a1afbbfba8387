//! Holding a computed step (`candidates`, `protections`, the steps of `sql/plan/`) for the
//! rest of a plan: in memory while the session's memory pool has room for it, on disk once
//! it has not.
//!
//! A step held in memory takes its bytes from the pool like any operator, so the limit of
//! `[engine] memory_limit` covers it; the step that does not fit is written, whole, to an
//! uncompressed Parquet file in the spill folder (`[engine] spill_dir`) and read back from
//! there by every query that uses it. The file goes when the table is dropped.
//!
//! Held steps take at most half the pool, so that the operators of later queries find room.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::Statistics;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SpillFile;
use datafusion::execution::context::SessionContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryReservation};
use datafusion::logical_expr::TableProviderFilterPushDown;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{Expr, ParquetReadOptions};
use futures::StreamExt;

/// Computes `df` and returns it as a table: in memory, its bytes reserved from the session's
/// pool, or, when the pool refuses them, in a Parquet file of the session's spill folder.
pub(crate) async fn materialize(
    ctx: &SessionContext,
    name: &str,
    df: DataFrame,
) -> Result<Arc<dyn TableProvider>> {
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let runtime = ctx.runtime_env();
    let reservation =
        MemoryConsumer::new(format!("ecrgc step {name}")).register(&runtime.memory_pool);
    let mut stream = df.execute_stream().await?;
    // Held steps live until the decisions are written, the operators that read them only
    // for one query: the steps may take half the pool, the operators keep the rest.
    let budget = match runtime.memory_pool.memory_limit() {
        MemoryLimit::Finite(limit) => limit / 2,
        MemoryLimit::Infinite | MemoryLimit::Unknown => usize::MAX,
    };
    let mut held = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let size = batch.get_array_memory_size();
        if runtime.memory_pool.reserved().saturating_add(size) <= budget
            && reservation.try_grow(size).is_ok()
        {
            held.push(batch);
            continue;
        }
        // The pool is full: the step goes to disk, what was held first.
        let file = runtime
            .disk_manager
            .create_tmp_file(&format!("ecrgc step {name}"))?;
        let path = file.path().map(Path::to_owned).ok_or_else(|| {
            DataFusionError::Execution(format!(
                "cannot hold step {name} on disk: the spill folder keeps no local files"
            ))
        })?;
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&path)?, schema.clone(), None)?;
        for b in held.drain(..) {
            writer.write(&b)?;
        }
        reservation.free();
        writer.write(&batch)?;
        while let Some(batch) = stream.next().await {
            writer.write(&batch?)?;
        }
        writer.close()?;
        let path = path.display().to_string();
        let options = ParquetReadOptions {
            // The spill folder's files carry no extension.
            file_extension: "",
            schema: Some(&schema),
            ..Default::default()
        };
        let table = ctx.read_parquet(path, options).await?.into_view();
        return Ok(Arc::new(Held {
            inner: table,
            _hold: Hold::Disk(file),
        }));
    }
    let table = MemTable::try_new(schema, vec![held])?;
    Ok(Arc::new(Held {
        inner: Arc::new(table),
        _hold: Hold::Memory(reservation),
    }))
}

/// What keeps a materialized step's data accounted for or alive.
enum Hold {
    /// Its bytes, reserved from the pool until the table is dropped.
    Memory(#[allow(dead_code)] MemoryReservation),
    /// Its file, deleted when the table is dropped.
    Disk(#[allow(dead_code)] Arc<dyn SpillFile>),
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory(r) => write!(f, "Memory({} bytes)", r.size()),
            Self::Disk(file) => write!(f, "Disk({:?})", file.path()),
        }
    }
}

/// A materialized step: the table and what it holds.
#[derive(Debug)]
struct Held {
    inner: Arc<dyn TableProvider>,
    _hold: Hold,
}

#[async_trait]
impl TableProvider for Held {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::SessionConfig;

    use super::*;

    async fn count(ctx: &SessionContext, table: Arc<dyn TableProvider>) -> Vec<i64> {
        let _ = ctx.deregister_table("t");
        ctx.register_table("t", table).expect("registers");
        let batches = ctx
            .sql("SELECT SUM(v), COUNT(*) FROM t")
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let b = &batches[0];
        (0..2)
            .map(|c| {
                arrow::compute::cast(b.column(c), &arrow::datatypes::DataType::Int64)
                    .expect("int")
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .expect("int")
                    .value(0)
            })
            .collect()
    }

    fn context(pool_bytes: usize, spill: &Path) -> SessionContext {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(pool_bytes)))
            .with_temp_file_path(spill)
            .build_arc()
            .expect("runtime");
        SessionContext::new_with_config_rt(SessionConfig::new().with_batch_size(1024), runtime)
    }

    /// Files anywhere under `dir`.
    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() { files(&p) } else { 1 }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }

    /// The numbers 1 to 100,000 as table `src`, in batches of 1,000.
    fn source(ctx: &SessionContext) -> DataFrame {
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("v", arrow::datatypes::DataType::Int64, false),
        ]));
        let batches = (0..100)
            .map(|k| {
                let values: Vec<i64> = (k * 1000 + 1..=(k + 1) * 1000).collect();
                arrow::array::RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(arrow::array::Int64Array::from(values))],
                )
                .expect("batch")
            })
            .collect();
        let src = MemTable::try_new(schema, vec![batches]).expect("table");
        ctx.read_table(Arc::new(src)).expect("reads")
    }

    #[tokio::test]
    async fn a_step_that_fits_stays_in_memory_and_one_that_does_not_goes_to_disk() {
        let spill = tempfile::tempdir().expect("tempdir");
        let expected = vec![5_000_050_000, 100_000];

        let roomy = context(1 << 30, spill.path());
        let df = source(&roomy);
        let table = materialize(&roomy, "roomy", df).await.expect("held");
        assert!(roomy.runtime_env().memory_pool.reserved() > 0);
        assert_eq!(files(spill.path()), 0);
        assert_eq!(count(&roomy, table).await, expected);

        let tight = context(64 << 10, spill.path());
        let df = source(&tight);
        let table = materialize(&tight, "tight", df).await.expect("spilled");
        assert_eq!(tight.runtime_env().memory_pool.reserved(), 0);
        assert_eq!(files(spill.path()), 1, "one spill file");
        assert_eq!(count(&tight, table.clone()).await, expected);
        tight.deregister_table("t").expect("drops");
        drop(table);
        assert_eq!(files(spill.path()), 0, "the file goes with the table");
    }
}
