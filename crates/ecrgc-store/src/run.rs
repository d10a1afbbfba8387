//! Writing one run: a Parquet writer task per table, then the commit marker.
//!
//! # Sharded runs
//!
//! `collect --shard I/N --run-name NAME` splits one run over N processes. What they share
//! lives under `_shards/NAME/`:
//!
//! * `plan.json`, created (create-if-absent) by the first shard to start: the run id, the
//!   snapshot time, the shard count and the [`ShardScope`] (the configuration's hash, the
//!   sorted account lists, regions and sources). Every later shard compares its own scope
//!   with the pinned one and is refused, naming the field that differs, when anything
//!   differs: an account that joined the organization after the first shard listed it would
//!   otherwise be collected by no shard, silently.
//! * `attempts/IofN-ATTEMPT/<table>/part-NNNNN.parquet`: the files of one attempt of one
//!   shard. Every start of a shard is a new attempt with a random id; an attempt that dies
//!   leaves its folder behind, and nothing ever reads it, since the files are outside the
//!   Hive layout that readers list.
//! * `IofN.json`, the shard record (create-if-absent), written when the attempt's files are
//!   complete: the attempt id and the row and file counts per table. Only recorded attempts
//!   become part of the run.
//!
//! The shard that finds every record in commits: it moves the files of each recorded
//! attempt into the run's partition folders (`part-sIIIofNNN-NNNNN.parquet`, names fixed by
//! the record, so moving again is harmless), writes the `runs` row and then the commit
//! marker. A process that dies between its record and the marker leaves a run whose shards
//! are all recorded and whose marker is missing; starting any shard of it again does not
//! collect anything but completes the commit the same way
//! ([`RunWriter::shard_already_recorded`]).

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use ecrgc_model::time::{partition_date, rfc3339};
use ecrgc_model::{RunRow, RunsBuilder, TableDef, all_tables};
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::location::{Store, put_if_absent};
use crate::marker::{
    MARKER_DIR, MARKER_FORMAT, RunMarker, TableStats, new_run_id, partition_parts, unique_suffix,
};
use crate::shard::{
    SHARD_DIR, ShardOf, ShardOutcome, ShardPlan, ShardRecord, ShardScope, attempt_folder,
    read_records, record_path,
};
use crate::{Result, StoreError};

/// Rows per Parquet row group: large enough for efficient scans, small enough that a
/// writer's buffer stays in the tens of megabytes.
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Rows per file before a table rolls to its next part, so engines can scan files in parallel.
const FILE_ROWS: usize = 4 << 20;

/// Batches queued per table writer: bounds memory when the producer outruns encoding.
const QUEUE_DEPTH: usize = 4;

/// The test hook of the fault tests: with `ECRGC_FAULT=<point>` in the environment of a
/// debug build, the process exits at once (status 86) at that point, as a killed process
/// would stop. Release builds ignore it.
pub(crate) fn fault_point(point: &str) {
    if cfg!(debug_assertions) && std::env::var("ECRGC_FAULT").is_ok_and(|v| v == point) {
        eprintln!("ECRGC_FAULT={point}: exiting here");
        std::process::exit(86);
    }
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
    shard: Option<ShardOf>,
}

impl Store {
    /// Starts writing a new run that describes the instant `snapshot_time` (µs, UTC).
    pub fn begin_run(&self, snapshot_time: i64, origin: &str) -> RunWriter {
        RunWriter::new(self.clone(), snapshot_time, origin)
    }

