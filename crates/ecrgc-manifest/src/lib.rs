//! The deletion manifest.
//!
//! `ecrgc plan` writes it; a person reviews it (and may remove items); the executor applies
//! it. This crate owns the format and nothing else, so the executor can read manifests
//! without a query engine.
//!
//! Format (`manifest_version` 1): a JSON object with a `header` and `items`. Items are sorted
//! by account, region, repository, depth (an index before its children) and digest. Each
//! item carries an `item_id`, the SHA-256 of its canonical content; the header carries
//! `items_sha256`, the SHA-256 of the planned item ids in order. A reviewer who removes
//! items leaves every remaining `item_id` valid; an altered item no longer matches its id.
//!
//! A manifest alone cannot prove that nothing was added: whoever edits the file can
//! recompute every id. So `plan` also records a [`PlannedRecord`] in the store (the header
//! and the planned item ids, under the header's [`Header::manifest_id`]), and
//! [`Manifest::check_against`] accepts a manifest only if its header is the recorded one and
//! every item is one of the planned ones.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest format this version writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// Errors reading a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or not a manifest.
    #[error("{path}: not a valid manifest: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parser error.
        #[source]
        source: serde_json::Error,
    },
    /// A version this build does not know.
    #[error(
        "{path}: manifest_version {found} is not supported (this ecrgc reads {MANIFEST_VERSION})"
    )]
    Version {
        /// The file.
        path: String,
        /// The version found.
        found: u32,
    },
    /// The same item twice.
    #[error("{path}: item {index} ({digest}) appears twice")]
    DuplicateItem {
        /// The file.
        path: String,
        /// Position of the second copy in `items`.
        index: usize,
        /// The item's image digest.
        digest: String,
    },
    /// The store holds no record of this manifest: its header was edited, or it was planned
    /// from another store.
    #[error(
        "{path}: header.{field} does not match any plan recorded in the store {store} \
         (no record {manifest_id}): the header was altered, or the manifest comes from another store"
    )]
    NotPlanned {
        /// The file.
        path: String,
        /// The header field that differs from the record (or `*` when no record is close).
        field: String,
        /// The id the header hashes to.
        manifest_id: String,
        /// The store searched.
        store: String,
    },
    /// An item that was not in the plan.
    #[error(
        "{path}: item {index} ({repository}@{digest}, item_id {item_id}) was not planned: \
         a manifest may only lose items in review, never gain them"
    )]
    ItemNotPlanned {
        /// The file.
        path: String,
        /// Position in `items`.
        index: usize,
        /// The item's repository.
        repository: String,
        /// The item's image digest.
        digest: String,
        /// The id it claims.
        item_id: String,
    },
    /// The manifest is past its expiry.
    #[error(
        "{path}: header.expires_at {expires_at} has passed (now {now}); plan again for a fresh manifest"
    )]
    Expired {
        /// The file.
        path: String,
        /// The expiry.
        expires_at: String,
        /// The clock used.
        now: String,
    },
    /// A header time that cannot be read.
    #[error("{path}: header.{field} {value:?} is not an RFC 3339 time")]
    BadTime {
        /// The file.
        path: String,
        /// The field.
        field: String,
        /// The value.
        value: String,
    },
    /// An item whose content does not match its id.
    #[error(
        "{path}: item {index} ({digest}) was altered: its content does not match item_id {item_id}"
    )]
    AlteredItem {
        /// The file.
        path: String,
        /// Position in `items`.
        index: usize,
        /// The item's image digest.
        digest: String,
        /// The id it claims.
        item_id: String,
    },
}

/// What `plan` records in the store next to every manifest it writes, so the executor can
/// tell a reviewed subset from an extended or edited manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedRecord {
    /// Format version.
    pub manifest_version: u32,
    /// [`Header::manifest_id`] of `header`.
    pub manifest_id: String,
    /// The header as planned.
    pub header: Header,
    /// Every planned `item_id`, in manifest order.
    pub item_ids: Vec<String>,
}

impl PlannedRecord {
    /// Where the record lives in the store, as path parts.
    pub fn store_parts(manifest_id: &str) -> [String; 2] {
        ["_manifests".to_owned(), format!("{manifest_id}.json")]
    }
}

/// Figures of the planned manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Items.
    pub images: u64,
    /// Sum of `image_size_bytes`.
    pub bytes: u64,
}

/// The manifest header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    /// Snapshot run the plan read.
    pub run_id: String,
    /// The instant the run describes, RFC 3339.
    pub snapshot_time: String,
    /// When the plan was made (its `--now`), RFC 3339.
    pub created_at: String,
    /// After this instant the executor refuses the manifest, RFC 3339.
    pub expires_at: String,
    /// SHA-256 of the configuration the plan used.
    pub config_hash: String,
    /// ecrgc version that planned.
    pub tool_version: String,
    /// Store the run was read from.
    pub store: String,
    /// Figures of the planned items (before any review).
    pub totals: Totals,
    /// SHA-256 over the planned `item_id`s in order.
    pub items_sha256: String,
}

