//! The deletion manifest.
//!
//! `ecrgc plan` writes it; a person reviews it (and may remove items); the executor applies
//! it. This crate owns the format and nothing else, so the executor can read manifests
//! without a query engine.
//!
//! Format (`manifest_version` 2): a JSON object with a `header` and `items`. Items are sorted
//! by account, region, repository, depth (an index before its children) and digest. Each
//! item carries an `item_id`, the SHA-256 of its canonical content; the header (the shared
//! [`ecrgc_review::PlanHeader`] and the manifest's totals) carries `items_sha256`, the
//! SHA-256 of the planned item ids in order. A reviewer who removes items leaves every
//! remaining `item_id` valid; an altered item no longer matches its id.
//!
//! A manifest alone cannot prove that nothing was added: whoever edits the file can
//! recompute every id. So `plan` also records the plan in the store, and the executor admits
//! a manifest only through [`ecrgc_review::admit`]: the manifest is one
//! [`ecrgc_review::ReviewedPlan`] kind, recorded, approved and admitted like every other.
//!
//! `plan` writes the manifest as it decides, items first and the header last
//! ([`ManifestWriter`]); a reader takes the members in any order.
//!
//! Version 2 added the shared header (what-if reasons, the real planning clock, the catalog
//! hash, the planner, the bound configuration); a version 1 manifest is refused.

use ecrgc_review::{PlanHeader, PlanItem, ReviewedPlan, hex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use ecrgc_review::items_sha256;
pub use writer::ManifestWriter;

mod writer;

/// The manifest format this version writes and reads.
pub const MANIFEST_VERSION: u32 = 2;

/// The kind of a deletion manifest, in its header and its record.
pub const KIND: &str = "deletion";

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

/// Figures of the planned manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Items.
    pub images: u64,
    /// Sum of `image_size_bytes`.
    pub bytes: u64,
}

/// The manifest header: the header every plan shares, and the manifest's figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    /// What every reviewed plan's header holds.
    #[serde(flatten)]
    pub plan: PlanHeader,
    /// Figures of the planned items (before any review).
    pub totals: Totals,
}

impl Header {
    /// The identity of one plan (see [`ReviewedPlan::plan_id`]).
    pub fn manifest_id(&self) -> String {
        ecrgc_review::header_id(self)
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

impl Manifest {
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

impl PlanItem for Item {
    fn item_id(&self) -> &str {
        &self.item_id
    }

    fn label(&self) -> String {
        format!("{}@{}", self.repository_name, self.image_digest)
    }
}

impl ReviewedPlan for Manifest {
    type Header = Header;
    type Item = Item;
    const KIND: &'static str = KIND;
    const FORMAT_VERSION: u32 = MANIFEST_VERSION;

    fn header(&self) -> &Header {
        &self.header
    }

    fn common(header: &Header) -> &PlanHeader {
        &header.plan
    }

    fn items(&self) -> &[Item] {
        &self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn item() -> Item {
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

    pub(crate) fn manifest(items: Vec<Item>) -> Manifest {
        let mut plan = PlanHeader::new(ecrgc_review::HeaderFields {
            kind: KIND,
            run_id: "r",
            snapshot_time: 1_795_000_000_000_000,
            now: 1_795_000_000_000_000,
            wall_clock: 1_795_000_000_000_000,
            ttl_hours: 72,
            what_if: ecrgc_review::WhatIf::new(),
            catalog_sha256: "c".into(),
            planned_by: None,
            config: ecrgc_review::Binding::default(),
            store: "s",
        });
        plan.items_sha256 = items_sha256(items.iter().map(|i| i.item_id.as_str()));
        Manifest {
            manifest_version: MANIFEST_VERSION,
            header: Header {
                plan,
                totals: Totals::default(),
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

        let future = text.replace("\"manifest_version\": 2", "\"manifest_version\": 9");
        let err = Manifest::from_json("m.json", &future).expect_err("unknown version");
        assert!(err.to_string().contains("manifest_version 9"), "{err}");
    }

    #[test]
    fn the_header_is_flat_json_and_its_id_covers_every_field() {
        let m = manifest(vec![item()]);
        let v = serde_json::to_value(&m.header).expect("json");
        assert_eq!(v["kind"], "deletion");
        assert_eq!(v["totals"]["images"], 0);
        assert!(v.get("plan").is_none(), "{v}");
        let mut other = m.header.clone();
        other.plan.what_if.push("--rule x".into());
        assert_ne!(other.manifest_id(), m.header.manifest_id());
        assert_eq!(m.plan_id(), m.header.manifest_id());
    }

    #[test]
    fn duplicate_items_are_refused() {
        let m = manifest(vec![item(), item()]);
        let text = serde_json::to_string(&m).expect("serializes");
        let err = Manifest::from_json("m.json", &text).expect_err("duplicate");
        assert!(err.to_string().contains("appears twice"), "{err}");
    }
}
