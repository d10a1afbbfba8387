//! What every repository task of a deletion run shares: the clients, the live references,
//! the configuration's tags, the journal and the lease; and the one way a decision is made
//! and recorded.

use std::collections::HashMap;

use ecrgc_aws::replication::ReplicationRule;
use ecrgc_aws::{AccountSession, Caller, Failure};
use ecrgc_config::TagSelector;
use ecrgc_manifest::Item;
use ecrgc_model::time::Micros;
use indicatif::ProgressBar;
use tokio::sync::Mutex;

use crate::checks::references::References;
use crate::context::check_lease;
use crate::error::Result;
use crate::journal::{Entry, Event, Journal};
use crate::lease::Lease;
use crate::skip::SkipReason;
use crate::summary::{Decision, Mode};

/// What the run shares with every repository task.
pub struct Shared {
    /// The call gates.
    pub caller: Caller,
    /// A session per account, or why none.
    pub sessions: HashMap<String, Result<AccountSession, Failure>>,
    /// Whether Inspector usage is re-read.
    pub inspector: bool,
    /// Every live workload reference, re-read when too old (see [`crate::checks::references`]).
    pub references: References,
    /// The snapshot time.
    pub snapshot_time: Micros,
    /// Delete or archive.
    pub mode: Mode,
    /// `false` in a dry run.
    pub execute: bool,
    /// Images per batch.
    pub batch_size: usize,
    /// Repositories with this tag are left alone.
    pub exclude_tag: TagSelector,
    /// Only repositories with this tag may lose images.
    pub opt_in_tag: Option<TagSelector>,
    /// Each item registry's replication rules now (account, region), or why not read.
    pub replication: HashMap<(String, String), Result<Vec<ReplicationRule>, Failure>>,
    pub(crate) journal: Option<Mutex<Journal>>,
    /// The plan's apply lease (`--yes` only), checked before every intent is journaled.
    pub(crate) lease: Option<Lease>,
    pub(crate) progress: ProgressBar,
}

impl Shared {
    /// Fills the item fields of a journal entry.
    pub(crate) fn fill_item(&self, e: &mut Entry, item: &Item) {
        e.item_id = Some(item.item_id.clone());
        e.account_id = Some(item.account_id.clone());
        e.region = Some(item.region.clone());
        e.repository_name = Some(item.repository_name.clone());
        e.image_digest = Some(item.image_digest.clone());
    }

    /// A final decision on `item`, and its journal entry.
    pub(crate) fn decision(
        &self,
        item: &Item,
        event: Event,
        reason: Option<SkipReason>,
        message: Option<String>,
    ) -> (Decision, Entry) {
        let mut e = Entry::new(event);
        self.fill_item(&mut e, item);
        e.reason = reason.map(|r| r.as_str().to_owned());
        e.message = message.clone();
        self.progress.inc(1);
        (
            Decision {
                item_id: item.item_id.clone(),
                event,
                reason: reason.map(|r| r.as_str().to_owned()),
                message,
                code: None,
            },
            e,
        )
    }

    /// Whether the apply lease is still held (always, in a dry run, which takes none). Asked
    /// again inside every attempt of a mutating call, after any wait: an attempt retried
    /// through a long throttling storm must not outlive the lease.
    pub(crate) fn lease_held(&self) -> bool {
        self.lease.as_ref().is_none_or(Lease::still_held)
    }

    /// Appends to the journal (nothing in a dry run). Entries that announce a change (an
    /// intent precedes every mutating call) need the lease still held.
    pub(crate) async fn record(&self, entries: Vec<Entry>) -> Result<()> {
        if let Some(journal) = &self.journal {
            let mut journal = journal.lock().await;
            check_lease(self.lease.as_ref(), &entries)?;
            journal.append(entries).await?;
        }
        Ok(())
    }

    /// Skips every item with one reason.
    pub(crate) async fn skip_all(
        &self,
        items: &[&Item],
        reason: SkipReason,
        message: &str,
    ) -> Result<Vec<Decision>> {
        let mut decisions = Vec::new();
        let mut entries = Vec::new();
        for item in items {
            let (d, e) =
                self.decision(item, Event::Skipped, Some(reason), Some(message.to_owned()));
            decisions.push(d);
            entries.push(e);
        }
        self.record(entries).await?;
        Ok(decisions)
    }
}
