//! Running one SQL unit or query: planned read-only, so that a file of `sql/` can only read.

use arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::{SQLOptions, SessionContext};

use crate::catalog::{SqlKind, SqlUnit};
use crate::{Context, EngineError, Result};

/// SQL that only reads: no DDL (`CREATE [EXTERNAL] TABLE`, `CREATE VIEW`, `DROP`), no DML
/// (`INSERT`, `COPY … TO`) and no statements (`SET`, transactions, `PREPARE`). `ecrgc query`
/// and every unit of the catalog are planned under it: DataFusion runs DDL and `SET` while
/// planning, and a `COPY` would write with the store's credentials.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// The unit's query, planned read-only: a rule, guard, view or step that would create,
/// change or write something is invalid SQL, refused before it runs.
pub(crate) async fn unit_frame(ctx: &SessionContext, unit: &SqlUnit) -> Result<DataFrame> {
    let plan = ctx
        .state()
        .create_logical_plan(unit.query())
        .await
        .context(|| format!("{} does not plan", unit.path))?;
    read_only()
        .verify_plan(&plan)
        .map_err(|e| EngineError::InvalidSql {
            path: unit.path.clone(),
            reason: format!("a SQL unit only reads: {e}"),
        })?;
    ctx.execute_logical_plan(plan)
        .await
        .context(|| format!("{} does not plan", unit.path))
}

/// Runs one query of [`crate::QUERIES`] and collects its rows. Planned read-only, like
/// every unit of the catalog.
pub async fn run_query(ctx: &SessionContext, kind: SqlKind, id: &str) -> Result<Vec<RecordBatch>> {
    let unit = crate::catalog::query(kind, id)?;
    unit_frame(ctx, &unit)
        .await?
        .collect()
        .await
        .context(|| format!("running {} failed", unit.path))
}
