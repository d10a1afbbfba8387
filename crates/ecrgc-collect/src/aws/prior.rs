//! What earlier committed runs of the store already know about manifests, so that the
//! collector reads a manifest with BatchGetImage at most once per digest per store.
//!
//! ECR counts BatchGetImage as a pull and moves `lastRecordedPullTime` (ECR user guide,
//! "Pull-time update exclusions": ECR updates it on every pull except Inspector's), the very
//! signal the `recent_pull` guard and the `not_pulled` rule read. A digest is the hash of
//! the manifest, so what a manifest says never changes: the children of an image index
//! (`image_relations`, relation `index_child`) and the blobs of an image manifest
//! (`image_layers`) are the same in every repository and every run that holds the digest.
//!
//! Only content is reused, keyed by digest alone. Everything that is state of a repository
//! comes from tonight: which images a repository holds (DescribeImages), tags, referrers
//! and cosign tags. Reused rows are written under tonight's account, region and repository,
//! and only for digests tonight's DescribeImages lists there; whether an index's child is
//! present is decided by the plan, from tonight's `images`.
//!
//! The sources are the newest few committed `collect` runs whose `image_relations`,
//! `image_layers` and `manifest_reads` can all be read (each run carries forward what it
//! reused, so the newest run knows every digest still in the registries; the older ones
//! cover a repository the newest could not read, or a run without `--layers`). A run that
//! cannot be read is skipped; when none can, nothing is reused and every manifest is read
//! again: a relation is never dropped for want of an earlier run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use ecrgc_model::time::Micros;
use ecrgc_model::{ImageLayersBuilder, ImageRelationsBuilder, ManifestReadsBuilder};
use ecrgc_store::{RunMarker, Store, StoreError};

use super::manifest::Blob;

/// Committed runs tried, newest first, before giving up on reuse.
const RUNS_TRIED: usize = 3;

/// Where the collector read a manifest.
pub(crate) use ecrgc_model::keys::ImageKey;

/// An earlier read of one image's manifest (a `manifest_reads` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Read {
    /// `index` or `image`.
    pub kind: String,
    /// Snapshot time of the run that read it.
    pub read_at: Micros,
    /// That run.
    pub run_id: String,
    /// Its `pull_time_exclusion` status there.
    pub exclusion: String,
}

/// Manifest content known to the store, and the reads made so far.
#[derive(Debug, Default)]
pub(crate) struct Prior {
    /// The run reused from, if any.
    pub run_id: Option<String>,
    /// Why no earlier run could be reused, when one existed but could not be read.
    pub unreadable: Option<String>,
    /// Children of every image index whose manifest was read.
    index_children: HashMap<String, Vec<String>>,
    /// Blobs of every image manifest whose layers were read.
    blobs: HashMap<String, Vec<Blob>>,
    /// Earlier reads, per image.
    reads: HashMap<ImageKey, Read>,
    /// Manifests read in this run, shared by the units so that a digest in two
    /// repositories is read once.
    tonight_indexes: Mutex<HashMap<String, Vec<String>>>,
    tonight_blobs: Mutex<HashMap<String, Vec<Blob>>>,
}

impl Prior {
    /// Loads what the newest readable committed `collect` run of `store` knows.
    pub(crate) async fn load(store: &Store) -> Self {
        let runs = match store.committed_runs().await {
            Ok(runs) => runs,
            Err(e) => {
                return Self {
                    unreadable: Some(format!("committed runs not listed: {e}")),
                    ..Self::default()
                };
            }
        };
        // Newest first; runs of one snapshot time (a re-run) by when they started.
        let mut runs: Vec<&RunMarker> = runs.iter().filter(|r| r.origin == "collect").collect();
        runs.sort_by(|a, b| {
            (b.snapshot_time_micros, &b.started_at).cmp(&(a.snapshot_time_micros, &a.started_at))
        });
        let mut errors = Vec::new();
        let mut merged: Option<Self> = None;
        for run in runs.into_iter().take(RUNS_TRIED) {
            match Self::from_run(store, run).await {
                Ok(prior) => match &mut merged {
                    Some(m) => m.merge(prior),
                    None => merged = Some(prior),
                },
                Err(e) => errors.push(format!("run {}: {e}", run.run_id)),
            }
        }
        match merged {
            Some(m) => m,
            None => Self {
                unreadable: (!errors.is_empty()).then(|| errors.join("; ")),
                ..Self::default()
            },
        }
    }

