//! Deleting (or archiving) the items of one repository: the checks made just before acting,
//! and the acting itself.
//!
//! Per repository: every live workload reference is at hand and none of its sources failed
//! (see [`crate::checks::references`]: read again when older than `[apply]
//! reference_max_age_seconds`); the repository still exists; it is still opted in and not
//! excluded (its tags now, under the configuration now); Inspector's usage now, when
//! Inspector is a source. Per batch of at most `batch_size` images: the references again
//! (re-read if they have grown too old meanwhile), then DescribeImages: each image still
//! exists with the same digest and push time, gained no tag, has no pull recorded after the
//! one the plan saw, is not being restored, was not archived since the plan (delete mode),
//! and no live workload reference names it — whether or not the reference existed at the
//! snapshot (`in_use_reference`). The images that pass are journaled as intents.
//!
//! **The last look.** Between that check and the deleting call there may be waits: the
//! journal's lock and its store write, the API's concurrency gate, a pause after a throttle,
//! a retry's backoff. So the batch is described once more *inside* the deleting call's own
//! attempt: [`ecrgc_aws::Caller::call`] runs its closure after the gate's pause and while it
//! holds the gate's permit, and the closure sends DescribeImages and then, for the images
//! whose tags, push time, last recorded pull time (`lastRecordedPullTime`) and status
//! (`imageStatus`: `ACTIVE | ARCHIVED | ACTIVATING`, botocore `ImageDetail`) are unchanged
//! since the check, BatchDeleteImage (or UpdateImageStorageClass, one image a call). A
//! retried attempt describes again. What is left is the time between the two requests of
//! one attempt, a single round trip: ECR has no conditional delete. An image that changed is
//! left alone with the reason the check gives for its state now (`tagged_since_plan`,
//! `pulled_since_snapshot`, `archived_since_plan`, …) or `changed_since_check` (a tag
//! removed, say). This last DescribeImages travels under BatchDeleteImage's gate and is
//! counted as part of that call.
//!
//! **Archived since the plan.** The plan never lists an image that is not ACTIVE (guard
//! `image_status`), so in delete mode an image found ARCHIVED was archived after the plan,
//! by a person: it is skipped (`archived_since_plan`), never deleted.
//!
//! An index goes before its children, in separate batches: a child is sent only once every
//! parent of it in the manifest is gone, and is kept if a parent is kept.
//!
//! Here, [`process_repository`]: the order of the batches and the repository's gates (the
//! session, the references, the repository's tags, the replication rules, Inspector). Below
//! it, each depending only on those after it: `batch` (one batch's checks, intents and
//! results), `last_look` (the description inside the call, and the call), `repo` (one
//! repository's decisions and descriptions), `shared` (what every repository task shares).

mod batch;
mod last_look;
mod repo;
mod shared;

use std::collections::{HashMap, HashSet};

use ecrgc_aws::CallStats;
use ecrgc_manifest::Item;

pub use shared::Shared;

use crate::checks::inspector::inspector_usage;
use crate::checks::references::RepositoryKey;
use crate::checks::repository::{RepositoryState, check_repository};
use crate::deletion::repo::{Gate, Repo};
use crate::error::Result;
use crate::journal::Event;
use crate::skip::SkipReason;
use crate::summary::Decision;

/// Where an item stands within this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Done,
    Kept,
}

