//! The lifecycle plan: suggested policies a person reviews before the executor puts them.
//!
//! Format (`lifecycle_plan_version` 1, `kind` `"lifecycle"`): a JSON object with a `header`
//! and `items`, one item per repository, sorted by account, region and repository. Like the
//! deletion manifest, each item carries an `item_id` (SHA-256 of its canonical content) and
//! the header `items_sha256`; `lifecycle suggest --out` also records a [`LifecycleRecord`]
//! in the store under `_manifests/<plan_id>.json`, the id being the SHA-256 of the header.
//! [`LifecyclePlan::check_against`] then accepts a plan only if its header is the recorded
//! one and every item a planned one: a reviewer may drop repositories, never add one or
//! edit a policy.
//!
//! Each item names the policy it replaces (`replaces_policy_sha256`, absent when the
//! repository had none): the executor puts the new policy only while the live one still
//! hashes the same, so a policy someone changed after the snapshot is never overwritten.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::derive::Counts;
use crate::policy::LifecyclePolicy;
use crate::{LifecycleError, Result, hex};

/// The plan format this version writes and reads.
pub const LIFECYCLE_PLAN_VERSION: u32 = 1;

/// The `kind` of a lifecycle plan and of its record, telling it apart from a deletion
/// manifest.
pub const KIND: &str = "lifecycle";

/// The plan header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LifecycleHeader {
    /// Always [`KIND`].
    pub kind: String,
    /// Snapshot run the suggestion read.
    pub run_id: String,
    /// The instant the run describes, RFC 3339.
    pub snapshot_time: String,
    /// When the suggestion was made (its `--now`), RFC 3339.
    pub created_at: String,
    /// After this instant the executor refuses the plan, RFC 3339.
    pub expires_at: String,
    /// SHA-256 of the configuration used.
    pub config_hash: String,
    /// ecrgc version.
    pub tool_version: String,
    /// Store the run was read from.
    pub store: String,
    /// Repositories planned.
    pub repositories: u64,
    /// What the planned policies expire on the snapshot, summed.
    pub expires_now: Counts,
    /// SHA-256 over the planned `item_id`s in order.
    pub items_sha256: String,
}

impl LifecycleHeader {
    /// SHA-256 of the header's canonical JSON: the identity of one lifecycle plan.
    pub fn plan_id(&self) -> String {
        hex(&Sha256::digest(
            serde_json::to_vec(self).unwrap_or_default(),
        ))
    }
}

/// One repository's policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LifecycleItem {
    /// SHA-256 of the item's canonical content (this field excluded).
    pub item_id: String,
    /// Registry account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Repository.
    pub repository_name: String,
    /// The policy to put.
    pub policy: LifecyclePolicy,
    /// Its canonical hash.
    pub policy_sha256: String,
    /// Canonical hash of the policy in place at the snapshot; `None`: there was none.
    pub replaces_policy_sha256: Option<String>,
    /// What the policy expires on the snapshot.
    pub expires_now: Counts,
    /// Per rule, the evidence that supports it (for the reviewer).
    pub support: Vec<String>,
    /// Digests ecrgc keeps (guards, parents): the executor refuses the item if the policy
    /// would expire one of them live.
    pub kept_digests: Vec<String>,
}

impl LifecycleItem {
    /// The canonical id of the item's content.
    pub fn compute_id(&self) -> String {
        let mut copy = self.clone();
        copy.item_id = String::new();
        hex(&Sha256::digest(
            serde_json::to_vec(&copy).unwrap_or_default(),
        ))
    }

    /// `account/region/name`.
    pub fn repository(&self) -> String {
        format!(
            "{}/{}/{}",
            self.account_id, self.region, self.repository_name
        )
    }
}

/// A lifecycle plan file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LifecyclePlan {
    /// Format version.
    pub lifecycle_plan_version: u32,
    /// Header.
    pub header: LifecycleHeader,
    /// Policies per repository.
    pub items: Vec<LifecycleItem>,
}

