//! Running the catalog: views, then rules and guards, then the decision step.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;

use crate::catalog::{Catalog, SqlKind, SqlUnit};
use crate::query::unit_frame;
use crate::{Context, EngineError, Result};

pub use ecrgc_model::vocabulary::DECISION_STATUSES;

/// The last step of `sql/plan/`, whose rows are the decisions; the other files of
/// `sql/plan/` are steps it reads.
pub const DECISIONS: &str = "decisions";

/// Steps of `sql/plan/` that run on the decision rows of a round, or around the rounds,
/// rather than before `decisions`.
pub const AFTER_DECISIONS: &[&str] = &[REPLICAS_KEPT, REPLICAS_PRESENT];

/// The step after `decisions` listing the replicas a round keeps (`sql/plan/replicas_kept.sql`).
pub const REPLICAS_KEPT: &str = "replicas_kept";

/// The step listing every present replica under delete replication
/// (`sql/plan/replicas_present.sql`): none, no rounds; rounds that do not settle hold them all.
pub const REPLICAS_PRESENT: &str = "replicas_present";

/// The view of every rule's and guard's rows, switched on or not, with the unit that found
/// them (see [`Planner::register_findings`]).
pub const FINDINGS: &str = "findings";

/// The table the `replica_kept` guard reads: replicas known to stay, filled by the engine
/// round after round (empty in the first round).
pub const REPLICA_HOLDS: &str = "replica_holds";

/// Decision rounds before the plan gives up settling replicas and holds every source with a
/// present replica (a replication chain longer than this is the only way to reach it).
pub const MAX_REPLICA_ROUNDS: usize = 16;

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
    ///
    /// With `materialize`, the replicas that delete replication links to their sources are
    /// settled too: the decision step runs, the replicas it keeps become `replica_holds`,
    /// and the guards and steps run again until no more are held (see
    /// `sql/guards/replica_kept.sql`). Without it, `replica_holds` is whatever the session
    /// holds (fixtures insert their own rows).
    pub async fn install(&self, ctx: &SessionContext, materialize: bool) -> Result<()> {
        if !ctx.table_exist(REPLICA_HOLDS)? {
            let holds = MemTable::try_new(replica_holds_schema(), vec![vec![]])?;
            ctx.register_table(REPLICA_HOLDS, Arc::new(holds))?;
        }
        for unit in self.catalog.of(SqlKind::View) {
            register_view(ctx, &unit.id, unit).await?;
        }
        self.install_guarded(ctx, materialize).await?;
        if materialize {
            self.settle_replicas(ctx).await?;
        }
        Ok(())
    }

    /// Rules, guards and the steps before `decisions`.
    async fn install_guarded(&self, ctx: &SessionContext, materialize: bool) -> Result<()> {
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
        for unit in self.before_decisions() {
            let df = unit_frame(ctx, unit).await?;
            register_result(ctx, &unit.id, df, materialize)
                .await
                .context(|| format!("running {} failed", unit.path))?;
        }
        Ok(())
    }

    /// The steps of `sql/plan/` that `decisions` reads, in order.
    fn before_decisions(&self) -> impl Iterator<Item = &SqlUnit> {
        self.catalog
            .of(SqlKind::Plan)
            .filter(|u| u.id != DECISIONS && !AFTER_DECISIONS.contains(&u.id.as_str()))
    }

    /// Runs decision rounds until the replicas kept stop growing (see [`Planner::install`]).
    async fn settle_replicas(&self, ctx: &SessionContext) -> Result<()> {
        let plan_step = |id: &str| self.catalog.of(SqlKind::Plan).find(|u| u.id == id);
        let (Some(step), Some(present)) = (plan_step(REPLICAS_KEPT), plan_step(REPLICAS_PRESENT))
        else {
            return Ok(());
        };
        if !ctx.table_exist("replicas")? {
            return Ok(());
        }
        // No present replica under a delete-replicating rule: nothing links two decisions.
        let every_replica = unit_frame(ctx, present)
            .await?
            .collect()
            .await
            .context(|| format!("running {} failed", present.path))?;
        if every_replica.iter().all(|b| b.num_rows() == 0) {
            return Ok(());
        }
        let mut held = 0;
        for _ in 0..MAX_REPLICA_ROUNDS {
            let decisions = self.decisions(ctx).await?;
            register_result(ctx, DECISIONS, decisions, true)
                .await
                .context(|| "running a decision round failed".to_owned())?;
            let batches = unit_frame(ctx, step)
                .await?
                .collect()
                .await
                .context(|| format!("running {} failed", step.path))?;
            ctx.deregister_table(DECISIONS)?;
            let now_held: usize = batches.iter().map(|b| b.num_rows()).sum();
            // Holds only grow from round to round, so an equal count is the fixed point.
            if now_held == held {
                return Ok(());
            }
            held = now_held;
            set_replica_holds(ctx, &batches)?;
            self.install_guarded(ctx, true).await?;
        }
        // Not settled: every present replica holds its source.
        set_replica_holds(ctx, &every_replica)?;
        self.install_guarded(ctx, true).await
    }

    /// Registers the view [`FINDINGS`]: the rows of every rule and guard view, switched on
    /// or not, each with `unit_kind` (`rule` or `guard`) and `unit_id`, for `ecrgc explain`
    /// (`sql/explain/findings.sql`). [`Planner::install`] must have run.
    pub async fn register_findings(&self, ctx: &SessionContext) -> Result<()> {
        let mut parts = Vec::new();
        for (kind, prefix) in [(SqlKind::Rule, "rule"), (SqlKind::Guard, "guard")] {
            for unit in self.catalog.of(kind) {
                parts.push(format!(
                    "SELECT '{prefix}' AS unit_kind, '{id}' AS unit_id, account_id, region, \
                     repository_name, image_digest, CAST(detail AS VARCHAR) AS detail \
                     FROM {prefix}_{id}",
                    id = unit.id,
                ));
            }
        }
        if parts.is_empty() {
            parts.push(
                "SELECT CAST(NULL AS VARCHAR) AS unit_kind, CAST(NULL AS VARCHAR) AS unit_id, \
                 CAST(NULL AS VARCHAR) AS account_id, CAST(NULL AS VARCHAR) AS region, \
                 CAST(NULL AS VARCHAR) AS repository_name, \
                 CAST(NULL AS VARCHAR) AS image_digest, CAST(NULL AS VARCHAR) AS detail \
                 WHERE FALSE"
                    .to_owned(),
            );
        }
        let df = ctx
            .sql(&parts.join("\nUNION ALL\n"))
            .await
            .context(|| "cannot combine the rules and guards into findings".to_owned())?;
        let _ = ctx.deregister_table(FINDINGS)?;
        ctx.register_table(FINDINGS, df.into_view())?;
        Ok(())
    }

    /// Drops what [`Planner::install`] held in memory (candidates, protections and the plan
    /// steps), once the decision rows have been read: what runs next (the report) gets the
    /// memory back.
    pub fn release(&self, ctx: &SessionContext) -> Result<()> {
        for name in ["candidates", "protections"] {
            ctx.deregister_table(name)?;
        }
        for unit in self.before_decisions() {
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
        unit_frame(ctx, unit).await
    }
}