/// Applies the items of one repository. `prior_done` holds the digests of this repository
/// that earlier sessions finished. Returns one decision per item; fails only when the
/// journal cannot be written.
pub async fn process_repository(
    shared: &Shared,
    key: &RepositoryKey,
    items: Vec<&Item>,
    prior_done: &HashSet<String>,
) -> Result<Vec<Decision>> {
    let RepositoryKey {
        account_id: account,
        region,
        repository_name: name,
    } = key;
    let session = match shared.sessions.get(account) {
        Some(Ok(session)) => session.clone(),
        Some(Err(f)) => {
            return shared
                .skip_all(&items, SkipReason::RoleUnavailable, &f.to_string())
                .await;
        }
        None => {
            return shared
                .skip_all(
                    &items,
                    SkipReason::RoleUnavailable,
                    "no session for the account",
                )
                .await;
        }
    };
    // Every live reference, before the repository's first call: nothing is deleted on a
    // view with a source missing.
    if let Some(why) = shared.references.view().await.blocked() {
        return shared
            .skip_all(&items, SkipReason::ReferenceCheckFailed, &why)
            .await;
    }
    let mut repo = Repo {
        shared,
        key,
        ecr: session.ecr(region),
        stats: CallStats::default(),
        decisions: Vec::new(),
    };
    match repo.repository_gate(&items, name).await? {
        Gate::Open => {}
        Gate::Closed(decisions) => return Ok(decisions),
    }
    let items = match repo.replication_gate(items).await? {
        Ok(open) => open,
        Err(decisions) => return Ok(decisions),
    };
    let usage = if shared.inspector {
        match inspector_usage(&shared.caller, &repo.stats, &session, key).await {
            Ok(usage) => Some(usage),
            Err(f) => {
                // Keep the decisions the replication gate already made.
                let mut decisions = std::mem::take(&mut repo.decisions);
                decisions.extend(
                    shared
                        .skip_all(&items, SkipReason::InspectorCheckFailed, &f.to_string())
                        .await?,
                );
                return Ok(decisions);
            }
        }
    } else {
        None
    };

    let mut state: HashMap<&str, State> = items
        .iter()
        .map(|i| (i.image_digest.as_str(), State::Pending))
        .collect();
    loop {
        let mut ready = Vec::new();
        let mut orphaned = Vec::new();
        for item in items.iter().copied() {
            if state[item.image_digest.as_str()] != State::Pending {
                continue;
            }
            let mut all_gone = true;
            let mut kept_parent = None;
            for parent in &item.parent_digests {
                match state.get(parent.as_str()) {
                    Some(State::Done) => {}
                    Some(State::Pending) => all_gone = false,
                    Some(State::Kept) => kept_parent = Some(parent.as_str()),
                    None if prior_done.contains(parent) => {}
                    None => kept_parent = Some(parent.as_str()),
                }
            }
            if let Some(parent) = kept_parent {
                orphaned.push((item, parent.to_owned()));
            } else if all_gone {
                ready.push(item);
            }
        }
        if ready.is_empty() && orphaned.is_empty() {
            break;
        }
        let mut entries = Vec::new();
        for (item, parent) in orphaned {
            state.insert(item.image_digest.as_str(), State::Kept);
            entries.push(repo.decide(
                item,
                Event::Skipped,
                Some(SkipReason::ParentKept),
                Some(format!("parent {parent} is kept")),
            ));
        }
        repo.record(entries).await?;
        for batch in ready.chunks(shared.batch_size) {
            for (digest, done) in repo.batch(batch, usage.as_ref()).await? {
                state.insert(digest, if done { State::Done } else { State::Kept });
            }
        }
    }
    // Whatever is still pending waits on a parent cycle, which a plan never writes.
    let stuck: Vec<&Item> = items
        .iter()
        .copied()
        .filter(|i| state[i.image_digest.as_str()] == State::Pending)
        .collect();
    let mut entries = Vec::new();
    for item in stuck {
        entries.push(repo.decide(
            item,
            Event::Skipped,
            Some(SkipReason::ParentKept),
            Some("its parents wait on each other".into()),
        ));
    }
    repo.record(entries).await?;
    Ok(repo.decisions)
}

impl Repo<'_> {
    /// The repository still exists, is opted in and is not excluded.
    async fn repository_gate(&mut self, items: &[&Item], name: &str) -> Result<Gate> {
        let RepositoryKey {
            account_id: account,
            region,
            ..
        } = self.key;
        let state = check_repository(
            &self.shared.caller,
            &self.stats,
            &self.ecr,
            (account, region, name),
            &self.shared.exclude_tag,
            self.shared.opt_in_tag.as_ref(),
        )
        .await;
        match state {
            RepositoryState::Open => Ok(Gate::Open),
            RepositoryState::Gone => {
                let mut entries = Vec::new();
                for item in items {
                    entries.push(self.decide(
                        item,
                        Event::Absent,
                        None,
                        Some("the repository is gone".into()),
                    ));
                }
                self.record(entries).await?;
                Ok(Gate::Closed(std::mem::take(&mut self.decisions)))
            }
            RepositoryState::Closed(reason, why) => self.close(items, reason, why).await,
        }
    }

    /// The registry's delete replication reaches no destination the plan did not consider
    /// for an item (see [`crate::checks::replication`]): the items that pass, or every
    /// decision when the rules could not be read.
    async fn replication_gate<'i>(
        &mut self,
        items: Vec<&'i Item>,
    ) -> Result<std::result::Result<Vec<&'i Item>, Vec<Decision>>> {
        let RepositoryKey {
            account_id: account,
            region,
            repository_name: name,
        } = self.key;
        let rules = match self
            .shared
            .replication
            .get(&(account.clone(), region.clone()))
        {
            Some(Ok(rules)) => rules,
            Some(Err(f)) => {
                let why = format!("the replication rules could not be read: {f}");
                return match self
                    .close(&items, SkipReason::ReplicationCheckFailed, why)
                    .await?
                {
                    Gate::Closed(d) => Ok(Err(d)),
                    Gate::Open => Ok(Err(Vec::new())),
                };
            }
            None => {
                let why = "the replication rules were not read".to_owned();
                return match self
                    .close(&items, SkipReason::ReplicationCheckFailed, why)
                    .await?
                {
                    Gate::Closed(d) => Ok(Err(d)),
                    Gate::Open => Ok(Err(Vec::new())),
                };
            }
        };
        let live: Vec<String> = ecrgc_aws::replication::delete_destinations(rules, name)
            .into_iter()
            .map(|(a, r)| format!("{a}/{r}"))
            .collect();
        let mut open = Vec::new();
        let mut entries = Vec::new();
        for item in items {
            let new: Vec<&str> = live
                .iter()
                .filter(|d| !item.replica_destinations.contains(d))
                .map(String::as_str)
                .collect();
            if new.is_empty() {
                open.push(item);
            } else {
                entries.push(self.decide(
                    item,
                    Event::Skipped,
                    Some(SkipReason::ReplicationChanged),
                    Some(format!(
                        "deleting it now also deletes its copies in {} (a replication rule \
                         with delete replication changed since the plan)",
                        new.join(", ")
                    )),
                ));
            }
        }
        self.record(entries).await?;
        Ok(Ok(open))
    }
}