/// What the store records of a lifecycle plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LifecycleRecord {
    /// Always [`KIND`].
    pub kind: String,
    /// Format version.
    pub lifecycle_plan_version: u32,
    /// [`LifecycleHeader::plan_id`] of `header`.
    pub plan_id: String,
    /// The header as planned.
    pub header: LifecycleHeader,
    /// Every planned `item_id`, in order.
    pub item_ids: Vec<String>,
}

impl LifecycleRecord {
    /// Where the record lives in the store (beside the deletion manifests' records).
    pub fn store_parts(plan_id: &str) -> [String; 2] {
        ["_manifests".to_owned(), format!("{plan_id}.json")]
    }
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

/// Whether a JSON document is a lifecycle plan (rather than a deletion manifest).
pub fn is_lifecycle_plan(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| {
            v.get("lifecycle_plan_version").is_some()
                || v.pointer("/header/kind").and_then(|k| k.as_str()) == Some(KIND)
        })
}

impl LifecyclePlan {
    /// Builds a plan from its header fields and items (ids and `items_sha256` filled in).
    pub fn new(mut header: LifecycleHeader, mut items: Vec<LifecycleItem>) -> Self {
        items.sort_by(|a, b| {
            (&a.account_id, &a.region, &a.repository_name).cmp(&(
                &b.account_id,
                &b.region,
                &b.repository_name,
            ))
        });
        for item in &mut items {
            item.item_id = item.compute_id();
        }
        header.kind = KIND.to_owned();
        header.repositories = items.len() as u64;
        header.items_sha256 = items_sha256(items.iter().map(|i| i.item_id.as_str()));
        Self {
            lifecycle_plan_version: LIFECYCLE_PLAN_VERSION,
            header,
            items,
        }
    }

    /// The record the store keeps.
    pub fn record(&self) -> LifecycleRecord {
        LifecycleRecord {
            kind: KIND.to_owned(),
            lifecycle_plan_version: LIFECYCLE_PLAN_VERSION,
            plan_id: self.header.plan_id(),
            header: self.header.clone(),
            item_ids: self.items.iter().map(|i| i.item_id.clone()).collect(),
        }
    }

    /// Parses a plan; checks its version, every item's id, every policy, and that no item
    /// repeats.
    pub fn from_json(path: &str, text: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct Version {
            lifecycle_plan_version: u32,
        }
        let parse = |source| LifecycleError::Parse {
            path: path.to_owned(),
            source,
        };
        let v: Version = serde_json::from_str(text).map_err(parse)?;
        if v.lifecycle_plan_version != LIFECYCLE_PLAN_VERSION {
            return Err(LifecycleError::Version {
                path: path.to_owned(),
                found: v.lifecycle_plan_version,
            });
        }
        let plan: Self = serde_json::from_str(text).map_err(parse)?;
        let mut seen = std::collections::HashSet::new();
        for (index, item) in plan.items.iter().enumerate() {
            if item.compute_id() != item.item_id {
                return Err(LifecycleError::AlteredItem {
                    path: path.to_owned(),
                    index,
                    repository: item.repository(),
                    item_id: item.item_id.clone(),
                });
            }
            item.policy
                .validate(&format!("{path}: items[{index}].policy"))?;
            if !seen.insert(item.repository()) {
                return Err(LifecycleError::DuplicateItem {
                    path: path.to_owned(),
                    index,
                    repository: item.repository(),
                });
            }
        }
        Ok(plan)
    }

