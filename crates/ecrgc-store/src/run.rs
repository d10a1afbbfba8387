//! Writing one run: a Parquet writer task per table, then the commit marker.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use ecrgc_model::time::{partition_date, rfc3339};
use ecrgc_model::{RunRow, RunsBuilder, TableDef, all_tables};
use object_store::buffered::BufWriter;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Result, Store, StoreError};

/// Folder of the commit markers below the store root.
pub(crate) const MARKER_DIR: &str = "_runs";

/// Rows per Parquet row group: large enough for efficient scans, small enough that a
/// writer's buffer stays in the tens of megabytes.
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Rows per file before a table rolls to its next part, so engines can scan files in parallel.
const FILE_ROWS: usize = 4 << 20;

/// Batches queued per table writer: bounds memory when the producer outruns encoding.
const QUEUE_DEPTH: usize = 4;

/// Format version of the commit marker.
const MARKER_FORMAT: u32 = 1;

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
    /// The partition folder of `table` in this run, as path parts below the store root.
    pub fn table_parts(&self, table: &str) -> [String; 3] {
        partition_parts(table, &self.dt, &self.run_id)
    }
}

fn partition_parts(table: &str, dt: &str, run_id: &str) -> [String; 3] {
    [
        table.to_owned(),
        format!("dt={dt}"),
        format!("run={run_id}"),
    ]
}

/// Folder of the shard records below the store root.
pub(crate) const SHARD_DIR: &str = "_shards";

/// What the first shard of a sharded run fixes for every other shard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct ShardPlan {
    run_id: String,
    snapshot_time_micros: i64,
    count: u32,
    started_at: i64,
    origin: String,
}

/// What a finished shard records: its table statistics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct ShardRecord {
    index: u32,
    count: u32,
    finished_at: String,
    tables: BTreeMap<String, TableStats>,
}

/// How finishing a shard ended.
#[derive(Debug)]
pub enum ShardOutcome {
    /// Every shard is in and the run is committed (by this shard or a concurrent one).
    Committed(RunMarker),
    /// Other shards are still missing; the last one to finish commits.
    Waiting {
        /// Shards finished, this one included.
        done: u32,
        /// Shards in all.
        count: u32,
    },
}

struct ShardOf {
    name: String,
    index: u32,
    count: u32,
}

struct TableTask {
    schema: arrow::datatypes::SchemaRef,
    sender: mpsc::Sender<RecordBatch>,
    handle: JoinHandle<Result<TableStats>>,
}

/// A run being written. Dropping it without [`RunWriter::commit`] leaves an invisible run.
pub struct RunWriter {
    store: Store,
    run_id: String,
    snapshot_time: i64,
    dt: String,
    origin: String,
    started_at: i64,
    tables: BTreeMap<String, TableTask>,
    /// First part of every file name: shards of one run write to the same folders.
    file_prefix: String,
    shard: Option<ShardOf>,
}

impl RunWriter {
    pub(crate) fn new(store: Store, snapshot_time: i64, origin: &str) -> Self {
        let started_at = chrono::Utc::now().timestamp_micros();
        Self {
            run_id: new_run_id(snapshot_time, started_at),
            store,
            snapshot_time,
            dt: partition_date(snapshot_time),
            origin: origin.to_owned(),
            started_at,
            tables: BTreeMap::new(),
            file_prefix: "part".to_owned(),
            shard: None,
        }
    }