impl Header {
    /// SHA-256 of the header's canonical JSON: the identity of one plan. The header carries
    /// `items_sha256`, so the id covers the planned items too.
    pub fn manifest_id(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("headers serialize");
        hex(&Sha256::digest(&canonical))
    }
}

/// Why an image is in the manifest, and what was known about it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Evidence {
    /// Every rule that flagged the image, first one first.
    pub rules: Vec<String>,
    /// Rule details (e.g. the deregistered task definition).
    pub detail: Option<String>,
    /// Push time, RFC 3339.
    pub pushed_at: Option<String>,
    /// ECR's last recorded pull, RFC 3339.
    pub last_recorded_pull_time: Option<String>,
    /// Inspector's last use, RFC 3339.
    pub last_in_use_at: Option<String>,
    /// Inspector's in-use count.
    pub in_use_count: Option<i64>,
    /// `covered` or `no_coverage` (Inspector).
    pub coverage_state: String,
    /// Workload references that name the image (none of them live).
    pub references_found: i64,
}

/// One image to delete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Item {
    /// SHA-256 of the item's canonical content (this field excluded).
    pub item_id: String,
    /// Registry account.
    pub account_id: String,
    /// Registry region.
    pub region: String,
    /// Repository.
    pub repository_name: String,
    /// Image digest.
    pub image_digest: String,
    /// Tags at snapshot time.
    pub image_tags: Vec<String>,
    /// Size ECR reports.
    pub image_size_bytes: i64,
    /// Media type of the manifest.
    pub image_manifest_media_type: String,
    /// Primary rule, or `with_parent` for a child deleted with its parent.
    pub rule: String,
    /// Parents in the same manifest that must be deleted first (indexes, subjects).
    pub parent_digests: Vec<String>,
    /// Registries (`account/region`) where deleting this image also deletes its replica,
    /// through a replication rule with delete replication (ECR user guide, "Replicating image
    /// deletions in Amazon ECR"). Each replica is an item of the plan too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<String>,
    /// Bytes of those replicas (each stored and billed in its own registry).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replica_bytes: i64,
    /// Every registry (`account/region`) the plan found deletions of this image replicate
    /// to, replica present or not. The executor skips the item when the live replication
    /// rules reach another one (`replication_changed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replica_destinations: Vec<String>,
    /// Evidence.
    pub evidence: Evidence,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Item {
    /// The canonical id of the item's content.
    pub fn compute_id(&self) -> String {
        let mut copy = self.clone();
        copy.item_id = String::new();
        let canonical = serde_json::to_vec(&copy).expect("items serialize");
        hex(&Sha256::digest(&canonical))
    }
}

/// A deletion manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Format version.
    pub manifest_version: u32,
    /// Header.
    pub header: Header,
    /// Images to delete, in deletion order.
    pub items: Vec<Item>,
}

