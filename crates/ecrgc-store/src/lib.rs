//! The snapshot store.
//!
//! A store is a local folder (the embedded default), an in-memory store (tests) or
//! `s3://bucket/prefix` (production), all through `object_store`, laid out so that DataFusion,
//! DuckDB and Athena read it as Hive-partitioned Parquet:
//!
//! ```text
//! <root>/<table>/dt=YYYY-MM-DD/run=<run_id>/part-00000.parquet
//! <root>/_runs/<run_id>.json          commit marker, written last
//! ```
//!
//! A sharded run (`collect --shard i/n`) is written by several processes: each attempt of a
//! shard writes below `_shards/<name>/attempts/`, records the finished shard under
//! `_shards/<name>/<i>of<n>.json`, and the last shard to finish moves the recorded attempts'
//! files into the run's folders and commits (see the `run` module; `shard` holds the records).
//!
//! A run becomes visible only when its commit marker exists. The marker is created with a
//! create-if-absent put, so a committed run can never be committed (or rewritten) twice, and a
//! run that crashed before its marker leaves files that no reader ever lists.

mod location;
mod marker;
mod run;
mod shard;

pub use location::Store;
pub use marker::{RunMarker, TableStats};
pub use run::RunWriter;
pub use shard::{ShardOutcome, ShardScope};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store location cannot be used.
    #[error("invalid store location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// Why it is refused.
        reason: String,
    },
    /// The object store failed.
    #[error(transparent)]
    ObjectStore(#[from] object_store::Error),
    /// Writing Parquet failed.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A batch did not match its table.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// A table name that is not part of the data model.
    #[error("unknown table {0:?}")]
    UnknownTable(String),
    /// A batch whose schema is not the table's.
    #[error("batch written to table {table} does not have the table's schema")]
    SchemaMismatch {
        /// The table.
        table: String,
    },
    /// The run's commit marker exists already.
    #[error("run {0} is already committed; committed runs are never rewritten")]
    AlreadyCommitted(String),
    /// A sharded run that cannot be started or finished as asked.
    #[error("sharded run {name:?}: {reason}")]
    InvalidShard {
        /// The run name the shards share.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// A commit marker that cannot be read.
    #[error("corrupt commit marker {path}: {source}")]
    CorruptMarker {
        /// Marker path.
        path: String,
        /// Parse error.
        #[source]
        source: serde_json::Error,
    },
    /// Flushing a file of a local store to disk failed.
    #[error("cannot flush {path} to disk: {source}")]
    Sync {
        /// The file or folder.
        path: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A table writer task ended abnormally.
    #[error("writer for table {table} failed: {reason}")]
    WriterFailed {
        /// The table.
        table: String,
        /// What happened.
        reason: String,
    },
}

/// Result alias of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
