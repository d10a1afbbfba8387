//! The `committed_runs` table: the commit markers of a store, one JSON object per run in
//! `_runs/<run_id>.json`. A run is visible to every reader only once its marker exists, so
//! the markers are the list of committed runs that history views join against.
//!
//! The store writes the markers (`ecrgc_store::RunMarker`, whose fields must be these
//! columns, plus its `format` version and per-table `tables` counts, which are not
//! columns); `ecrgc athena-ddl` declares them as a table from [`COLUMNS`].

use arrow::datatypes::DataType;

/// The table's name.
pub const NAME: &str = "committed_runs";

/// The folder of the commit markers below the store root.
pub const MARKERS_FOLDER: &str = "_runs";

/// One column of `committed_runs`: a field of every commit marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunColumn {
    /// The column and JSON field name.
    pub name: &'static str,
    /// What it holds.
    pub doc: &'static str,
    /// `true` for a number (`Int64`), `false` for text (`Utf8`).
    pub integer: bool,
}

impl RunColumn {
    /// The Arrow type of the column.
    pub fn data_type(&self) -> DataType {
        if self.integer {
            DataType::Int64
        } else {
            DataType::Utf8
        }
    }
}

const fn text(name: &'static str, doc: &'static str) -> RunColumn {
    RunColumn {
        name,
        doc,
        integer: false,
    }
}

/// The columns, in the order they are declared.
pub const COLUMNS: &[RunColumn] = &[
    text("run_id", "Run identifier."),
    text("snapshot_time", "The instant the run describes, RFC 3339."),
    RunColumn {
        name: "snapshot_time_micros",
        doc: "The same instant in microseconds since the epoch.",
        integer: true,
    },
    text("dt", "The `dt` partition value of the run's files."),
    text("started_at", "When writing started (wall clock), RFC 3339."),
    text(
        "committed_at",
        "When the run was committed (wall clock), RFC 3339.",
    ),
    text("origin", "`collect` or `demo`."),
];
