//! Running the catalog: views, then rules and guards, then the decision step.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;

use crate::catalog::{Catalog, SqlKind, SqlUnit};
use crate::{Context, EngineError, Result};

/// Every status a decision row can carry.
pub const DECISION_STATUSES: &[&str] = &["delete", "not_opted_in", "protected", "kept_with_parent"];

/// The last step of `sql/plan/`, whose rows are the decisions; the other files of
/// `sql/plan/` are steps it reads.
pub const DECISIONS: &str = "decisions";

/// Columns every rule and guard returns, in this order.
pub const KEY_COLUMNS: &[&str] = &["account_id", "region", "repository_name", "image_digest"];

/// Installs a catalog into a session and computes decisions.
#[derive(Debug, Clone)]
pub struct Planner {
    catalog: Catalog,
}

impl Planner {
    /// A planner over a catalog.
    pub fn new(catalog: Catalog) -> Self {
        Self { catalog }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Registers the shared views, one view per rule (`rule_<id>`, switched off or not, so
    /// any rule can be inspected) and guard (`guard_<id>`), the `candidates` (switched-on
    /// rules only) and `protections` tables, and the steps of `sql/plan/` before
    /// `decisions` under their ids (`flagged`, `guarded`, `edges`, `children`). With
    /// `materialize`, candidates, protections and those steps are computed once and held in
    /// memory (a plan); without it they stay views that follow later inserts (fixtures).
    pub async fn install(&self, ctx: &SessionContext, materialize: bool) -> Result<()> {
        for unit in self.catalog.of(SqlKind::View) {
            register_view(ctx, &unit.id, unit).await?;
        }
        for (kind, prefix, table, id_col, order_col) in [
            (SqlKind::Rule, "rule", "candidates", "rule_id", "rule_order"),
            (
                SqlKind::Guard,
                "guard",
                "protections",
                "guard_id",
                "guard_order",
            ),
        ] {
            let mut parts = Vec::new();
            for unit in self.catalog.of(kind) {
                let name = format!("{prefix}_{}", unit.id);
                let df = register_view(ctx, &name, unit).await?;
                check_output(unit, &df)?;
                if !unit.enabled {
                    continue;
                }
                parts.push(format!(
                    "SELECT account_id, region, repository_name, image_digest, \
                     '{id}' AS {id_col}, CAST({order} AS BIGINT) AS {order_col}, \
                     CAST(detail AS VARCHAR) AS detail FROM {name}",
                    id = unit.id,
                    order = unit.order,
                ));
            }
            if parts.is_empty() {
                parts.push(format!(
                    "SELECT CAST(NULL AS VARCHAR) AS account_id, CAST(NULL AS VARCHAR) AS region, \
                     CAST(NULL AS VARCHAR) AS repository_name, CAST(NULL AS VARCHAR) AS image_digest, \
                     CAST(NULL AS VARCHAR) AS {id_col}, CAST(NULL AS BIGINT) AS {order_col}, \
                     CAST(NULL AS VARCHAR) AS detail WHERE FALSE"
                ));
            }
            let union = parts.join("\nUNION ALL\n");
            let df = ctx
                .sql(&union)
                .await
                .context(|| format!("cannot combine the {prefix}s into {table}"))?;
            register_result(ctx, table, df, materialize)
                .await
                .context(|| format!("running the {prefix}s failed"))?;
        }
        // The steps of the decision before `decisions` itself, in order. decisions.sql reads
        // each of them several times, and DataFusion recomputes a CTE or a view at every
        // reference, so a plan computes them once (benches/README.md has the profile).
        for unit in self.catalog.of(SqlKind::Plan).filter(|u| u.id != DECISIONS) {
            let df = ctx
                .sql(unit.query())
                .await
                .context(|| format!("{} does not plan", unit.path))?;
            register_result(ctx, &unit.id, df, materialize)
                .await
                .context(|| format!("running {} failed", unit.path))?;
        }
        Ok(())
    }

    /// Drops what [`Planner::install`] held in memory (candidates, protections and the plan
    /// steps), once the decision rows have been read: what runs next (the report) gets the
    /// memory back.
    pub fn release(&self, ctx: &SessionContext) -> Result<()> {
        for name in ["candidates", "protections"] {
            ctx.deregister_table(name)?;
        }
        for unit in self.catalog.of(SqlKind::Plan).filter(|u| u.id != DECISIONS) {
            ctx.deregister_table(unit.id.as_str())?;
        }
        Ok(())
    }

    /// The decision rows, ordered for the manifest (see `sql/plan/decisions.sql`).
    pub async fn decisions(&self, ctx: &SessionContext) -> Result<DataFrame> {
        let unit = self
            .catalog
            .of(SqlKind::Plan)
            .find(|u| u.id == DECISIONS)
            .ok_or_else(|| EngineError::InvalidSql {
                path: "sql/plan".into(),
                reason: "no decisions.sql".into(),
            })?;
        ctx.sql(unit.query())
            .await
            .context(|| format!("{} does not plan", unit.path))
    }
}

/// Registers `df` as `name`: computed now and held in memory (`materialize`), or as a view.
async fn register_result(
    ctx: &SessionContext,
    name: &str,
    df: DataFrame,
    materialize: bool,
) -> datafusion::error::Result<()> {
    let _ = ctx.deregister_table(name)?;
    if materialize {
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        let mem = MemTable::try_new(schema, vec![batches])?;
        ctx.register_table(name, Arc::new(mem))?;
    } else {
        ctx.register_table(name, df.into_view())?;
    }
    Ok(())
}

async fn register_view(ctx: &SessionContext, name: &str, unit: &SqlUnit) -> Result<DataFrame> {
    let df = ctx
        .sql(unit.query())
        .await
        .context(|| format!("{} does not plan", unit.path))?;
    let _ = ctx.deregister_table(name)?;
    ctx.register_table(name, df.clone().into_view())?;
    Ok(df)
}

/// Rules and guards must return the image key and a `detail` string.
fn check_output(unit: &SqlUnit, df: &DataFrame) -> Result<()> {
    let schema = df.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut expected: Vec<&str> = KEY_COLUMNS.to_vec();
    expected.push("detail");
    if names != expected {
        return Err(EngineError::InvalidSql {
            path: unit.path.clone(),
            reason: format!(
                "returns columns ({}); a {} returns ({})",
                names.join(", "),
                if unit.kind == SqlKind::Rule {
                    "rule"
                } else {
                    "guard"
                },
                expected.join(", ")
            ),
        });
    }
    for field in schema.fields() {
        let textual = matches!(
            field.data_type(),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
        );
        if !textual {
            return Err(EngineError::InvalidSql {
                path: unit.path.clone(),
                reason: format!(
                    "column {} is {}, expected a string",
                    field.name(),
                    field.data_type()
                ),
            });
        }
    }
    Ok(())
}
