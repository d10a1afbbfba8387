//! The lifecycle plan: suggested policies a person reviews before the executor puts them.
//!
//! Format (`lifecycle_plan_version` 2, `kind` `"lifecycle"`): a JSON object with a `header`
//! and `items`, one item per repository, sorted by account, region and repository. It is an
//! [`ecrgc_review::ReviewedPlan`] like the deletion manifest: each item carries an `item_id`
//! (SHA-256 of its canonical content), the header (the shared
//! [`ecrgc_review::PlanHeader`] and the plan's figures) `items_sha256`; `lifecycle suggest
//! --out` records the plan in the store under `_manifests/<plan_id>.json`, and the executor
//! admits it through [`ecrgc_review::admit`]: a reviewer may drop repositories, never add one
//! or edit a policy; approvals, what-if plans and the bound configuration are handled as for
//! a deletion manifest.
//!
//! Each item names the policy it replaces (`replaces_policy_sha256`, absent when the
//! repository had none): the executor puts the new policy only while the live one still
//! hashes the same, so a policy someone changed after the snapshot is never overwritten.

use ecrgc_review::{PlanHeader, PlanItem, ReviewedPlan, items_sha256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::derive::Counts;
use crate::policy::LifecyclePolicy;
use crate::{LifecycleError, Result, hex};

/// The plan format this version writes and reads.
pub const LIFECYCLE_PLAN_VERSION: u32 = 2;

/// The `kind` of a lifecycle plan and of its record, telling it apart from a deletion
/// manifest.
pub const KIND: &str = "lifecycle";

/// The plan header: the header every plan shares, and the lifecycle plan's figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LifecycleHeader {
    /// What every reviewed plan's header holds (`kind` is [`KIND`]).
    #[serde(flatten)]
    pub plan: PlanHeader,
    /// Repositories planned.
    pub repositories: u64,
    /// What the planned policies expire on the snapshot, summed.
    pub expires_now: Counts,
}

impl LifecycleHeader {
    /// The identity of one lifecycle plan (see [`ReviewedPlan::plan_id`]).
    pub fn plan_id(&self) -> String {
        ecrgc_review::header_id(self)
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
        header.plan.kind = KIND.to_owned();
        header.repositories = items.len() as u64;
        header.plan.items_sha256 = items_sha256(items.iter().map(|i| i.item_id.as_str()));
        Self {
            lifecycle_plan_version: LIFECYCLE_PLAN_VERSION,
            header,
            items,
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
}

impl PlanItem for LifecycleItem {
    fn item_id(&self) -> &str {
        &self.item_id
    }

    fn label(&self) -> String {
        self.repository()
    }
}

impl ReviewedPlan for LifecyclePlan {
    type Header = LifecycleHeader;
    type Item = LifecycleItem;
    const KIND: &'static str = KIND;
    const FORMAT_VERSION: u32 = LIFECYCLE_PLAN_VERSION;

    fn header(&self) -> &LifecycleHeader {
        &self.header
    }

    fn common(header: &LifecycleHeader) -> &PlanHeader {
        &header.plan
    }

    fn items(&self) -> &[LifecycleItem] {
        &self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecrgc_review::check_against;

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
                plan: PlanHeader::new(ecrgc_review::HeaderFields {
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
                }),
                repositories: 0,
                expires_now: Counts::default(),
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
        assert_eq!(record.kind, "lifecycle");
        check_against(&back, "l.json", "s", Some(&record)).expect("as planned");

        let mut cut = back.clone();
        cut.items.remove(0);
        check_against(&cut, "l.json", "s", Some(&record)).expect("subset");

        let edited = text.replace("\"countNumber\": 30", "\"countNumber\": 3");
        let err = LifecyclePlan::from_json("l.json", &edited).expect_err("edited policy");
        assert!(err.to_string().contains("was altered"), "{err}");

        let mut later = back.clone();
        later.header.plan.expires_at = "2027-01-01T00:00:00Z".into();
        let err = check_against(&later, "l.json", "s", Some(&record)).expect_err("header edited");
        assert!(err.to_string().contains("header.expires_at"), "{err}");

        let mut extra = item("c");
        extra.item_id = extra.compute_id();
        let mut extended = back.clone();
        extended.items.push(extra);
        let err = check_against(&extended, "l.json", "s", Some(&record)).expect_err("extended");
        assert!(
            err.to_string().contains("111111111111/eu-west-1/c"),
            "{err}"
        );

        let err = LifecyclePlan::from_json(
            "l.json",
            &text.replace(
                "\"lifecycle_plan_version\": 2",
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