/// The schema of `replica_holds`: the replica's key and why it stays.
pub fn replica_holds_schema() -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{Field, Schema};
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("account_id"),
        text("region"),
        text("repository_name"),
        text("image_digest"),
        text("reason"),
    ]))
}

/// Replaces `replica_holds` with `batches` (five string columns, in the table's order).
fn set_replica_holds(ctx: &SessionContext, batches: &[arrow::array::RecordBatch]) -> Result<()> {
    let schema = replica_holds_schema();
    let mut rows = Vec::with_capacity(batches.len());
    for b in batches {
        let columns = b
            .columns()
            .iter()
            .map(|c| arrow::compute::cast(c, &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.push(arrow::array::RecordBatch::try_new(schema.clone(), columns)?);
    }
    ctx.deregister_table(REPLICA_HOLDS)?;
    ctx.register_table(
        REPLICA_HOLDS,
        Arc::new(MemTable::try_new(schema, vec![rows])?),
    )?;
    Ok(())
}

/// Registers `df` as `name`: computed now and held (`materialize`: in memory, or on disk
/// beyond the memory pool), or as a view.
async fn register_result(
    ctx: &SessionContext,
    name: &str,
    df: DataFrame,
    materialize: bool,
) -> datafusion::error::Result<()> {
    let _ = ctx.deregister_table(name)?;
    if materialize {
        // In memory within the session's pool, else on disk (see `materialize.rs`).
        let table = crate::materialize::materialize(ctx, name, df).await?;
        ctx.register_table(name, table)?;
    } else {
        ctx.register_table(name, df.into_view())?;
    }
    Ok(())
}

async fn register_view(ctx: &SessionContext, name: &str, unit: &SqlUnit) -> Result<DataFrame> {
    let df = unit_frame(ctx, unit).await?;
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
