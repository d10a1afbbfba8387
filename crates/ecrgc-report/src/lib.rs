//! ecrgc reports.
//!
//! This crate owns what a plan leaves behind in its output folder and prints: the summary
//! (`summary.json`, and the text on stdout), every decision with its evidence
//! (`decisions.csv`, `decisions.parquet`) and the deletion manifest (`manifest.json`). Files are written under
//! temporary names and renamed at the end, so a failed plan leaves no half-written report.
//! The decision rows stream once through writers running side by side (`writers`), and the
//! manifest is written as the items come, its header last, so no output is held in memory.

pub mod columns;
pub mod csv;
pub mod explain;
pub mod finops;
pub mod html;
pub mod output;
pub mod plan;
pub mod summary;
pub mod text;
mod writers;

pub use plan::{PlanContext, PlanOutput, write_plan};
pub use summary::{Summary, Totals};

/// Errors of the reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] ecrgc_engine::EngineError),
    /// DataFusion failed while streaming decisions.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Writing a report file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing Parquet failed.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Serializing JSON failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A writer's thread ended without a result (it panicked).
    #[error("the writer of {0} stopped unexpectedly")]
    WriterStopped(String),
    /// A decision row missing a column the report needs.
    #[error("decision rows have no column {0:?}")]
    MissingColumn(String),
}

/// Result alias of the reports.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;
