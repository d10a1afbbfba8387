//! The ecrgc engine.
//!
//! It owns the DataFusion session a plan runs in: the snapshot tables of one committed run,
//! the one-row `params` table every threshold is read from, the shared views of `sql/views/`,
//! the rules of `sql/rules/` (what may be unused), the guards of `sql/guards/` (what must be
//! kept) and the decision step of `sql/plan/` that combines them, closes over image indexes
//! and referrers, and yields one decision per image. The queries the reports and
//! `ecrgc explain` run over a plan live in `sql/report/` and `sql/explain/`, and the engine
//! compiles them in too (`catalog::QUERIES`): no query is written inside Rust but the few
//! lines that assemble the catalog's units into `candidates`, `protections` and `findings`.
//!
//! The SQL is plain, portable SQL: the same files run unchanged in DuckDB, so that users can
//! read them, run them elsewhere, and so that a second engine can check this one.

pub mod catalog;
mod materialize;
pub mod params;
pub mod plan;
mod pool;
pub mod query;
pub mod session;
pub mod string_agg;

pub use catalog::{Catalog, QUERIES, SqlKind, SqlUnit, queries, query};
pub use params::Params;
pub use plan::{
    AFTER_DECISIONS, DECISION_STATUSES, FINDINGS, MAX_REPLICA_ROUNDS, Planner, REPLICA_HOLDS,
    REPLICAS_KEPT, REPLICAS_PRESENT, replica_holds_schema,
};
pub use query::{read_only, run_query};
pub use session::{
    CURRENT_PLAN_TOTALS, EARLIER_PLAN_TOTALS, EngineOptions, LATEST_PREFIX, is_resources_exhausted,
    journal_schema, memory_available, new_context, new_context_with, register_batch,
    register_empty_tables, register_history, register_params, register_query_tables,
    register_report_params, register_run, register_runs, register_target,
};

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// DataFusion failed; the message names the SQL unit when one was running.
    #[error("{context}: {source}")]
    DataFusion {
        /// What was running.
        context: String,
        /// The error.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A SQL file that is not a valid rule, guard or view.
    #[error("{path}: {reason}")]
    InvalidSql {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading a SQL folder failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ecrgc_store::StoreError),
    /// Arrow failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

impl From<datafusion::error::DataFusionError> for EngineError {
    fn from(source: datafusion::error::DataFusionError) -> Self {
        Self::DataFusion {
            context: "query failed".into(),
            source,
        }
    }
}

/// Result alias of the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Attaches what was running to a DataFusion error.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, datafusion::error::DataFusionError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| EngineError::DataFusion {
            context: what(),
            source,
        })
    }
}
