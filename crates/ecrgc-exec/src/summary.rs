//! What an apply decided: the mode, the final word on each item, and the figures over every
//! session of a plan, with the text every apply summary ends with.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::journal::Event;
use crate::skip::is_blocked;

/// What happens to an image that passes every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// BatchDeleteImage.
    Delete,
    /// UpdateImageStorageClass to ARCHIVE.
    Archive,
}

/// The final word on one item in this session.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The item.
    pub item_id: String,
    /// Deleted, archived, absent, already archived, skipped or failed (or, in a dry run,
    /// what would be done).
    pub event: Event,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// What was found or what the API said.
    pub message: Option<String>,
    /// The API's failure code.
    pub code: Option<String>,
}

/// Figures of a manifest after this run, over every session.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// The plan.
    pub manifest_id: String,
    /// Delete or archive.
    pub mode: Option<Mode>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Items in the manifest given.
    pub items: u64,
    /// Items the plan had.
    pub planned_items: u64,
    /// Final events by kind (`deleted`, `skipped`, …), over every session; in a dry run,
    /// what would happen.
    pub by_event: BTreeMap<String, u64>,
    /// Skipped items by reason.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Failed items by code.
    pub failed_by_code: BTreeMap<String, u64>,
    /// Bytes of the images deleted (or archived), by the manifest's sizes.
    pub bytes: u64,
    /// Items this session acted on or decided.
    pub decided_now: u64,
    /// Items earlier sessions had finished.
    pub done_before: u64,
    /// API calls this session.
    pub api_calls: u64,
    /// Throttled answers this session.
    pub throttles: u64,
    /// The local journal.
    pub journal: Option<String>,
    /// The journal in the store.
    pub journal_store: Option<String>,
}

impl Summary {
    /// Items that failed.
    pub fn failed(&self) -> u64 {
        self.by_event.get("failed").copied().unwrap_or(0)
    }

    /// Items skipped because a check could not be made, not for a finding about the image
    /// ([`crate::skip::is_blocked`]): a run with some exits with status 3.
    pub fn blocked(&self) -> u64 {
        self.blocked_by_reason().iter().map(|(_, n)| n).sum()
    }

    /// [`Summary::blocked`] by reason.
    pub fn blocked_by_reason(&self) -> Vec<(&str, u64)> {
        self.skipped_by_reason
            .iter()
            .filter(|(r, _)| is_blocked(r))
            .map(|(r, n)| (r.as_str(), *n))
            .collect()
    }
}

/// The lines every apply summary ends with: skipped and failed items by reason, earlier
/// work, API calls, and where the journal is.
pub fn render_summary_tail(t: &mut String, s: &Summary) {
    let get = |k: &str| s.by_event.get(k).copied().unwrap_or(0);
    t.push_str(&format!("  {:<16}{:>8}\n", "skipped", get("skipped")));
    for (reason, n) in &s.skipped_by_reason {
        t.push_str(&format!("    {reason:<30}{n:>6}\n"));
    }
    let blocked = s.blocked();
    if blocked > 0 {
        t.push_str(&format!(
            "  {:<16}{:>8} (skipped: a check could not be made; exit status 3)\n",
            "blocked", blocked
        ));
    }
    t.push_str(&format!("  {:<16}{:>8}\n", "failed", s.failed()));
    for (code, n) in &s.failed_by_code {
        t.push_str(&format!("    {code:<30}{n:>6}\n"));
    }
    if s.done_before > 0 {
        t.push_str(&format!(
            "  {:<16}{:>8} (done by an earlier apply, not repeated)\n",
            "earlier", s.done_before
        ));
    }
    t.push_str(&format!(
        "  {:<16}{:>8} ({} throttled)\n",
        "API calls", s.api_calls, s.throttles
    ));
    if let Some(j) = &s.journal {
        t.push_str(&format!("journal {j}\n"));
    }
    if let Some(j) = &s.journal_store {
        t.push_str(&format!("journal table {j}\n"));
    }
}
