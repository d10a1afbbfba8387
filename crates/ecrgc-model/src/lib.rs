//! The ecrgc data model.
//!
//! This crate owns the Arrow schema of every table a snapshot run contains: it is the one
//! place a column is defined. Writers (the demo generator, the collectors) append typed rows
//! through the generated `*Builder` types; readers (the engine, DuckDB, Athena) see the same
//! columns because the Parquet files are written from these schemas.
//!
//! Every row of every table carries the `run_id` and `snapshot_time` of the run it belongs
//! to, so a table read across many runs is a history without further joins.

pub mod column;
pub mod decisions;
pub mod format;
pub mod image_ref;
pub mod journal;
pub mod keys;
pub mod params;
pub mod plan_tables;
pub mod runs;
pub mod tables;
pub mod time;
pub mod vocabulary;

pub use column::TableDef;
pub use plan_tables::*;
pub use tables::*;
pub use vocabulary::{INDEX_MEDIA_TYPES, USAGE_SOURCES, is_index_media_type};