    /// Starts or joins shard `index` of `count` of the sharded run called `name` (see
    /// [`RunWriter::finish_shard`]). The first shard to start fixes the snapshot time and
    /// pins `scope`; a shard whose scope differs is refused ([`StoreError::InvalidShard`]).
    pub async fn begin_shard(
        &self,
        name: &str,
        snapshot_time: i64,
        origin: &str,
        (index, count): (u32, u32),
        scope: &ShardScope,
    ) -> Result<RunWriter> {
        RunWriter::new_shard(
            self.clone(),
            name,
            snapshot_time,
            origin,
            (index, count),
            scope,
        )
        .await
    }
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
            shard: None,
        }
    }

    /// Starts (or joins) shard `index` of `count` of the run called `name`. The first shard
    /// to start fixes the run id, the snapshot time and the scope for all of them
    /// (create-if-absent), so shards started at different moments still write one run; a
    /// shard whose `scope` differs from the pinned one is refused. A shard recorded before
    /// is refused too, unless every shard is recorded and the marker is missing: then the
    /// writer only completes the commit ([`RunWriter::shard_already_recorded`]).
    pub(crate) async fn new_shard(
        store: Store,
        name: &str,
        snapshot_time: i64,
        origin: &str,
        (index, count): (u32, u32),
        scope: &ShardScope,
    ) -> Result<Self> {
        let invalid = |reason: String| StoreError::InvalidShard {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty()
            || name.starts_with('.')
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(invalid(
                "a run name is letters, digits, '-', '_' and '.', and does not start with '.'"
                    .into(),
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
            scope: Some(scope.clone()),
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
        if let Some(pinned) = &plan.scope
            && let Some(why) = scope.difference(pinned)
        {
            return Err(invalid(format!(
                "shard {index}/{count} does not match the run's plan ({path}): {why}; every \
                 shard of a run must use the same configuration and see the same accounts, so \
                 start a new run under a new name"
            )));
        }
        if store.run(&plan.run_id).await?.is_some() {
            return Err(invalid(format!(
                "its run {} is already committed; give every run its own name",
                plan.run_id
            )));
        }
        let records = read_records(&store, name, count).await?;
        let recorded = records.iter().any(|r| r.index == index);
        if recorded && records.len() < count as usize {
            return Err(invalid(format!(
                "shard {index}/{count} has already finished ({} of {count} shards are in; the \
                 last one to finish commits)",
                records.len()
            )));
        }
        let attempt = format!("{index}of{count}-{}", unique_suffix(started_at));
        Ok(Self {
            store,
            run_id: plan.run_id,
            snapshot_time: plan.snapshot_time_micros,
            dt: partition_date(plan.snapshot_time_micros),
            origin: plan.origin,
            started_at: plan.started_at,
            tables: BTreeMap::new(),
            shard: Some(ShardOf {
                name: name.to_owned(),
                index,
                count,
                attempt,
                recorded,
            }),
        })
    }

    /// Whether this shard was recorded by an earlier attempt while the run's marker is still
    /// missing (a process died between the last record and the commit): nothing is to be
    /// collected, and [`RunWriter::finish_shard`] only completes the commit.
    pub fn shard_already_recorded(&self) -> bool {
        self.shard.as_ref().is_some_and(|s| s.recorded)
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
        // A shard's attempt writes to its own folder, outside the Hive layout; the commit
        // moves the files of recorded attempts into the run's folders.
        let folder: Vec<String> = match &self.shard {
            Some(s) => attempt_folder(&s.name, &s.attempt)
                .into_iter()
                .chain([def.name.to_owned()])
                .collect(),
            None => partition_parts(def.name, &self.dt, &self.run_id).to_vec(),
        };
        let schema = def.schema();
        let handle = tokio::spawn(write_table(store, folder, def, receiver));
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

    /// Finishes this shard's tables and records the shard as done (the attempt's folder and
    /// counts). The shard that finds every other shard done moves the recorded attempts' files
    /// into the run's folders, writes the `runs` row and commits the run; when two find it at
    /// the same moment, both move the same files to the same names, the create-if-absent
    /// marker lets exactly one commit, and the other reports the committed run. A writer of
    /// an already recorded shard ([`RunWriter::shard_already_recorded`]) only commits.
    pub async fn finish_shard(mut self, row: RunRow<'_>) -> Result<ShardOutcome> {
        let Some(shard) = self.shard.clone() else {
            return Err(StoreError::WriterFailed {
                table: "runs".into(),
                reason: "finish_shard called on a run that is not sharded".into(),
            });
        };
        if !shard.recorded {
            let mut stats = self.finish_tables().await?;
            // The runs table is the committer's: an empty part from every shard would only
            // add files, so it is left out of the shard's record (and never moved).
            stats.remove(RunsBuilder::NAME);
            let record = ShardRecord {
                index: shard.index,
                count: shard.count,
                attempt: Some(shard.attempt.clone()),
                finished_at: rfc3339(chrono::Utc::now().timestamp_micros()),
                tables: stats,
            };
            let path = record_path(&self.store, &shard.name, shard.index, shard.count);
            let body =
                serde_json::to_vec_pretty(&record).map_err(|source| StoreError::CorruptMarker {
                    path: path.to_string(),
                    source,
                })?;
            fault_point("before_shard_record");
            if !put_if_absent(&self.store, &path, body).await? {
                return Err(StoreError::InvalidShard {
                    name: shard.name.clone(),
                    reason: format!("shard {}/{} has already finished", shard.index, shard.count),
                });
            }
            fault_point("after_shard_record");
        } else {
            // Nothing was written by this attempt; its writer tasks were never started.
            self.tables.clear();
        }
        let records = read_records(&self.store, &shard.name, shard.count).await?;
        if records.len() < shard.count as usize {
            return Ok(ShardOutcome::Waiting {
                done: records.len() as u32,
                count: shard.count,
            });
        }
        if let Some(m) = self.store.run(&self.run_id).await? {
            return Ok(ShardOutcome::Committed(m));
        }
        // Every shard is in: the recorded attempts' files into the run's folders, the runs
        // row under a name of its own, then the marker.
        for r in &records {
            self.adopt_attempt(&shard.name, r).await?;
        }
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
        fault_point("before_shard_commit");
        match self.write_marker(totals).await {
            Ok(m) => Ok(ShardOutcome::Committed(m)),
            Err(StoreError::AlreadyCommitted(id)) => match self.store.run(&id).await? {
                Some(m) => Ok(ShardOutcome::Committed(m)),
                None => Err(StoreError::AlreadyCommitted(id)),
            },
            Err(e) => Err(e),
        }
    }

    /// Moves the files of a recorded attempt into the run's partition folders. A file already
    /// moved (by an earlier commit that died, or by a concurrent one) is found at its
    /// destination; a file at neither place fails the commit, since the run would miss rows.
    async fn adopt_attempt(&self, name: &str, record: &ShardRecord) -> Result<()> {
        let Some(attempt) = &record.attempt else {
            // Written before attempts had folders: the files are in the run's folders.
            return Ok(());
        };
        let os = self.store.object_store();
        for (table, stats) in &record.tables {
            let mut from_parts = attempt_folder(name, attempt);
            from_parts.push(table.clone());
            let to_parts = partition_parts(table, &self.dt, &self.run_id);
            for i in 0..stats.files {
                let file = format!("part-{i:05}.parquet");
                let from: Vec<&str> = from_parts
                    .iter()
                    .map(String::as_str)
                    .chain([file.as_str()])
                    .collect();
                let from = self.store.path(&from);
                let moved = format!(
                    "part-s{:03}of{:03}-{i:05}.parquet",
                    record.index, record.count
                );
                let to =
                    self.store
                        .path(&[&to_parts[0], &to_parts[1], &to_parts[2], moved.as_str()]);
                match os.rename(&from, &to).await {
                    Ok(()) => {}
                    Err(object_store::Error::NotFound { .. }) => {
                        if os.head(&to).await.is_err() {
                            return Err(StoreError::InvalidShard {
                                name: name.to_owned(),
                                reason: format!(
                                    "the recorded file {from} of shard {}/{} is missing, and \
                                     {to} does not exist either; the run cannot be committed",
                                    record.index, record.count
                                ),
                            });
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
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
        // On a local store the run's files reach the disk before the marker that makes them
        // visible.
        if self.store.base_url().scheme() == "file" {
            let mut files = Vec::new();
            for table in stats.keys() {
                let parts = partition_parts(table, &self.dt, &self.run_id);
                let prefix = self.store.path(&[&parts[0], &parts[1], &parts[2]]);
                let listed: Vec<_> = futures::TryStreamExt::try_collect(
                    self.store.object_store().list(Some(&prefix)),
                )
                .await?;
                files.extend(listed.into_iter().map(|f| f.location));
            }
            self.store.sync_local_all(&files)?;
        }
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
    folder: Vec<String>,
    def: TableDef,
    mut receiver: mpsc::Receiver<RecordBatch>,
) -> Result<TableStats> {
    let schema = def.schema();
    let mut stats = TableStats::default();
    let mut writer: Option<(AsyncArrowWriter<BufWriter>, usize)> = None;
    let open = |index: u64| -> Result<AsyncArrowWriter<BufWriter>> {
        let file = format!("part-{index:05}.parquet");
        let parts: Vec<&str> = folder
            .iter()
            .map(String::as_str)
            .chain([file.as_str()])
            .collect();
        let path = store.path(&parts);
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
