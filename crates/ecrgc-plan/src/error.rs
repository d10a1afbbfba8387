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
    /// The plan ran out of the engine's memory limit with hash joins, and again with
    /// sort-merge joins.
    #[error(
        "the plan needs more memory than the engine's limit of {limit} allows, even with joins \
         that spill to disk: raise `[engine] memory_limit` (or give the process more memory)"
    )]
    OutOfMemory {
        /// The limit, as configured or as derived from the machine.
        limit: String,
        /// The second attempt's error.
        #[source]
        source: Box<PlanError>,
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
            | Self::OutOfMemory { .. }
            | Self::RecordPlan { .. }
            | Self::RecordLifecyclePlan { .. }
            | Self::ReadFacts(_)
            | Self::Io { .. } => None,
        }
    }

    /// Whether the engine ran out of its memory pool (`[engine] memory_limit`), which a plan
    /// answers by running again with joins that spill. A transparent variant hides the error
    /// it wraps from `source()`, so it is opened first ([`PlanError::transparent`]), and so
    /// are the report's own.
    pub fn is_resources_exhausted(&self) -> bool {
        use ecrgc_engine::is_resources_exhausted as exhausted;
        use ecrgc_report::ReportError;
        let inner: &(dyn std::error::Error + 'static) = match self {
            Self::Planning { source, .. } => source,
            other => other.transparent().unwrap_or(other),
        };
        match inner.downcast_ref::<ReportError>() {
            Some(ReportError::DataFusion(e)) => exhausted(e),
            Some(ReportError::Engine(e)) => exhausted(e),
            _ => exhausted(inner),
        }
    }
}

/// Result alias of the plan workflow.
pub type Result<T, E = PlanError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use datafusion::error::DataFusionError;
    use ecrgc_report::ReportError;

    use super::PlanError;

    fn exhausted() -> DataFusionError {
        DataFusionError::ResourcesExhausted("Failed to allocate 1 MB for HashJoinInput".into())
    }

    #[test]
    fn running_out_of_the_pool_is_recognised_through_every_wrapping() {
        let planning = |source| PlanError::Planning {
            run_id: "r".into(),
            source,
        };
        let engine = || ecrgc_engine::EngineError::DataFusion {
            context: "running guarded failed".into(),
            source: DataFusionError::Context("join".into(), Box::new(exhausted())),
        };
        for e in [
            planning(ReportError::DataFusion(exhausted())),
            planning(ReportError::Engine(engine())),
            PlanError::Engine(engine()),
            PlanError::Report(ReportError::DataFusion(DataFusionError::Shared(
                std::sync::Arc::new(exhausted()),
            ))),
            PlanError::DataFusion(exhausted()),
        ] {
            assert!(e.is_resources_exhausted(), "{e:?}");
        }
        for e in [
            planning(ReportError::DataFusion(DataFusionError::Plan(
                "no such column".into(),
            ))),
            PlanError::bad_input("nope"),
            planning(ReportError::MissingColumn("status".into())),
        ] {
            assert!(!e.is_resources_exhausted(), "{e:?}");
        }
    }
}