    /// Checks the plan against its record (`None`: none under the header's id).
    pub fn check_against(
        &self,
        path: &str,
        store: &str,
        record: Option<&LifecycleRecord>,
    ) -> Result<()> {
        let plan_id = self.header.plan_id();
        let not_planned = |field: String| LifecycleError::NotPlanned {
            path: path.to_owned(),
            field,
            plan_id: plan_id.clone(),
            store: store.to_owned(),
        };
        let Some(record) = record.filter(|r| r.header == self.header) else {
            return Err(not_planned(
                record
                    .and_then(|r| first_difference(&r.header, &self.header))
                    .unwrap_or_else(|| "*".to_owned()),
            ));
        };
        if items_sha256(record.item_ids.iter().map(String::as_str)) != record.header.items_sha256 {
            return Err(not_planned("items_sha256".to_owned()));
        }
        let planned: std::collections::HashSet<&str> =
            record.item_ids.iter().map(String::as_str).collect();
        for (index, item) in self.items.iter().enumerate() {
            if !planned.contains(item.item_id.as_str()) {
                return Err(LifecycleError::ItemNotPlanned {
                    path: path.to_owned(),
                    index,
                    repository: item.repository(),
                    item_id: item.item_id.clone(),
                });
            }
        }
        Ok(())
    }
}

fn first_difference(a: &LifecycleHeader, b: &LifecycleHeader) -> Option<String> {
    let (a, b) = (serde_json::to_value(a).ok()?, serde_json::to_value(b).ok()?);
    let (a, b) = (a.as_object()?, b.as_object()?);
    a.iter()
        .find(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str) -> LifecycleItem {
        LifecycleItem {
            item_id: String::new(),
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            repository_name: name.into(),
            policy: LifecyclePolicy::parse(
                "p",
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":30},"action":{"type":"expire"}}]}"#,
            )
            .expect("policy"),
            policy_sha256: String::new(),
            replaces_policy_sha256: None,
            expires_now: Counts::default(),
            support: vec![],
            kept_digests: vec![],
        }
    }

    fn plan() -> LifecyclePlan {
        LifecyclePlan::new(
            LifecycleHeader {
                kind: String::new(),
                run_id: "r".into(),
                snapshot_time: "2026-11-21T00:00:00Z".into(),
                created_at: "2026-11-21T00:00:00Z".into(),
                expires_at: "2026-11-24T00:00:00Z".into(),
                config_hash: "c".into(),
                tool_version: "0".into(),
                store: "s".into(),
                repositories: 0,
                expires_now: Counts::default(),
                items_sha256: String::new(),
            },
            vec![item("b"), item("a")],
        )
    }

    #[test]
    fn round_trips_subsets_pass_edits_do_not() {
        let p = plan();
        assert_eq!(p.items[0].repository_name, "a");
        let text = serde_json::to_string_pretty(&p).expect("json");
        assert!(is_lifecycle_plan(&text));
        assert!(!is_lifecycle_plan(r#"{"manifest_version":1}"#));
        let back = LifecyclePlan::from_json("l.json", &text).expect("valid");
        let record = p.record();
        back.check_against("l.json", "s", Some(&record))
            .expect("as planned");

        let mut cut = back.clone();
        cut.items.remove(0);
        cut.check_against("l.json", "s", Some(&record))
            .expect("subset");

        let edited = text.replace("\"countNumber\": 30", "\"countNumber\": 3");
        let err = LifecyclePlan::from_json("l.json", &edited).expect_err("edited policy");
        assert!(err.to_string().contains("was altered"), "{err}");

        let mut later = back.clone();
        later.header.expires_at = "2027-01-01T00:00:00Z".into();
        let err = later
            .check_against("l.json", "s", Some(&record))
            .expect_err("header edited");
        assert!(err.to_string().contains("header.expires_at"), "{err}");

        let mut extra = item("c");
        extra.item_id = extra.compute_id();
        let mut extended = back.clone();
        extended.items.push(extra);
        let err = extended
            .check_against("l.json", "s", Some(&record))
            .expect_err("extended");
        assert!(
            err.to_string().contains("111111111111/eu-west-1/c"),
            "{err}"
        );

        let err = LifecyclePlan::from_json(
            "l.json",
            &text.replace(
                "\"lifecycle_plan_version\": 1",
                "\"lifecycle_plan_version\": 7",
            ),
        )
        .expect_err("version");
        assert!(
            err.to_string().contains("lifecycle_plan_version 7"),
            "{err}"
        );
    }
}