    /// Starts (or joins) shard `index` of `count` of the run called `name`. The first shard
    /// to start fixes the run id and snapshot time for all of them (create-if-absent), so
    /// shards started at different moments still write one run.
    pub(crate) async fn new_shard(
        store: Store,
        name: &str,
        snapshot_time: i64,
        origin: &str,
        index: u32,
        count: u32,
    ) -> Result<Self> {
        let invalid = |reason: String| StoreError::InvalidShard {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(invalid(
                "a run name is letters, digits, '-', '_' and '.'".into(),
            ));
        }
        if index == 0 || index > count {
            return Err(invalid(format!("shard {index}/{count} does not exist")));
        }
        let started_at = chrono::Utc::now().timestamp_micros();
        let fresh = ShardPlan {
            run_id: new_run_id(snapshot_time, started_at),
            snapshot_time_micros: snapshot_time,
            count,
            started_at,
            origin: origin.to_owned(),
        };
        let path = store.path(&[SHARD_DIR, name, "plan.json"]);
        let body =
            serde_json::to_vec_pretty(&fresh).map_err(|source| StoreError::CorruptMarker {
                path: path.to_string(),
                source,
            })?;
        let plan = match put_if_absent(&store, &path, body).await? {
            true => fresh,
            false => {
                let bytes = store.object_store().get(&path).await?.bytes().await?;
                serde_json::from_slice::<ShardPlan>(&bytes).map_err(|source| {
                    StoreError::CorruptMarker {
                        path: path.to_string(),
                        source,
                    }
                })?
            }
        };
        if plan.count != count {
            return Err(invalid(format!(
                "it was started with {} shards, not {count}",
                plan.count
            )));
        }
        if store.run(&plan.run_id).await?.is_some() {
            return Err(invalid(format!(
                "its run {} is already committed; give every run its own name",
                plan.run_id
            )));
        }
        let record = store.path(&[SHARD_DIR, name, &format!("{index}of{count}.json")]);
        if store.object_store().head(&record).await.is_ok() {
            return Err(invalid(format!(
                "shard {index}/{count} has already finished"
            )));
        }
        Ok(Self {
            store,
            run_id: plan.run_id,
            snapshot_time: plan.snapshot_time_micros,
            dt: partition_date(plan.snapshot_time_micros),
            origin: plan.origin,
            started_at: plan.started_at,
            tables: BTreeMap::new(),
            file_prefix: format!("part-s{index:03}of{count:03}"),
            shard: Some(ShardOf {
                name: name.to_owned(),
                index,
                count,
            }),
        })
    }

    /// The run's identifier: the snapshot time, sortable, plus a random suffix.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The instant the run describes (µs, UTC).
    pub fn snapshot_time(&self) -> i64 {
        self.snapshot_time
    }

    /// Queues a batch for `table`. Encoding happens on the table's own task, so producers
    /// and the encoders of different tables work in parallel.
    pub async fn write(&mut self, table: &str, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if !self.tables.contains_key(table) {
            let def = ecrgc_model::table_def(table)
                .ok_or_else(|| StoreError::UnknownTable(table.to_owned()))?;
            let task = self.spawn_table(def);
            self.tables.insert(table.to_owned(), task);
        }
        let task = self.tables.get(table).expect("inserted above");
        if batch.schema() != task.schema {
            return Err(StoreError::SchemaMismatch {
                table: table.to_owned(),
            });
        }
        if task.sender.send(batch).await.is_err() {
            // The task stopped early: its join result carries the cause.
            let task = self.tables.remove(table).expect("present");
            return Err(join_table(table, task).await.err().unwrap_or_else(|| {
                StoreError::WriterFailed {
                    table: table.to_owned(),
                    reason: "writer stopped".into(),
                }
            }));
        }
        Ok(())
    }

    fn spawn_table(&self, def: TableDef) -> TableTask {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let store = self.store.clone();
        let parts = partition_parts(def.name, &self.dt, &self.run_id);
        let schema = def.schema();
        let handle = tokio::spawn(write_table(
            store,
            parts,
            self.file_prefix.clone(),
            def,
            receiver,
        ));
        TableTask {
            schema,
            sender,
            handle,
        }
    }

    /// Finishes every table (tables never written get an empty file, so every engine sees
    /// every table), writes the `runs` row, and finally the commit marker.
    pub async fn commit(mut self, row: RunRow<'_>) -> Result<RunMarker> {
        if self.shard.is_some() {
            return Err(StoreError::WriterFailed {
                table: "runs".into(),
                reason: "a shard is finished with finish_shard, not committed".into(),
            });
        }
        let mut runs = RunsBuilder::new(&self.run_id, self.snapshot_time, 1);
        runs.append(row);
        let runs_batch = runs.finish();
        self.write(RunsBuilder::NAME, runs_batch).await?;
        let stats = self.finish_tables().await?;
        self.write_marker(stats).await
    }

