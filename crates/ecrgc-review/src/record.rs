//! A plan kind, its identity, and the record the store keeps of it.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::digest::{header_id, items_sha256};
use crate::header::PlanHeader;
use crate::{Result, ReviewError};

/// Where plan records live in the store.
pub const RECORDS_FOLDER: &str = "_manifests";

/// One item of a plan: an image to delete, a policy to put.
pub trait PlanItem {
    /// The SHA-256 of the item's canonical content, as the file states it.
    fn item_id(&self) -> &str;
    /// What the item names, for messages (`repository@digest`, `account/region/repository`).
    fn label(&self) -> String;
}

/// A kind of reviewed plan: a deletion manifest, a lifecycle plan. Implementing it is all a
/// new kind needs to be recorded, approved and admitted like the others.
pub trait ReviewedPlan {
    /// The kind's header: a [`PlanHeader`] and the kind's own figures.
    type Header: Serialize + DeserializeOwned + Clone + PartialEq;
    /// The kind's item.
    type Item: PlanItem;
    /// The kind, as [`PlanHeader::kind`] and [`PlanRecord::kind`] name it.
    const KIND: &'static str;
    /// The file format version the kind writes and reads.
    const FORMAT_VERSION: u32;

    /// The header.
    fn header(&self) -> &Self::Header;
    /// The shared part of a header.
    fn common(header: &Self::Header) -> &PlanHeader;
    /// The items, in the order they are applied.
    fn items(&self) -> &[Self::Item];

    /// The plan's identity: the SHA-256 of its header's JSON (which carries the SHA-256 of
    /// the planned item ids).
    fn plan_id(&self) -> String {
        header_id(self.header())
    }

    /// The record `plan` keeps in the store for this plan.
    fn record(&self) -> PlanRecord<Self::Header> {
        PlanRecord {
            kind: Self::KIND.to_owned(),
            format_version: Self::FORMAT_VERSION,
            plan_id: self.plan_id(),
            header: self.header().clone(),
            item_ids: self
                .items()
                .iter()
                .map(|i| i.item_id().to_owned())
                .collect(),
        }
    }
}

/// What the store records of a plan (`_manifests/<plan_id>.json`), written by the planning
/// command. It is what tells a reviewed subset from an extended or edited plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanRecord<H> {
    /// The plan kind.
    pub kind: String,
    /// The kind's format version.
    pub format_version: u32,
    /// The plan's id.
    pub plan_id: String,
    /// The header as planned.
    pub header: H,
    /// Every planned item id, in plan order.
    pub item_ids: Vec<String>,
}

impl<H: Serialize> PlanRecord<H> {
    /// Whether the record is whole: its id is its header's, and its item ids hash to the
    /// header's `items_sha256`.
    pub fn is_consistent(&self, common: &PlanHeader) -> bool {
        self.plan_id == header_id(&self.header)
            && items_sha256(self.item_ids.iter().map(String::as_str)) == common.items_sha256
    }
}

/// Where the record of `plan_id` lives, as path parts.
pub fn record_parts(plan_id: &str) -> [String; 2] {
    [RECORDS_FOLDER.to_owned(), format!("{plan_id}.json")]
}

/// Checks `plan` against the record of its plan (`None`: no record under its id): the
/// header must be the recorded one, every item a planned one, and the store the header names
/// the store in use. Removing items is the reviewer's right; adding or changing them is not.
pub fn check_against<P: ReviewedPlan>(
    plan: &P,
    path: &str,
    store: &str,
    record: Option<&PlanRecord<P::Header>>,
) -> Result<()> {
    let plan_id = plan.plan_id();
    let not_planned = |field: String| ReviewError::NotPlanned {
        path: path.to_owned(),
        field,
        plan_id: plan_id.clone(),
        store: store.to_owned(),
    };
    let Some(record) = record.filter(|r| r.header == *plan.header() && r.kind == P::KIND) else {
        return Err(not_planned(
            record
                .and_then(|r| first_difference(&r.header, plan.header()))
                .unwrap_or_else(|| "*".to_owned()),
        ));
    };
    if !record.is_consistent(P::common(&record.header)) {
        return Err(not_planned("items_sha256".to_owned()));
    }
    let planned: HashSet<&str> = record.item_ids.iter().map(String::as_str).collect();
    for (index, item) in plan.items().iter().enumerate() {
        if !planned.contains(item.item_id()) {
            return Err(ReviewError::ItemNotPlanned {
                path: path.to_owned(),
                index,
                label: item.label(),
                item_id: item.item_id().to_owned(),
            });
        }
    }
    let common = P::common(plan.header());
    if common.store != store {
        return Err(ReviewError::OtherStore {
            path: path.to_owned(),
            planned: common.store.clone(),
            store: store.to_owned(),
        });
    }
    Ok(())
}

/// The first header field (by name) whose value differs, for the error message.
fn first_difference<H: Serialize>(a: &H, b: &H) -> Option<String> {
    let (a, b) = (serde_json::to_value(a).ok()?, serde_json::to_value(b).ok()?);
    let (a, b) = (a.as_object()?, b.as_object()?);
    a.iter()
        .find(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
}
