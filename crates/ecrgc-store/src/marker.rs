//! The commit marker of a run (`_runs/<run_id>.json`): what it records, the checks its
//! path-forming fields pass before use, and how run ids are made. The markers are the
//! `committed_runs` table of [`ecrgc_model::runs`].

use std::collections::BTreeMap;

use ecrgc_model::time::partition_date;
use serde::{Deserialize, Serialize};

/// Folder of the commit markers below the store root.
pub(crate) const MARKER_DIR: &str = ecrgc_model::runs::MARKERS_FOLDER;

/// Format version of the commit marker.
pub(crate) const MARKER_FORMAT: u32 = 1;

/// What a commit marker records about one table of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableStats {
    /// Rows written.
    pub rows: u64,
    /// Parquet files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// The commit marker of a run: its existence makes the run visible.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunMarker {
    /// Marker format version.
    pub format: u32,
    /// Run identifier.
    pub run_id: String,
    /// The instant the run describes, RFC 3339.
    pub snapshot_time: String,
    /// The same instant in microseconds since the epoch.
    pub snapshot_time_micros: i64,
    /// The `dt` partition value of the run.
    pub dt: String,
    /// When writing started (wall clock), RFC 3339.
    pub started_at: String,
    /// When the run was committed (wall clock), RFC 3339.
    pub committed_at: String,
    /// `collect` or `demo`.
    pub origin: String,
    /// Row, file and byte counts per table.
    pub tables: BTreeMap<String, TableStats>,
}

impl RunMarker {
    /// Checks the fields that become paths before they are used: the run id is 1 to 64
    /// letters, digits, `-` and `_` beginning with a letter or digit (never `..` or `/`), and
    /// `dt` is the `YYYY-MM-DD` date of the snapshot time.
    pub fn validate(&self) -> Result<(), String> {
        valid_run_id(&self.run_id)?;
        let dt = partition_date(self.snapshot_time_micros);
        if self.dt != dt {
            return Err(format!(
                "its dt {:?} is not the date of its snapshot time ({dt})",
                self.dt
            ));
        }
        Ok(())
    }

    /// The partition folder of `table` in this run, as path parts below the store root.
    pub fn table_parts(&self, table: &str) -> [String; 3] {
        partition_parts(table, &self.dt, &self.run_id)
    }
}

/// A run id that is safe as a file and folder name (see [`RunMarker::validate`]).
pub(crate) fn valid_run_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "its run_id {id:?} is not 1 to 64 letters, digits, '-' and '_' beginning with a \
             letter or digit"
        ))
    }
}

pub(crate) fn partition_parts(table: &str, dt: &str, run_id: &str) -> [String; 3] {
    [
        table.to_owned(),
        format!("dt={dt}"),
        format!("run={run_id}"),
    ]
}

/// `20261121T030000Z-1a2b3c`: sortable by snapshot time, unique by the suffix.
pub(crate) fn new_run_id(snapshot_time: i64, started_at: i64) -> String {
    let t = ecrgc_model::time::from_micros(snapshot_time).format("%Y%m%dT%H%M%SZ");
    format!("{t}-{}", unique_suffix(started_at))
}

/// Six hex digits that separate runs (and shard attempts) started at the same snapshot
/// time: the wall clock mixed with the process id and a process-wide counter.
pub(crate) fn unique_suffix(started_at: i64) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut x = (started_at as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    format!("{:06x}", x & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_holds_every_committed_runs_column_with_its_type() {
        let marker = RunMarker {
            format: MARKER_FORMAT,
            run_id: "r1".into(),
            snapshot_time: "2026-11-21T03:00:00Z".into(),
            snapshot_time_micros: 1,
            dt: "2026-11-21".into(),
            started_at: "2026-11-21T03:00:00Z".into(),
            committed_at: "2026-11-21T03:00:01Z".into(),
            origin: "demo".into(),
            tables: BTreeMap::new(),
        };
        let serde_json::Value::Object(fields) =
            serde_json::to_value(&marker).expect("a marker serializes")
        else {
            panic!("a marker is a JSON object");
        };
        let mut columns: Vec<&str> = ecrgc_model::runs::COLUMNS.iter().map(|c| c.name).collect();
        for column in ecrgc_model::runs::COLUMNS {
            let value = &fields[column.name];
            assert_eq!(value.is_i64(), column.integer, "{}: {value}", column.name);
            assert!(
                value.is_i64() || value.is_string(),
                "{}: {value}",
                column.name
            );
        }
        // Not columns: the marker's format version and its per-table counts.
        columns.extend(["format", "tables"]);
        let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        columns.sort_unstable();
        keys.sort_unstable();
        assert_eq!(keys, columns);
    }
}