    /// Adds what an older run knows: content is the same whichever run read it, and of two
    /// reads of one image the later one is kept (it is the one a pull time may show).
    fn merge(&mut self, older: Self) {
        for (digest, children) in older.index_children {
            self.index_children.entry(digest).or_insert(children);
        }
        for (digest, blobs) in older.blobs {
            self.blobs.entry(digest).or_insert(blobs);
        }
        for (key, read) in older.reads {
            match self.reads.get(&key) {
                Some(r) if r.read_at >= read.read_at => {}
                _ => {
                    self.reads.insert(key, read);
                }
            }
        }
    }

    async fn from_run(store: &Store, run: &RunMarker) -> Result<Self, StoreError> {
        let relations = store
            .read_columns(
                run,
                ImageRelationsBuilder::NAME,
                &["parent_digest", "child_digest", "relation"],
            )
            .await?;
        let layers = store
            .read_columns(
                run,
                ImageLayersBuilder::NAME,
                &[
                    "account_id",
                    "region",
                    "repository_name",
                    "image_digest",
                    "layer_digest",
                    "layer_size_bytes",
                    "media_type",
                    "layer_kind",
                    "layer_index",
                ],
            )
            .await?;
        let reads = store
            .read_columns(
                run,
                ManifestReadsBuilder::NAME,
                &[
                    "account_id",
                    "region",
                    "repository_name",
                    "image_digest",
                    "manifest_kind",
                    "read_at",
                    "read_run_id",
                    "pull_time_exclusion",
                ],
            )
            .await?;
        let mut prior = Self::from_batches(&relations, &layers, &reads)
            .map_err(|e| StoreError::UnknownTable(format!("run {}: {e}", run.run_id)))?;
        prior.run_id = Some(run.run_id.clone());
        Ok(prior)
    }

