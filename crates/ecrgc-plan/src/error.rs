//! The errors of the plan workflow.

/// Errors of the plan workflow.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The user's input (an argument, a plan folder) is wrong: exit status 2 in the CLI.
    #[error("{0}")]
    BadInput(String),
    /// The store holds no committed run to plan.
    #[error("no committed run in {store}: run `ecrgc collect` (or `ecrgc demo`) first")]
    NoRun {
        /// The store, as displayed.
        store: String,
    },
    /// The decision step or writing the plan's files failed.
    #[error("planning run {run_id}")]
    Planning {
        /// The run planned.
        run_id: String,
        /// What failed.
        #[source]
        source: ecrgc_report::ReportError,
    },
    /// The plan could not be recorded in the store; its manifest was removed.
    #[error(
        "recording the plan in the store {store} (the manifest was removed: apply would refuse it)"
    )]
    RecordPlan {
        /// The store, as displayed.
        store: String,
        /// What failed.
        #[source]
        source: ecrgc_store::StoreError,
    },
    /// The lifecycle plan could not be recorded in the store.
    #[error("recording the lifecycle plan in the store {store}")]
    RecordLifecyclePlan {
        /// The store, as displayed.
        store: String,
        /// What failed.
        #[source]
        source: ecrgc_store::StoreError,
    },
    /// Reading the snapshot facts `lifecycle suggest` needs failed.
    #[error("reading the snapshot")]
    ReadFacts(#[source] Box<PlanError>),
    /// A file or folder could not be created or written.
    #[error("cannot {action} {path}")]
    Io {
        /// `write`, `create`.
        action: &'static str,
        /// The file or folder.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] ecrgc_engine::EngineError),
    /// A report failed.
    #[error(transparent)]
    Report(#[from] ecrgc_report::ReportError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ecrgc_store::StoreError),
    /// DataFusion failed.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Writing Parquet failed.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Serializing or reading JSON failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Writing to standard output failed.
    #[error(transparent)]
    Write(#[from] std::io::Error),
}

impl PlanError {
    /// An error of the user's input.
    pub fn bad_input(message: impl std::fmt::Display) -> Self {
        Self::BadInput(message.to_string())
    }

    /// The error a transparent variant stands for, so that a caller deciding what an error
    /// means (an exit status) can look at it as if it had been returned directly.
    pub fn transparent(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Engine(e) => Some(e),
            Self::Report(e) => Some(e),
            Self::Store(e) => Some(e),
            Self::DataFusion(e) => Some(e),
            Self::Arrow(e) => Some(e),
            Self::Parquet(e) => Some(e),
            Self::Json(e) => Some(e),
            Self::Write(e) => Some(e),
            Self::BadInput(_)
            | Self::NoRun { .. }
            | Self::Planning { .. }
            | Self::RecordPlan { .. }
            | Self::RecordLifecyclePlan { .. }
            | Self::ReadFacts(_)
            | Self::Io { .. } => None,
        }
    }
}

/// Result alias of the plan workflow.
pub type Result<T, E = PlanError> = std::result::Result<T, E>;