/// SHA-256 over item ids in order.
pub fn items_sha256<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    /// The record `plan` keeps in the store for this manifest.
    pub fn planned_record(&self) -> PlannedRecord {
        PlannedRecord {
            manifest_version: MANIFEST_VERSION,
            manifest_id: self.header.manifest_id(),
            header: self.header.clone(),
            item_ids: self.items.iter().map(|i| i.item_id.clone()).collect(),
        }
    }

    /// Checks the manifest against the record of its plan (`None`: no record under the
    /// header's id): the header must be the recorded one, and every item a planned one.
    /// Removing items is the reviewer's right; adding or changing them is refused.
    pub fn check_against(
        &self,
        path: &str,
        store: &str,
        record: Option<&PlannedRecord>,
    ) -> Result<(), ManifestError> {
        let manifest_id = self.header.manifest_id();
        let Some(record) = record.filter(|r| r.header == self.header) else {
            return Err(ManifestError::NotPlanned {
                path: path.to_owned(),
                field: record
                    .and_then(|r| first_difference(&r.header, &self.header))
                    .unwrap_or_else(|| "*".to_owned()),
                manifest_id,
                store: store.to_owned(),
            });
        };
        if items_sha256(record.item_ids.iter().map(String::as_str)) != record.header.items_sha256 {
            return Err(ManifestError::NotPlanned {
                path: path.to_owned(),
                field: "items_sha256".to_owned(),
                manifest_id,
                store: store.to_owned(),
            });
        }
        let planned: std::collections::HashSet<&str> =
            record.item_ids.iter().map(String::as_str).collect();
        for (index, item) in self.items.iter().enumerate() {
            if !planned.contains(item.item_id.as_str()) {
                return Err(ManifestError::ItemNotPlanned {
                    path: path.to_owned(),
                    index,
                    repository: item.repository_name.clone(),
                    digest: item.image_digest.clone(),
                    item_id: item.item_id.clone(),
                });
            }
        }
        Ok(())
    }

    /// Parses a manifest and checks its version, every item's id, and that no item repeats.
    pub fn from_json(path: &str, text: &str) -> Result<Self, ManifestError> {
        #[derive(Deserialize)]
        struct Version {
            manifest_version: u32,
        }
        let v: Version = serde_json::from_str(text).map_err(|source| ManifestError::Parse {
            path: path.to_owned(),
            source,
        })?;
        if v.manifest_version != MANIFEST_VERSION {
            return Err(ManifestError::Version {
                path: path.to_owned(),
                found: v.manifest_version,
            });
        }
        let manifest: Manifest =
            serde_json::from_str(text).map_err(|source| ManifestError::Parse {
                path: path.to_owned(),
                source,
            })?;
        for (index, item) in manifest.items.iter().enumerate() {
            if item.compute_id() != item.item_id {
                return Err(ManifestError::AlteredItem {
                    path: path.to_owned(),
                    index,
                    digest: item.image_digest.clone(),
                    item_id: item.item_id.clone(),
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (index, item) in manifest.items.iter().enumerate() {
            if !seen.insert(item.item_id.as_str()) {
                return Err(ManifestError::DuplicateItem {
                    path: path.to_owned(),
                    index,
                    digest: item.image_digest.clone(),
                });
            }
        }
        Ok(manifest)
    }
}

/// The first header field (by name) whose value differs, for the error message.
fn first_difference(a: &Header, b: &Header) -> Option<String> {
    let (a, b) = (serde_json::to_value(a).ok()?, serde_json::to_value(b).ok()?);
    let (a, b) = (a.as_object()?, b.as_object()?);
    a.iter()
        .find(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Item {
        let mut item = Item {
            item_id: String::new(),
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            repository_name: "app".into(),
            image_digest: "sha256:aa".into(),
            image_tags: vec!["v1".into()],
            image_size_bytes: 10,
            image_manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            rule: "never_used".into(),
            parent_digests: vec![],
            replicas: vec![],
            replica_bytes: 0,
            replica_destinations: vec![],
            evidence: Evidence::default(),
        };
        item.item_id = item.compute_id();
        item
    }

    fn manifest(items: Vec<Item>) -> Manifest {
        Manifest {
            manifest_version: MANIFEST_VERSION,
            header: Header {
                run_id: "r".into(),
                snapshot_time: "2026-11-21T00:00:00Z".into(),
                created_at: "2026-11-21T00:00:00Z".into(),
                expires_at: "2026-11-24T00:00:00Z".into(),
                config_hash: "c".into(),
                tool_version: "0".into(),
                store: "s".into(),
                totals: Totals::default(),
                items_sha256: items_sha256(items.iter().map(|i| i.item_id.as_str())),
            },
            items,
        }
    }

    #[test]
    fn round_trips_and_detects_altered_items() {
        let m = manifest(vec![item()]);
        let text = serde_json::to_string_pretty(&m).expect("serializes");
        assert_eq!(Manifest::from_json("m.json", &text).expect("valid"), m);

        let altered = text.replace("\"app\"", "\"other-app\"");
        let err = Manifest::from_json("m.json", &altered).expect_err("altered");
        assert!(err.to_string().contains("altered"), "{err}");

        let future = text.replace("\"manifest_version\": 1", "\"manifest_version\": 9");
        let err = Manifest::from_json("m.json", &future).expect_err("unknown version");
        assert!(err.to_string().contains("manifest_version 9"), "{err}");
    }

    fn other_item() -> Item {
        let mut other = item();
        other.image_digest = "sha256:bb".into();
        other.item_id = other.compute_id();
        other
    }

    #[test]
    fn a_reviewed_subset_is_accepted_an_extension_is_not() {
        let planned = manifest(vec![item(), other_item()]);
        let record = planned.planned_record();
        planned
            .check_against("m.json", "s", Some(&record))
            .expect("as planned");

        let mut cut = planned.clone();
        cut.items.remove(0);
        cut.check_against("m.json", "s", Some(&record))
            .expect("a subset");

        let mut third = item();
        third.image_digest = "sha256:cc".into();
        third.item_id = third.compute_id();
        let mut extended = planned.clone();
        extended.items.push(third);
        let err = extended
            .check_against("m.json", "s", Some(&record))
            .expect_err("extended");
        assert!(err.to_string().contains("item 2 (app@sha256:cc"), "{err}");

        let mut later = planned.clone();
        later.header.expires_at = "2027-01-01T00:00:00Z".into();
        let err = later
            .check_against("m.json", "s", Some(&record))
            .expect_err("header edited");
        assert!(err.to_string().contains("header.expires_at"), "{err}");

        let err = planned
            .check_against("m.json", "s", None)
            .expect_err("no record");
        assert!(err.to_string().contains("header.*"), "{err}");
    }

    #[test]
    fn duplicate_items_are_refused() {
        let m = manifest(vec![item(), item()]);
        let text = serde_json::to_string(&m).expect("serializes");
        let err = Manifest::from_json("m.json", &text).expect_err("duplicate");
        assert!(err.to_string().contains("appears twice"), "{err}");
    }
}