    /// Builds the caches from the columns of one run's tables.
    pub(crate) fn from_batches(
        relations: &[RecordBatch],
        layers: &[RecordBatch],
        reads: &[RecordBatch],
    ) -> Result<Self, String> {
        let mut prior = Self::default();
        // Which indexes were read: those with a `manifest_reads` row, and (for runs written
        // before that table) those with `index_child` rows. An index read with no children
        // at all is known only from `manifest_reads`.
        let mut read_indexes: HashSet<String> = HashSet::new();
        for b in reads {
            let cols = strings(b, &[0, 1, 2, 3, 4, 6, 7])?;
            let read_at = b
                .column(5)
                .as_primitive_opt::<TimestampMicrosecondType>()
                .ok_or("manifest_reads.read_at is not a timestamp")?;
            for i in 0..b.num_rows() {
                let kind = cols[4].value(i).to_owned();
                let digest = cols[3].value(i).to_owned();
                if kind == "index" {
                    read_indexes.insert(digest.clone());
                }
                prior.reads.insert(
                    ImageKey::new(cols[0].value(i), cols[1].value(i), cols[2].value(i), digest),
                    Read {
                        kind,
                        read_at: read_at.value(i),
                        run_id: cols[5].value(i).to_owned(),
                        exclusion: cols[6].value(i).to_owned(),
                    },
                );
            }
        }
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for b in relations {
            let cols = strings(b, &[0, 1, 2])?;
            for i in 0..b.num_rows() {
                if cols[2].value(i) == "index_child" {
                    children
                        .entry(cols[0].value(i).to_owned())
                        .or_default()
                        .push(cols[1].value(i).to_owned());
                }
            }
        }
        for digest in read_indexes {
            children.entry(digest).or_default();
        }
        for list in children.values_mut() {
            list.sort();
            list.dedup();
        }
        prior.index_children = children;
        // The blobs of one repository's copy of each digest (every copy says the same).
        let mut by_image: BTreeMap<ImageKey, Vec<Blob>> = BTreeMap::new();
        for b in layers {
            let text = |c: usize| {
                b.column(c)
                    .as_string_opt::<i32>()
                    .ok_or_else(|| format!("image_layers column {c} is not text"))
            };
            let (acct, region, repo, digest) = (text(0)?, text(1)?, text(2)?, text(3)?);
            let (layer, media, kind) = (text(4)?, text(6)?, text(7)?);
            let size = b
                .column(5)
                .as_primitive_opt::<Int64Type>()
                .ok_or("image_layers.layer_size_bytes is not an integer")?;
            let index = b
                .column(8)
                .as_primitive_opt::<Int64Type>()
                .ok_or("image_layers.layer_index is not an integer")?;
            for i in 0..b.num_rows() {
                let kind = match kind.value(i) {
                    "config" => "config",
                    "foreign" => "foreign",
                    "layer" => "layer",
                    other => return Err(format!("image_layers.layer_kind {other:?}")),
                };
                by_image
                    .entry(ImageKey::new(
                        acct.value(i),
                        region.value(i),
                        repo.value(i),
                        digest.value(i),
                    ))
                    .or_default()
                    .push(Blob {
                        digest: layer.value(i).to_owned(),
                        size: size.value(i),
                        media_type: media.value(i).to_owned(),
                        kind,
                        index: (!index.is_null(i)).then(|| index.value(i)),
                    });
            }
        }
        for (
            ImageKey {
                image_digest: digest,
                ..
            },
            mut blobs,
        ) in by_image
        {
            if prior.blobs.contains_key(&digest) {
                continue;
            }
            // Config first, then the layers in manifest order, as a fresh read gives them.
            blobs.sort_by_key(|b| b.index.map_or(-1, |i| i));
            prior.blobs.insert(digest, blobs);
        }
        Ok(prior)
    }

    /// The children of index `digest`, if its manifest was read (earlier or tonight).
    pub(crate) fn index_children(&self, digest: &str) -> Option<Vec<String>> {
        if let Some(c) = self.index_children.get(digest) {
            return Some(c.clone());
        }
        self.tonight_indexes
            .lock()
            .ok()
            .and_then(|m| m.get(digest).cloned())
    }

    /// The blobs of image `digest`, if its manifest was read for its layers.
    pub(crate) fn blobs(&self, digest: &str) -> Option<Vec<Blob>> {
        if let Some(b) = self.blobs.get(digest) {
            return Some(b.clone());
        }
        self.tonight_blobs
            .lock()
            .ok()
            .and_then(|m| m.get(digest).cloned())
    }

    /// Remembers an index read tonight.
    pub(crate) fn read_index(&self, digest: &str, children: Vec<String>) {
        if let Ok(mut m) = self.tonight_indexes.lock() {
            m.insert(digest.to_owned(), children);
        }
    }

    /// Remembers an image manifest read tonight.
    pub(crate) fn read_blobs(&self, digest: &str, blobs: Vec<Blob>) {
        if let Ok(mut m) = self.tonight_blobs.lock() {
            m.insert(digest.to_owned(), blobs);
        }
    }

    /// The earlier read of this image, if the collector read it in an earlier run.
    pub(crate) fn read(&self, key: &ImageKey) -> Option<&Read> {
        self.reads.get(key)
    }
}

