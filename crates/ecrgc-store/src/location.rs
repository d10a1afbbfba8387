//! Store locations: parsing a URL or path into an object store, a root path and the URL
//! prefix under which DataFusion finds the same objects.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use url::Url;

use crate::marker::{MARKER_DIR, RunMarker};
use crate::{Result, StoreError};

/// An opened snapshot store.
#[derive(Clone)]
pub struct Store {
    store: Arc<dyn ObjectStore>,
    /// Scheme and authority DataFusion registers the object store under, e.g. `s3://bucket`.
    base_url: Url,
    /// Root of the snapshot inside the object store.
    root: Path,
    /// The location as the user wrote it, for messages.
    display: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.display)
            .finish()
    }
}

impl Store {
    /// Opens a store from a location: `s3://bucket/prefix`, `memory://`, `file:///path` or a
    /// plain local path (created if missing).
    pub fn open(location: &str) -> Result<Self> {
        Self::open_with(location, None, None)
    }

    /// Opens a store like [`Store::open`]; an S3 store signs with `credentials` and uses
    /// `region` when given (ecrgc hands it the AWS SDK's default chain, so profiles and SSO
    /// work for the store as they do for the collectors), else the environment's.
    pub fn open_with(
        location: &str,
        credentials: Option<object_store::aws::AwsCredentialProvider>,
        region: Option<&str>,
    ) -> Result<Self> {
        let invalid = |reason: String| StoreError::InvalidLocation {
            location: location.to_owned(),
            reason,
        };
        if location.trim().is_empty() {
            return Err(invalid("empty location".into()));
        }
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("no bucket name".into()));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(c) = credentials {
                builder = builder.with_credentials(c);
            }
            if let Some(r) = region
                && std::env::var_os("AWS_REGION").is_none()
                && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            {
                builder = builder.with_region(r);
            }
            let s3 = builder.build().map_err(|e| invalid(e.to_string()))?;
            let base_url =
                Url::parse(&format!("s3://{bucket}")).map_err(|e| invalid(e.to_string()))?;
            return Ok(Self::from_parts(
                Arc::new(s3),
                base_url,
                Path::from(prefix),
                location,
            ));
        }
        if let Some(rest) = location.strip_prefix("memory://") {
            return Ok(Self::in_memory_at(rest));
        }
        if location.contains("://") && !location.starts_with("file://") {
            return Err(invalid(
                "supported locations are a local path, file://, s3:// and memory://".into(),
            ));
        }
        let local = location.strip_prefix("file://").unwrap_or(location);
        std::fs::create_dir_all(local)
            .map_err(|e| invalid(format!("cannot create folder: {e}")))?;
        let abs = std::fs::canonicalize(local).map_err(|e| invalid(e.to_string()))?;
        let root = Path::from_absolute_path(&abs).map_err(|e| invalid(e.to_string()))?;
        let base_url = Url::parse("file:///").map_err(|e| invalid(e.to_string()))?;
        Ok(Self::from_parts(
            Arc::new(LocalFileSystem::new()),
            base_url,
            root,
            location,
        ))
    }

    /// A fresh, empty in-memory store (not shared with any other).
    pub fn in_memory() -> Self {
        Self::in_memory_at("")
    }

    fn in_memory_at(prefix: &str) -> Self {
        let base_url = Url::parse("memory:///").expect("static URL is valid");
        Self::from_parts(
            Arc::new(InMemory::new()),
            base_url,
            Path::from(prefix),
            "memory://",
        )
    }

    /// A store over any object store, e.g. S3 configured by the caller for a test endpoint.
    /// `base_url` is the scheme and authority the object store is registered under.
    pub fn from_parts(
        store: Arc<dyn ObjectStore>,
        base_url: Url,
        root: Path,
        display: impl Into<String>,
    ) -> Self {
        Self {
            store,
            base_url,
            root,
            display: display.into(),
        }
    }

    /// The underlying object store.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The URL the object store must be registered under in a query engine.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The location as given, for messages.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The object path of `parts` below the store root; a part may hold several
    /// `/`-separated segments (as [`Store::list_objects`] returns them).
    pub fn path(&self, parts: &[&str]) -> Path {
        let mut p = self.root.clone();
        for segment in parts.iter().flat_map(|part| part.split('/')) {
            if !segment.is_empty() {
                p = p.join(segment);
            }
        }
        p
    }

    /// The URL of a folder below the root, ending in `/`, as query engines want it.
    pub fn folder_url(&self, parts: &[&str]) -> String {
        let path = self.path(parts);
        let base = self.base_url.as_str().trim_end_matches('/');
        format!("{base}/{path}/")
    }

    /// Every committed run, oldest first (by snapshot time, then run id). A marker that
    /// cannot be read, or whose fields fail [`RunMarker::validate`], is left out with a
    /// warning on stderr naming it: one damaged file must not stop every command (its run is
    /// simply not visible). [`Store::committed_runs_checked`] returns the skipped ones.
    pub async fn committed_runs(&self) -> Result<Vec<RunMarker>> {
        // Said once per process: a command lists the runs several times.
        static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let (runs, skipped) = self.committed_runs_checked().await?;
        if !skipped.is_empty() {
            let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
            for s in skipped {
                if !warned.contains(&s) {
                    eprintln!("warning: {s}");
                    warned.push(s);
                }
            }
        }
        Ok(runs)
    }

    /// Every committed run as [`Store::committed_runs`], and the markers left out, each as a
    /// message naming the file and what is wrong with it.
    pub async fn committed_runs_checked(&self) -> Result<(Vec<RunMarker>, Vec<String>)> {
        let prefix = self.path(&[MARKER_DIR]);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut runs = Vec::with_capacity(metas.len());
        let mut skipped = Vec::new();
        for meta in metas {
            if meta.location.extension() != Some("json") {
                continue;
            }
            let bytes = self.store.get(&meta.location).await?.bytes().await?;
            let name = meta.location.filename().unwrap_or_default();
            let marker = serde_json::from_slice::<RunMarker>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|m| {
                    m.validate()?;
                    if name != format!("{}.json", m.run_id) {
                        return Err(format!(
                            "its run_id {:?} is not its file name {name:?}",
                            m.run_id
                        ));
                    }
                    Ok(m)
                });
            match marker {
                Ok(m) => runs.push(m),
                Err(why) => skipped.push(format!(
                    "skipped the unreadable commit marker {} of {}: {why}",
                    meta.location,
                    self.display()
                )),
            }
        }
        runs.sort_by(|a, b| {
            (a.snapshot_time_micros, &a.run_id).cmp(&(b.snapshot_time_micros, &b.run_id))
        });
        Ok((runs, skipped))
    }

    /// On a local store, flushes `path` and every folder from it up to the store's root to
    /// disk (fsync), so that a marker, record or journal line that was acknowledged survives
    /// a crash of the machine; object stores are durable once a put returns.
    pub(crate) fn sync_local(&self, path: &Path) -> Result<()> {
        self.sync_local_all(std::slice::from_ref(path))
    }

    /// [`Store::sync_local`] for many files: each file, then each folder they share up to
    /// the root once (a run's files share their table, date and run folders).
    pub(crate) fn sync_local_all(&self, paths: &[Path]) -> Result<()> {
        if self.base_url.scheme() != "file" {
            return Ok(());
        }
        let sync = |p: &std::path::Path| {
            std::fs::File::open(p)
                .and_then(|f| f.sync_all())
                .map_err(|source| StoreError::Sync {
                    path: p.display().to_string(),
                    source,
                })
        };
        let root = std::path::Path::new("/").join(self.root.as_ref());
        let mut folders = std::collections::BTreeSet::new();
        for path in paths {
            let file = std::path::Path::new("/").join(path.as_ref());
            sync(&file)?;
            let mut dir = file.parent().map(std::path::Path::to_path_buf);
            while let Some(d) = dir {
                let last = d == root || !d.starts_with(&root);
                dir = d.parent().map(std::path::Path::to_path_buf);
                if !folders.insert(d) || last {
                    break;
                }
            }
        }
        for d in &folders {
            sync(d)?;
        }
        Ok(())
    }

    /// The newest committed run, if any.
    pub async fn latest_run(&self) -> Result<Option<RunMarker>> {
        Ok(self.committed_runs().await?.pop())
    }

    /// Writes a small object (a record, a journal chunk), replacing any object at that path.
    /// On a local store the file and its folders are flushed to disk before this returns.
    pub async fn put_object(&self, parts: &[&str], body: Vec<u8>) -> Result<()> {
        let path = self.path(parts);
        self.store.put(&path, PutPayload::from(body)).await?;
        self.sync_local(&path)
    }

    /// Creates a small object unless one exists; `true` when this call created it.
    pub async fn put_object_if_absent(&self, parts: &[&str], body: Vec<u8>) -> Result<bool> {
        put_if_absent(self, &self.path(parts), body).await
    }

    /// Reads a small object, `None` when it does not exist.
    pub async fn get_object(&self, parts: &[&str]) -> Result<Option<bytes::Bytes>> {
        match self.store.get(&self.path(parts)).await {
            Ok(got) => Ok(Some(got.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object below the folder `parts`, as paths relative to that folder, sorted.
    pub async fn list_objects(&self, parts: &[&str]) -> Result<Vec<String>> {
        let prefix = self.path(parts);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut names: Vec<String> = metas
            .into_iter()
            .filter_map(|m| {
                m.location.prefix_match(&prefix).map(|rest| {
                    rest.map(|p| p.as_ref().to_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Reads `columns` of `table` in a committed run (every Parquet file of its partition).
    /// For readers that need a few columns without a query engine.
    pub async fn read_columns(
        &self,
        run: &RunMarker,
        table: &str,
        columns: &[&str],
    ) -> Result<Vec<arrow::array::RecordBatch>> {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let parts = run.table_parts(table);
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let prefix = self.path(&parts);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut batches = Vec::new();
        for meta in metas {
            if meta.location.extension() != Some("parquet") {
                continue;
            }
            // Whole files: the callers read small tables, and a few columns of them.
            let bytes = self.store.get(&meta.location).await?.bytes().await?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
            let schema = builder.parquet_schema();
            let indices: Vec<usize> = columns
                .iter()
                .map(|c| {
                    schema
                        .columns()
                        .iter()
                        .position(|d| d.name() == *c)
                        .ok_or_else(|| StoreError::UnknownTable(format!("{table}.{c}")))
                })
                .collect::<Result<_>>()?;
            let mask = parquet::arrow::ProjectionMask::leaves(schema, indices);
            for batch in builder.with_projection(mask).build()? {
                batches.push(batch?);
            }
        }
        Ok(batches)
    }

    /// Looks a committed run up by id.
    pub async fn run(&self, run_id: &str) -> Result<Option<RunMarker>> {
        Ok(self
            .committed_runs()
            .await?
            .into_iter()
            .find(|r| r.run_id == run_id))
    }
}

/// Creates `path` with `body` unless it exists: `true` when this call created it. Markers
/// and shard records rely on it, so that exactly one writer wins a race.
pub(crate) async fn put_if_absent(store: &Store, path: &Path, body: Vec<u8>) -> Result<bool> {
    let create = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    match store
        .object_store()
        .put_opts(path, PutPayload::from(body), create)
        .await
    {
        Ok(_) => {
            store.sync_local(path)?;
            Ok(true)
        }
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