    /// Finishes this shard's tables and records the shard as done. The shard that finds every
    /// other shard done writes the `runs` row and commits the run; when two find it at the
    /// same moment, the create-if-absent marker lets exactly one commit, and the other
    /// reports the committed run.
    pub async fn finish_shard(mut self, row: RunRow<'_>) -> Result<ShardOutcome> {
        let shard = match &self.shard {
            Some(s) => ShardOf {
                name: s.name.clone(),
                index: s.index,
                count: s.count,
            },
            None => {
                return Err(StoreError::WriterFailed {
                    table: "runs".into(),
                    reason: "finish_shard called on a run that is not sharded".into(),
                });
            }
        };
        let mut stats = self.finish_tables().await?;
        // The runs table is the committer's: an empty part from every shard would only add
        // files, so it is dropped from the shard's record (its empty file stays harmless).
        stats.remove(RunsBuilder::NAME);
        let record = ShardRecord {
            index: shard.index,
            count: shard.count,
            finished_at: rfc3339(chrono::Utc::now().timestamp_micros()),
            tables: stats,
        };
        let dir = [SHARD_DIR, shard.name.as_str()];
        let path = self.store.path(&[
            dir[0],
            dir[1],
            &format!("{}of{}.json", shard.index, shard.count),
        ]);
        let body =
            serde_json::to_vec_pretty(&record).map_err(|source| StoreError::CorruptMarker {
                path: path.to_string(),
                source,
            })?;
        if !put_if_absent(&self.store, &path, body).await? {
            return Err(StoreError::InvalidShard {
                name: shard.name.clone(),
                reason: format!("shard {}/{} has already finished", shard.index, shard.count),
            });
        }
        let mut records = Vec::new();
        for i in 1..=shard.count {
            let p = self
                .store
                .path(&[dir[0], dir[1], &format!("{i}of{}.json", shard.count)]);
            match self.store.object_store().get(&p).await {
                Ok(got) => {
                    let bytes = got.bytes().await?;
                    let r: ShardRecord = serde_json::from_slice(&bytes).map_err(|source| {
                        StoreError::CorruptMarker {
                            path: p.to_string(),
                            source,
                        }
                    })?;
                    records.push(r);
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if records.len() < shard.count as usize {
            return Ok(ShardOutcome::Waiting {
                done: records.len() as u32,
                count: shard.count,
            });
        }
        if let Some(m) = self.store.run(&self.run_id).await? {
            return Ok(ShardOutcome::Committed(m));
        }
        // Every shard is in: write the runs row under a name of its own, then commit.
        let mut runs = RunsBuilder::new(&self.run_id, self.snapshot_time, 1);
        runs.append(RunRow {
            started_at: self.started_at,
            ..row
        });
        let batch = runs.finish();
        let parts = partition_parts(RunsBuilder::NAME, &self.dt, &self.run_id);
        let file = self
            .store
            .path(&[&parts[0], &parts[1], &parts[2], "part-commit.parquet"]);
        let object = BufWriter::new(self.store.object_store(), file);
        let mut w = AsyncArrowWriter::try_new(object, batch.schema(), Some(writer_properties()))?;
        w.write(&batch).await?;
        let runs_bytes = w.bytes_written() as u64;
        w.close().await?;
        let mut totals: BTreeMap<String, TableStats> = BTreeMap::new();
        for r in &records {
            for (table, s) in &r.tables {
                let t = totals.entry(table.clone()).or_default();
                t.rows += s.rows;
                t.files += s.files;
                t.bytes += s.bytes;
            }
        }
        totals.insert(
            RunsBuilder::NAME.to_owned(),
            TableStats {
                rows: 1,
                files: 1,
                bytes: runs_bytes,
            },
        );
        match self.write_marker(totals).await {
            Ok(m) => Ok(ShardOutcome::Committed(m)),
            Err(StoreError::AlreadyCommitted(id)) => match self.store.run(&id).await? {
                Some(m) => Ok(ShardOutcome::Committed(m)),
                None => Err(StoreError::AlreadyCommitted(id)),
            },
            Err(e) => Err(e),
        }
    }

    async fn finish_tables(&mut self) -> Result<BTreeMap<String, TableStats>> {
        for def in all_tables() {
            if !self.tables.contains_key(def.name) {
                let task = self.spawn_table(def.clone());
                self.tables.insert(def.name.to_owned(), task);
            }
        }
        let mut stats = BTreeMap::new();
        for (table, task) in std::mem::take(&mut self.tables) {
            let s = join_table(&table, task).await?;
            stats.insert(table, s);
        }
        Ok(stats)
    }

    async fn write_marker(&self, stats: BTreeMap<String, TableStats>) -> Result<RunMarker> {
        let marker = RunMarker {
            format: MARKER_FORMAT,
            run_id: self.run_id.clone(),
            snapshot_time: rfc3339(self.snapshot_time),
            snapshot_time_micros: self.snapshot_time,
            dt: self.dt.clone(),
            started_at: rfc3339(self.started_at),
            committed_at: rfc3339(chrono::Utc::now().timestamp_micros()),
            origin: self.origin.clone(),
            tables: stats,
        };
        // One line: Athena's JSON SerDe reads one object per line (`ecrgc athena-ddl`).
        let mut body = serde_json::to_vec(&marker).map_err(|source| StoreError::CorruptMarker {
            path: self.run_id.clone(),
            source,
        })?;
        body.push(b'\n');
        let path = self
            .store
            .path(&[MARKER_DIR, &format!("{}.json", self.run_id)]);
        if put_if_absent(&self.store, &path, body).await? {
            Ok(marker)
        } else {
            Err(StoreError::AlreadyCommitted(self.run_id.clone()))
        }
    }
}

/// Creates `path` with `body` unless it exists: `true` when this call created it. Markers
/// and shard records rely on it, so that exactly one writer wins a race.
pub(crate) async fn put_if_absent(
    store: &Store,
    path: &object_store::path::Path,
    body: Vec<u8>,
) -> Result<bool> {
    let create = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    match store
        .object_store()
        .put_opts(path, PutPayload::from(body), create)
        .await
    {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn join_table(table: &str, task: TableTask) -> Result<TableStats> {
    drop(task.sender);
    match task.handle.await {
        Ok(result) => result,
        Err(e) => Err(StoreError::WriterFailed {
            table: table.to_owned(),
            reason: e.to_string(),
        }),
    }
}

fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("level 1 is valid"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("ecrgc {}", env!("CARGO_PKG_VERSION")))
        .build()
}

async fn write_table(
    store: Store,
    parts: [String; 3],
    file_prefix: String,
    def: TableDef,
    mut receiver: mpsc::Receiver<RecordBatch>,
) -> Result<TableStats> {
    let schema = def.schema();
    let mut stats = TableStats::default();
    let mut writer: Option<(AsyncArrowWriter<BufWriter>, usize)> = None;
    let open = |index: u64| -> Result<AsyncArrowWriter<BufWriter>> {
        let file = format!("{file_prefix}-{index:05}.parquet");
        let path = store.path(&[&parts[0], &parts[1], &parts[2], &file]);
        let object = BufWriter::new(store.object_store(), path);
        Ok(AsyncArrowWriter::try_new(
            object,
            schema.clone(),
            Some(writer_properties()),
        )?)
    };
    while let Some(batch) = receiver.recv().await {
        let (w, rows) = match writer.as_mut() {
            Some(w) => w,
            None => {
                stats.files += 1;
                writer.insert((open(stats.files - 1)?, 0))
            }
        };
        w.write(&batch).await?;
        *rows += batch.num_rows();
        stats.rows += batch.num_rows() as u64;
        if *rows >= FILE_ROWS {
            let (w, _) = writer.take().expect("present");
            stats.bytes += w.bytes_written() as u64;
            w.close().await?;
        }
    }
    let w = match writer.take() {
        Some((w, _)) => Some(w),
        // An empty table still gets one (empty) file so that it exists for every reader.
        None if stats.files == 0 => {
            stats.files = 1;
            Some(open(0)?)
        }
        None => None,
    };
    if let Some(w) = w {
        stats.bytes += w.bytes_written() as u64;
        w.close().await?;
    }
    Ok(stats)
}

/// `20261121T030000Z-1a2b3c`: sortable by snapshot time, unique by the suffix.
fn new_run_id(snapshot_time: i64, started_at: i64) -> String {
    let t = ecrgc_model::time::from_micros(snapshot_time).format("%Y%m%dT%H%M%SZ");
    // The suffix only has to separate runs of the same snapshot time: mix the wall clock
    // with the process id and a process-wide counter.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut x = (started_at as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    format!("{t}-{:06x}", x & 0xff_ffff)
}