/// Columns `which` of `b` as text.
fn strings<'a>(
    b: &'a RecordBatch,
    which: &[usize],
) -> Result<Vec<&'a arrow::array::StringArray>, String> {
    which
        .iter()
        .map(|&c| {
            b.column(c)
                .as_string_opt::<i32>()
                .ok_or_else(|| format!("column {c} is not text"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecrgc_model::{ImageLayerRow, ImageRelationRow, ManifestReadRow};

    fn relations(rows: &[(&str, &str, &str, &str)]) -> RecordBatch {
        let mut b = ImageRelationsBuilder::new("r0", 0, rows.len());
        for (repo, parent, child, relation) in rows {
            b.append(ImageRelationRow {
                account_id: "111111111111",
                region: "eu-west-1",
                repository_name: repo,
                parent_digest: parent,
                child_digest: child,
                relation,
            });
        }
        b.finish()
    }

    fn project(batch: RecordBatch, names: &[&str]) -> RecordBatch {
        let schema = batch.schema();
        let idx: Vec<usize> = names
            .iter()
            .map(|n| schema.index_of(n).expect("column"))
            .collect();
        batch.project(&idx).expect("projection")
    }

    #[test]
    fn index_children_come_from_any_repository_and_referrers_are_not_content() {
        let rel = project(
            relations(&[
                ("a", "sha256:ix", "sha256:c1", "index_child"),
                ("b", "sha256:ix", "sha256:c2", "index_child"),
                ("b", "sha256:ix", "sha256:c1", "index_child"),
                ("a", "sha256:c1", "sha256:sig", "referrer"),
            ]),
            &["parent_digest", "child_digest", "relation"],
        );
        let mut reads = ManifestReadsBuilder::new("r0", 0, 1);
        reads.append(ManifestReadRow {
            account_id: "111111111111",
            region: "eu-west-1",
            repository_name: "a",
            image_digest: "sha256:empty",
            manifest_kind: "index",
            read_at: 42,
            read_run_id: "r0",
            pull_time_exclusion: "not_excluded",
        });
        let reads = project(
            reads.finish(),
            &[
                "account_id",
                "region",
                "repository_name",
                "image_digest",
                "manifest_kind",
                "read_at",
                "read_run_id",
                "pull_time_exclusion",
            ],
        );
        let prior = Prior::from_batches(&[rel], &[], &[reads]).expect("prior");
        assert_eq!(
            prior.index_children("sha256:ix"),
            Some(vec!["sha256:c1".to_owned(), "sha256:c2".to_owned()])
        );
        // Read, with no children: known, so not read again.
        assert_eq!(prior.index_children("sha256:empty"), Some(vec![]));
        // A referrer edge says nothing about a manifest's content.
        assert_eq!(prior.index_children("sha256:c1"), None);
        assert_eq!(prior.index_children("sha256:new"), None);
        let key = ImageKey::new("111111111111", "eu-west-1", "a", "sha256:empty");
        assert_eq!(prior.read(&key).map(|r| r.read_at), Some(42));
        prior.read_index("sha256:new", vec!["sha256:c3".into()]);
        assert_eq!(
            prior.index_children("sha256:new"),
            Some(vec!["sha256:c3".to_owned()])
        );
    }

    #[test]
    fn blobs_keep_config_first_and_layer_order() {
        let mut b = ImageLayersBuilder::new("r0", 0, 3);
        for (layer, kind, index) in [
            ("sha256:l1", "layer", Some(1)),
            ("sha256:cfg", "config", None),
            ("sha256:l0", "layer", Some(0)),
        ] {
            b.append(ImageLayerRow {
                account_id: "111111111111",
                region: "eu-west-1",
                repository_name: "a",
                image_digest: "sha256:img",
                layer_digest: layer,
                layer_size_bytes: 10,
                media_type: "m",
                layer_kind: kind,
                layer_index: index,
            });
        }
        let layers = project(
            b.finish(),
            &[
                "account_id",
                "region",
                "repository_name",
                "image_digest",
                "layer_digest",
                "layer_size_bytes",
                "media_type",
                "layer_kind",
                "layer_index",
            ],
        );
        let prior = Prior::from_batches(&[], &[layers], &[]).expect("prior");
        let blobs = prior.blobs("sha256:img").expect("known");
        let order: Vec<&str> = blobs.iter().map(|b| b.digest.as_str()).collect();
        assert_eq!(order, ["sha256:cfg", "sha256:l0", "sha256:l1"]);
        assert_eq!(prior.blobs("sha256:other"), None);
    }
}
