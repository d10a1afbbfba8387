//! One repository, live: the checks made just before acting, and the acting itself.
//!
//! Per repository: every live workload reference is at hand and none of its sources failed
//! (see [`crate::references`]: read again when older than `[apply]
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
//! attempt: [`Caller::call`] runs its closure after the gate's pause and while it holds the
//! gate's permit, and the closure sends DescribeImages and then, for the images whose tags,
//! push time, last recorded pull time (`lastRecordedPullTime`) and status (`imageStatus`:
//! `ACTIVE | ARCHIVED | ACTIVATING`, botocore `ImageDetail`) are unchanged since the check,
//! BatchDeleteImage (or UpdateImageStorageClass, one image a call). A retried attempt
//! describes again. What is left is the time between the two requests of one attempt, a
//! single round trip: ECR has no conditional delete. An image that changed is left alone
//! with the reason the check gives for its state now (`tagged_since_plan`,
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

use std::collections::{HashMap, HashSet};

use aws_sdk_ecr::operation::batch_delete_image::BatchDeleteImageOutput;
use aws_sdk_ecr::types::{ImageDetail, ImageIdentifier, ImageStatus, TargetStorageClass};
use aws_sdk_inspector2::types::{
    CoverageFilterCriteria, CoverageStringComparison, CoverageStringFilter,
};
use ecrgc_aws::{AccountSession, CallStats, Caller, Failure};
use ecrgc_config::TagSelector;
use ecrgc_manifest::Item;
use ecrgc_model::time::{Micros, parse_rfc3339, rfc3339};

use crate::Result;
use crate::executor::{Decision, Mode, Shared};
use crate::journal::{Entry, Event};
use crate::references::{RepoKey, View};

/// Why an item is left alone: the stable identifiers the journal and the summary use.
pub mod reason {
    /// The role could not be assumed in the registry account.
    pub const ROLE_UNAVAILABLE: &str = "role_unavailable";
    /// The live workload references could not all be read.
    pub const REFERENCE_CHECK_FAILED: &str = "reference_check_failed";
    /// The repository or its tags could not be read.
    pub const REPOSITORY_CHECK_FAILED: &str = "repository_check_failed";
    /// The repository carries the exclude tag now.
    pub const REPOSITORY_EXCLUDED: &str = "repository_excluded";
    /// The repository no longer carries the opt-in tag.
    pub const REPOSITORY_NOT_OPTED_IN: &str = "repository_not_opted_in";
    /// Inspector coverage could not be read.
    pub const INSPECTOR_CHECK_FAILED: &str = "inspector_check_failed";
    /// The images could not be described.
    pub const DESCRIBE_FAILED: &str = "describe_failed";
    /// A parent (index or subject) of the image is kept.
    pub const PARENT_KEPT: &str = "parent_kept";
    /// The image is being restored from the archive.
    pub const RESTORING: &str = "restoring";
    /// The digest was pushed again after the plan.
    pub const REPUSHED: &str = "repushed";
    /// The image carries a tag the manifest does not list.
    pub const TAGGED_SINCE_PLAN: &str = "tagged_since_plan";
    /// ECR or Inspector recorded a pull after the snapshot.
    pub const PULLED_SINCE_SNAPSHOT: &str = "pulled_since_snapshot";
    /// Inspector sees the image in use.
    pub const IN_USE: &str = "in_use";
    /// A live workload reference names the image (whether or not it existed at the
    /// snapshot): a task definition, service, pinned digest, task, Lambda version or alias.
    pub const IN_USE_REFERENCE: &str = "in_use_reference";
    /// The image is ARCHIVED now and was not when planned: archiving was a person's decision.
    pub const ARCHIVED_SINCE_PLAN: &str = "archived_since_plan";
    /// The image's tags, push time, pull time or status changed between the check and the
    /// description made right before the call.
    pub const CHANGED_SINCE_CHECK: &str = "changed_since_check";
    /// ECR refused: an image index in the repository still lists it.
    pub const REFERENCED_BY_INDEX: &str = "referenced_by_index";
    /// The apply lease was lost right before the call (another apply took it over, or it
    /// could not be renewed): not sent, and the run stops.
    pub const LEASE_LOST: &str = "lease_lost";
}

/// Inspector's view of one image now.
#[derive(Debug, Clone, Default)]
pub(crate) struct Usage {
    pub(crate) last_in_use_at: Option<Micros>,
    pub(crate) in_use_count: i64,
    pub(crate) pulled_at: Option<Micros>,
}

/// Where an item stands within this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Done,
    Kept,
}

struct Repo<'a> {
    shared: &'a Shared,
    key: &'a RepoKey,
    ecr: aws_sdk_ecr::Client,
    stats: CallStats,
    decisions: Vec<Decision>,
}

/// Applies the items of one repository. `prior_done` holds the digests of this repository
/// that earlier sessions finished. Returns one decision per item; fails only when the
/// journal cannot be written.
pub async fn process_repository(
    shared: &Shared,
    key: &RepoKey,
    items: Vec<&Item>,
    prior_done: &HashSet<String>,
) -> Result<Vec<Decision>> {
    let (account, region, name) = key;
    let session = match shared.sessions.get(account) {
        Some(Ok(session)) => session.clone(),
        Some(Err(f)) => {
            return shared
                .skip_all(&items, reason::ROLE_UNAVAILABLE, &f.to_string())
                .await;
        }
        None => {
            return shared
                .skip_all(
                    &items,
                    reason::ROLE_UNAVAILABLE,
                    "no session for the account",
                )
                .await;
        }
    };
    // Every live reference, before the repository's first call: nothing is deleted on a
    // view with a source missing.
    if let Some(why) = shared.references.view().await.blocked() {
        return shared
            .skip_all(&items, reason::REFERENCE_CHECK_FAILED, &why)
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
        match repo.inspector_usage(&session).await {
            Ok(usage) => Some(usage),
            Err(f) => {
                // Keep the decisions the replication gate already made.
                let mut decisions = std::mem::take(&mut repo.decisions);
                decisions.extend(
                    shared
                        .skip_all(&items, reason::INSPECTOR_CHECK_FAILED, &f.to_string())
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
                Some(reason::PARENT_KEPT),
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
            Some(reason::PARENT_KEPT),
            Some("its parents wait on each other".into()),
        ));
    }
    repo.record(entries).await?;
    Ok(repo.decisions)
}

enum Gate {
    Open,
    Closed(Vec<Decision>),
}

impl Repo<'_> {
    fn decide(
        &mut self,
        item: &Item,
        event: Event,
        reason: Option<&str>,
        message: Option<String>,
    ) -> Entry {
        let (decision, entry) = self.shared.decision(item, event, reason, message);
        self.decisions.push(decision);
        entry
    }

    async fn record(&self, entries: Vec<Entry>) -> Result<()> {
        self.shared.record(entries).await
    }

    /// The repository still exists, is opted in and is not excluded.
    async fn repository_gate(&mut self, items: &[&Item], name: &str) -> Result<Gate> {
        let (account, region, _) = self.key;
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
    /// for an item (see [`crate::replication`]): the items that pass, or every decision when
    /// the rules could not be read.
    async fn replication_gate<'i>(
        &mut self,
        items: Vec<&'i Item>,
    ) -> Result<std::result::Result<Vec<&'i Item>, Vec<Decision>>> {
        use crate::replication::reason::{REPLICATION_CHANGED, REPLICATION_CHECK_FAILED};
        let (account, region, name) = self.key;
        let rules = match self
            .shared
            .replication
            .get(&(account.clone(), region.clone()))
        {
            Some(Ok(rules)) => rules,
            Some(Err(f)) => {
                let why = format!("the replication rules could not be read: {f}");
                return match self.close(&items, REPLICATION_CHECK_FAILED, why).await? {
                    Gate::Closed(d) => Ok(Err(d)),
                    Gate::Open => Ok(Err(Vec::new())),
                };
            }
            None => {
                let why = "the replication rules were not read".to_owned();
                return match self.close(&items, REPLICATION_CHECK_FAILED, why).await? {
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
                    Some(REPLICATION_CHANGED),
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

    async fn close(&mut self, items: &[&Item], reason: &str, message: String) -> Result<Gate> {
        let mut entries = Vec::new();
        for item in items {
            entries.push(self.decide(item, Event::Skipped, Some(reason), Some(message.clone())));
        }
        self.record(entries).await?;
        Ok(Gate::Closed(std::mem::take(&mut self.decisions)))
    }

    /// Inspector's coverage of every image of the repository, now.
    async fn inspector_usage(
        &self,
        session: &AccountSession,
    ) -> Result<HashMap<String, Usage>, Failure> {
        inspector_usage(&self.shared.caller, &self.stats, session, self.key).await
    }

    /// Describes `digests`; a digest ECR does not know is returned as absent. ECR fails the
    /// whole call when one id is missing, so a failing batch is halved until the missing
    /// ones are found.
    async fn describe(
        &self,
        digests: &[&str],
    ) -> Result<(HashMap<String, ImageDetail>, HashSet<String>), Failure> {
        let (account, region, name) = self.key;
        let mut found = HashMap::new();
        let mut absent = HashSet::new();
        let mut queue: Vec<Vec<&str>> = vec![digests.to_vec()];
        while let Some(part) = queue.pop() {
            let ids: Vec<ImageIdentifier> = part
                .iter()
                .map(|d| ImageIdentifier::builder().image_digest(*d).build())
                .collect();
            let out = self
                .shared
                .caller
                .call(account, region, "ecr:DescribeImages", &self.stats, || {
                    self.ecr
                        .describe_images()
                        .registry_id(account)
                        .repository_name(name)
                        .set_image_ids(Some(ids.clone()))
                        .send()
                })
                .await;
            match out {
                Ok(out) => {
                    for d in out.image_details() {
                        if let Some(digest) = d.image_digest() {
                            found.insert(digest.to_owned(), d.clone());
                        }
                    }
                }
                Err(f) if f.code.as_deref() == Some("ImageNotFoundException") => {
                    if part.len() == 1 {
                        absent.insert(part[0].to_owned());
                    } else {
                        let (a, b) = part.split_at(part.len() / 2);
                        queue.push(a.to_vec());
                        queue.push(b.to_vec());
                    }
                }
                Err(f) => return Err(f),
            }
        }
        Ok((found, absent))
    }

    /// Re-validates and acts on one batch; returns each digest with whether it is gone
    /// (or archived) now.
    async fn batch<'i>(
        &mut self,
        batch: &[&'i Item],
        usage: Option<&HashMap<String, Usage>>,
    ) -> Result<Vec<(&'i str, bool)>> {
        let kept = |batch: &[&'i Item]| {
            batch
                .iter()
                .map(|i| (i.image_digest.as_str(), false))
                .collect::<Vec<_>>()
        };
        // The references this batch is judged on: re-read first when too old.
        let view = self.shared.references.view().await;
        if let Some(why) = view.blocked() {
            let entries = batch
                .iter()
                .map(|i| {
                    self.decide(
                        i,
                        Event::Skipped,
                        Some(reason::REFERENCE_CHECK_FAILED),
                        Some(why.clone()),
                    )
                })
                .collect();
            self.record(entries).await?;
            return Ok(kept(batch));
        }
        let digests: Vec<&str> = batch.iter().map(|i| i.image_digest.as_str()).collect();
        let mut outcome = Vec::new();
        let (live, absent) = match self.describe(&digests).await {
            Ok(described) => described,
            Err(f) => {
                let entries = batch
                    .iter()
                    .map(|i| {
                        self.decide(
                            i,
                            Event::Skipped,
                            Some(reason::DESCRIBE_FAILED),
                            Some(f.to_string()),
                        )
                    })
                    .collect();
                self.record(entries).await?;
                return Ok(kept(batch));
            }
        };
        let mode = self.shared.mode;
        let api = match mode {
            Mode::Delete => "ecr:BatchDeleteImage",
            Mode::Archive => "ecr:UpdateImageStorageClass",
        };
        let mut entries = Vec::new();
        let mut go: Vec<&Item> = Vec::new();
        for item in batch.iter().copied() {
            let digest = item.image_digest.as_str();
            if absent.contains(digest) {
                entries.push(self.decide(
                    item,
                    Event::Absent,
                    None,
                    Some("the image is gone".into()),
                ));
                outcome.push((digest, true));
                continue;
            }
            let Some(detail) = live.get(digest) else {
                entries.push(self.decide(
                    item,
                    Event::Skipped,
                    Some(reason::DESCRIBE_FAILED),
                    Some("DescribeImages did not return the image".into()),
                ));
                outcome.push((digest, false));
                continue;
            };
            match self.check(item, detail, usage, &view) {
                Check::Go => {
                    let mut intent = Entry::new(Event::Intent);
                    self.shared.fill_item(&mut intent, item);
                    intent.api = Some(api.to_owned());
                    entries.push(intent);
                    go.push(item);
                }
                Check::AlreadyArchived => {
                    entries.push(self.decide(item, Event::AlreadyArchived, None, None));
                    outcome.push((digest, true));
                }
                Check::Skip(why, message) => {
                    entries.push(self.decide(item, Event::Skipped, Some(why), Some(message)));
                    outcome.push((digest, false));
                }
            }
        }
        // Durable before the call: a crash after this leaves intents, never silent deletions.
        self.record(entries).await?;
        if go.is_empty() {
            return Ok(outcome);
        }
        let done_event = match mode {
            Mode::Delete => Event::Deleted,
            Mode::Archive => Event::Archived,
        };
        if !self.shared.execute {
            // A dry run: what would be done, counted as done so children are shown too.
            for item in &go {
                self.decide(item, done_event, None, None);
                outcome.push((item.image_digest.as_str(), true));
            }
            return Ok(outcome);
        }
        // The last look, inside the call (see the module documentation).
        let results = match mode {
            Mode::Delete => self.delete(&go, &live).await,
            Mode::Archive => self.archive(&go, &live).await,
        };
        let mut entries = Vec::new();
        for (item, result) in go.iter().zip(results) {
            let digest = item.image_digest.as_str();
            let entry = match result {
                Last::Sent(Ok(())) => {
                    outcome.push((digest, true));
                    let mut e = self.decide(item, done_event, None, None);
                    e.bytes = Some(item.image_size_bytes);
                    e
                }
                Last::Sent(Err(Refusal { code, message })) => {
                    let (event, why, gone) = match code.as_str() {
                        "ImageNotFound" | "ImageNotFoundException" => (Event::Absent, None, true),
                        "ImageReferencedByManifestList" => {
                            (Event::Skipped, Some(reason::REFERENCED_BY_INDEX), false)
                        }
                        _ => (Event::Failed, None, false),
                    };
                    outcome.push((digest, gone));
                    let mut e = self.decide(item, event, why, Some(message));
                    if let Some(d) = self.decisions.last_mut() {
                        d.code = Some(code.clone());
                    }
                    e.api = Some(api.to_owned());
                    e.code = Some(code);
                    e
                }
                Last::Gone => {
                    outcome.push((digest, true));
                    self.decide(item, Event::Absent, None, Some("the image is gone".into()))
                }
                Last::Unread(message) => {
                    outcome.push((digest, false));
                    self.decide(
                        item,
                        Event::Skipped,
                        Some(reason::DESCRIBE_FAILED),
                        Some(message),
                    )
                }
                Last::LeaseLost => {
                    outcome.push((digest, false));
                    self.decide(
                        item,
                        Event::Skipped,
                        Some(reason::LEASE_LOST),
                        Some(
                            "the apply lease was lost before the call; the next apply retries it"
                                .into(),
                        ),
                    )
                }
                Last::Changed(now) => match self.check(item, &now, usage, &view) {
                    Check::AlreadyArchived => {
                        outcome.push((digest, true));
                        self.decide(item, Event::AlreadyArchived, None, None)
                    }
                    Check::Skip(why, message) => {
                        outcome.push((digest, false));
                        self.decide(
                            item,
                            Event::Skipped,
                            Some(why),
                            Some(format!("{message} (seen right before the call)")),
                        )
                    }
                    Check::Go => {
                        outcome.push((digest, false));
                        let what = live
                            .get(digest)
                            .and_then(|before| changed(before, &now))
                            .unwrap_or_else(|| "the image changed".to_owned());
                        self.decide(
                            item,
                            Event::Skipped,
                            Some(reason::CHANGED_SINCE_CHECK),
                            Some(format!("{what} right before the call")),
                        )
                    }
                },
            };
            entries.push(entry);
        }
        self.record(entries).await?;
        Ok(outcome)
    }

    fn check(
        &self,
        item: &Item,
        d: &ImageDetail,
        usage: Option<&HashMap<String, Usage>>,
        view: &View,
    ) -> Check {
        let evidence = &item.evidence;
        if d.image_status() == Some(&ImageStatus::Activating) {
            return Check::Skip(
                reason::RESTORING,
                "the image is being restored from the archive".into(),
            );
        }
        if d.image_status() == Some(&ImageStatus::Archived) {
            return match self.shared.mode {
                Mode::Archive => Check::AlreadyArchived,
                // The plan lists ACTIVE images only: someone archived it since.
                Mode::Delete => Check::Skip(
                    reason::ARCHIVED_SINCE_PLAN,
                    match d.last_archived_at() {
                        Some(t) => format!("archived at {}, after the plan", rfc3339(micros(t))),
                        None => "archived after the plan".to_owned(),
                    },
                ),
            };
        }
        let planned_push = evidence
            .pushed_at
            .as_deref()
            .and_then(|t| parse_rfc3339(t).ok());
        let live_push = d.image_pushed_at().map(micros);
        if let (Some(planned), Some(live)) = (planned_push, live_push)
            && planned / 1_000_000 != live / 1_000_000
        {
            return Check::Skip(
                reason::REPUSHED,
                format!(
                    "pushed at {} now, {} in the plan",
                    rfc3339(live),
                    rfc3339(planned)
                ),
            );
        }
        let new_tags: Vec<&str> = d
            .image_tags()
            .iter()
            .map(String::as_str)
            .filter(|t| !item.image_tags.iter().any(|m| m == t))
            .collect();
        if !new_tags.is_empty() {
            return Check::Skip(
                reason::TAGGED_SINCE_PLAN,
                format!("new tags: {}", new_tags.join(", ")),
            );
        }
        let planned_pull = evidence
            .last_recorded_pull_time
            .as_deref()
            .and_then(|t| parse_rfc3339(t).ok());
        if let Some(live) = d.last_recorded_pull_time().map(micros)
            && planned_pull.is_none_or(|p| live > p)
        {
            return Check::Skip(
                reason::PULLED_SINCE_SNAPSHOT,
                format!("ECR recorded a pull at {}", rfc3339(live)),
            );
        }
        if let Some(u) = usage.and_then(|u| u.get(&item.image_digest)) {
            let planned_use = evidence
                .last_in_use_at
                .as_deref()
                .and_then(|t| parse_rfc3339(t).ok());
            if u.in_use_count > 0 {
                return Check::Skip(
                    reason::IN_USE,
                    format!("Inspector counts {} uses", u.in_use_count),
                );
            }
            if let Some(live) = u.last_in_use_at
                && planned_use.is_none_or(|p| live > p)
            {
                return Check::Skip(
                    reason::IN_USE,
                    format!("Inspector saw it in use at {}", rfc3339(live)),
                );
            }
            if let Some(pulled) = u.pulled_at
                && pulled > self.shared.snapshot_time
            {
                return Check::Skip(
                    reason::PULLED_SINCE_SNAPSHOT,
                    format!("Inspector saw a pull at {}", rfc3339(pulled)),
                );
            }
        }
        let mut tags: Vec<&str> = item.image_tags.iter().map(String::as_str).collect();
        tags.extend(d.image_tags().iter().map(String::as_str));
        if let Some(r) = view.matching(self.key, &item.image_digest, &tags) {
            return Check::Skip(reason::IN_USE_REFERENCE, format!("named by {}", r.resource));
        }
        Check::Go
    }

    /// The last look and BatchDeleteImage: inside one attempt of the call (after the gate's
    /// pause, holding its permit), DescribeImages of `items`, then BatchDeleteImage of those
    /// unchanged since `checked`. One result per item, in order.
    async fn delete(&self, items: &[&Item], checked: &HashMap<String, ImageDetail>) -> Vec<Last> {
        let (account, region, name) = self.key;
        let mut last: HashMap<&str, Last> = HashMap::new();
        let mut pending: Vec<&Item> = items.to_vec();
        let mut vanished_unseen = 0;
        while !pending.is_empty() {
            let step = self
                .shared
                .caller
                .call(account, region, "ecr:BatchDeleteImage", &self.stats, || {
                    let pending = &pending;
                    async move {
                        if !self.shared.lease_held() {
                            return Ok(Step::LeaseLost);
                        }
                        let now = match self.describe_now(pending).await {
                            Ok(Some(now)) => now,
                            Ok(None) => return Ok(Step::Missing),
                            Err(e) => return Err(e),
                        };
                        let send: Vec<ImageIdentifier> = pending
                            .iter()
                            .filter(|i| unchanged(checked, &now, &i.image_digest))
                            .map(|i| image_id(&i.image_digest))
                            .collect();
                        if send.is_empty() {
                            return Ok(Step::Held(now));
                        }
                        let out = self
                            .ecr
                            .batch_delete_image()
                            .registry_id(account)
                            .repository_name(name)
                            .set_image_ids(Some(send))
                            .send()
                            .await
                            .map_err(|e| e.map_service_error(aws_sdk_ecr::Error::from))?;
                        Ok(Step::Sent(now, out))
                    }
                })
                .await;
            match step {
                Err(f) => {
                    let code = f.code.clone().unwrap_or_else(|| format!("{:?}", f.kind));
                    for i in &pending {
                        let refusal = Refusal {
                            code: code.clone(),
                            message: f.to_string(),
                        };
                        last.insert(&i.image_digest, Last::Sent(Err(refusal)));
                    }
                    break;
                }
                Ok(Step::Missing) => {
                    // An image vanished since the check: find which (the halving describe),
                    // and look again at the others.
                    let digests: Vec<&str> =
                        pending.iter().map(|i| i.image_digest.as_str()).collect();
                    match self.describe(&digests).await {
                        Ok((_, absent)) if !absent.is_empty() => {
                            for i in &pending {
                                if absent.contains(&i.image_digest) {
                                    last.insert(&i.image_digest, Last::Gone);
                                }
                            }
                            pending.retain(|i| !absent.contains(&i.image_digest));
                        }
                        Ok(_) if vanished_unseen < 2 => vanished_unseen += 1,
                        Ok(_) => {
                            for i in &pending {
                                let why = "DescribeImages reported a missing image, then none";
                                last.insert(&i.image_digest, Last::Unread(why.into()));
                            }
                            break;
                        }
                        Err(f) => {
                            for i in &pending {
                                last.insert(&i.image_digest, Last::Unread(f.to_string()));
                            }
                            break;
                        }
                    }
                }
                Ok(Step::Held(now)) => {
                    for i in &pending {
                        last.insert(&i.image_digest, held(&now, &i.image_digest));
                    }
                    break;
                }
                Ok(Step::LeaseLost) => {
                    for i in &pending {
                        last.insert(&i.image_digest, Last::LeaseLost);
                    }
                    break;
                }
                Ok(Step::Sent(now, out)) => {
                    for i in &pending {
                        let digest = i.image_digest.as_str();
                        let result = if unchanged(checked, &now, digest) {
                            Last::Sent(deletion_result(&out, digest))
                        } else {
                            held(&now, digest)
                        };
                        last.insert(digest, result);
                    }
                    break;
                }
            }
        }
        items
            .iter()
            .map(|i| {
                last.remove(i.image_digest.as_str())
                    .unwrap_or_else(|| Last::Unread("no answer".into()))
            })
            .collect()
    }

    /// DescribeImages of `items` sent directly (inside a mutating call's attempt): the
    /// details by digest, or `None` when ECR says one of them is gone (it fails the whole
    /// call then).
    async fn describe_now(
        &self,
        items: &[&Item],
    ) -> std::result::Result<Option<HashMap<String, ImageDetail>>, EcrError> {
        let (account, _, name) = self.key;
        let ids: Vec<ImageIdentifier> = items.iter().map(|i| image_id(&i.image_digest)).collect();
        match self
            .ecr
            .describe_images()
            .registry_id(account)
            .repository_name(name)
            .set_image_ids(Some(ids))
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.image_details()
                    .iter()
                    .filter_map(|d| Some((d.image_digest()?.to_owned(), d.clone())))
                    .collect(),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_image_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.map_service_error(aws_sdk_ecr::Error::from)),
        }
    }

    /// The last look and UpdateImageStorageClass to ARCHIVE, one call per image (the gates
    /// capping concurrency), each described inside its own attempt.
    async fn archive(&self, items: &[&Item], checked: &HashMap<String, ImageDetail>) -> Vec<Last> {
        let (account, region, name) = self.key;
        let calls = items.iter().map(|item| async move {
            let step = self
                .shared
                .caller
                .call(
                    account,
                    region,
                    "ecr:UpdateImageStorageClass",
                    &self.stats,
                    || async move {
                        if !self.shared.lease_held() {
                            return Ok(ArchiveStep::LeaseLost);
                        }
                        let Some(now) = self.describe_now(&[*item]).await? else {
                            return Ok(ArchiveStep::Missing);
                        };
                        if !unchanged(checked, &now, &item.image_digest) {
                            return Ok(ArchiveStep::Held(now));
                        }
                        self.ecr
                            .update_image_storage_class()
                            .registry_id(account)
                            .repository_name(name)
                            .image_id(image_id(&item.image_digest))
                            .target_storage_class(TargetStorageClass::Archive)
                            .send()
                            .await
                            .map(|_| ArchiveStep::Sent)
                            .map_err(|e| e.map_service_error(aws_sdk_ecr::Error::from))
                    },
                )
                .await;
            match step {
                Ok(ArchiveStep::Sent) => Last::Sent(Ok(())),
                Ok(ArchiveStep::Missing) => Last::Gone,
                Ok(ArchiveStep::Held(now)) => held(&now, &item.image_digest),
                Ok(ArchiveStep::LeaseLost) => Last::LeaseLost,
                Err(f) => Last::Sent(Err(Refusal {
                    code: f.code.clone().unwrap_or_else(|| format!("{:?}", f.kind)),
                    message: f.to_string(),
                })),
            }
        });
        futures::future::join_all(calls).await
    }
}

/// An SDK error of any ECR operation: the last look and the mutating call of one attempt
/// fail alike.
type EcrError = aws_smithy_runtime_api::client::result::SdkError<
    aws_sdk_ecr::Error,
    aws_smithy_runtime_api::client::orchestrator::HttpResponse,
>;

/// One attempt of the last look and BatchDeleteImage.
enum Step {
    /// DescribeImages answered ImageNotFoundException: something vanished since the check.
    Missing,
    /// Every image changed since the check: nothing sent.
    Held(HashMap<String, ImageDetail>),
    /// The unchanged ones were sent.
    Sent(HashMap<String, ImageDetail>, BatchDeleteImageOutput),
    /// The apply lease was lost (another apply took it over, or it could not be renewed):
    /// nothing sent.
    LeaseLost,
}

/// One attempt of the last look and UpdateImageStorageClass.
enum ArchiveStep {
    Missing,
    Held(HashMap<String, ImageDetail>),
    Sent,
    LeaseLost,
}

/// What became of an image sent to the mutating call's attempt.
enum Last {
    /// The call was made for it: what it answered.
    Sent(Result<(), Refusal>),
    /// Left alone: it changed since the check (its description now).
    Changed(Box<ImageDetail>),
    /// Gone since the check.
    Gone,
    /// Not described right before the call: why.
    Unread(String),
    /// Not sent: the apply lease was lost.
    LeaseLost,
}

fn image_id(digest: &str) -> ImageIdentifier {
    ImageIdentifier::builder().image_digest(digest).build()
}

/// Whether `digest` is described `now` exactly as it was at the check.
fn unchanged(
    checked: &HashMap<String, ImageDetail>,
    now: &HashMap<String, ImageDetail>,
    digest: &str,
) -> bool {
    match (checked.get(digest), now.get(digest)) {
        (Some(before), Some(now)) => changed(before, now).is_none(),
        _ => false,
    }
}

/// An image left alone by the last look.
fn held(now: &HashMap<String, ImageDetail>, digest: &str) -> Last {
    match now.get(digest) {
        Some(d) => Last::Changed(Box::new(d.clone())),
        None => {
            Last::Unread("DescribeImages did not return the image right before the call".into())
        }
    }
}

/// What differs between the description at the check and the one right before the call:
/// the tags, the push time, the last recorded pull, the status. `None`: nothing.
pub(crate) fn changed(before: &ImageDetail, now: &ImageDetail) -> Option<String> {
    let tags = |d: &ImageDetail| {
        let mut t = d.image_tags().to_vec();
        t.sort();
        t
    };
    let time = |t: Option<&aws_smithy_types::DateTime>| t.map(|t| rfc3339(micros(t)));
    let shown = |t: Option<String>| t.unwrap_or_else(|| "none".into());
    if tags(before) != tags(now) {
        return Some(format!(
            "its tags changed from [{}] to [{}]",
            tags(before).join(", "),
            tags(now).join(", ")
        ));
    }
    if time(before.image_pushed_at()) != time(now.image_pushed_at()) {
        return Some(format!(
            "its push time changed from {} to {}",
            shown(time(before.image_pushed_at())),
            shown(time(now.image_pushed_at()))
        ));
    }
    if time(before.last_recorded_pull_time()) != time(now.last_recorded_pull_time()) {
        return Some(format!(
            "its last recorded pull changed from {} to {}",
            shown(time(before.last_recorded_pull_time())),
            shown(time(now.last_recorded_pull_time()))
        ));
    }
    if before.image_status() != now.image_status() {
        let status = |d: &ImageDetail| {
            d.image_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "unknown".into())
        };
        return Some(format!(
            "its status changed from {} to {}",
            status(before),
            status(now)
        ));
    }
    None
}

/// BatchDeleteImage's answer for one digest.
fn deletion_result(out: &BatchDeleteImageOutput, digest: &str) -> Result<(), Refusal> {
    if let Some(f) = out
        .failures()
        .iter()
        .find(|f| f.image_id().and_then(|i| i.image_digest()) == Some(digest))
    {
        return Err(Refusal {
            code: f
                .failure_code()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            message: f.failure_reason().unwrap_or_default().to_owned(),
        });
    }
    if out
        .image_ids()
        .iter()
        .any(|i| i.image_digest() == Some(digest))
    {
        Ok(())
    } else {
        Err(Refusal {
            code: "NotReported".into(),
            message: "BatchDeleteImage reported neither success nor failure".into(),
        })
    }
}

/// Inspector's coverage of every image of the repository `key`, now, by digest.
pub(crate) async fn inspector_usage(
    caller: &Caller,
    stats: &CallStats,
    session: &AccountSession,
    key: &RepoKey,
) -> Result<HashMap<String, Usage>, Failure> {
    let (account, region, name) = key;
    let inspector = session.inspector(region);
    let equals = |value: &str| {
        CoverageStringFilter::builder()
            .comparison(CoverageStringComparison::Equals)
            .value(value)
            .build()
            .map_err(|e| Failure::other(e.to_string()))
    };
    let criteria = CoverageFilterCriteria::builder()
        .resource_type(equals("AWS_ECR_CONTAINER_IMAGE")?)
        .account_id(equals(account)?)
        .ecr_repository_name(equals(name)?)
        .build();
    let resources = caller
        .paginate(account, region, "inspector2:ListCoverage", stats, |token| {
            let call = inspector
                .list_coverage()
                .filter_criteria(criteria.clone())
                .max_results(200)
                .set_next_token(token);
            async move {
                call.send().await.map(|o| {
                    (
                        o.covered_resources().to_vec(),
                        o.next_token().map(str::to_owned),
                    )
                })
            }
        })
        .await?;
    let mut usage = HashMap::new();
    for r in resources {
        let Some(digest) = r
            .resource_id()
            .rsplit('/')
            .next()
            .filter(|d| d.starts_with("sha256:"))
        else {
            continue;
        };
        let image = r.resource_metadata().and_then(|m| m.ecr_image());
        usage.insert(
            digest.to_owned(),
            Usage {
                last_in_use_at: image.and_then(|i| i.last_in_use_at()).map(micros),
                in_use_count: image.and_then(|i| i.in_use_count()).unwrap_or(0),
                pulled_at: image.and_then(|i| i.image_pulled_at()).map(micros),
            },
        );
    }
    Ok(usage)
}

enum Check {
    Go,
    AlreadyArchived,
    Skip(&'static str, String),
}

struct Refusal {
    code: String,
    message: String,
}

pub(crate) fn micros(t: &aws_smithy_types::DateTime) -> Micros {
    t.secs() * 1_000_000 + i64::from(t.subsec_nanos() / 1_000)
}

/// What the live repository allows, by its existence and its tags now.
pub(crate) enum RepositoryState {
    /// It exists, is opted in and is not excluded.
    Open,
    /// It no longer exists.
    Gone,
    /// Left alone: a `reason` and what was found.
    Closed(&'static str, String),
}

/// DescribeRepositories, then ListTagsForResource: whether `repository` may be worked on
/// under the exclude and opt-in tags of the configuration.
pub(crate) async fn check_repository(
    caller: &Caller,
    stats: &CallStats,
    ecr: &aws_sdk_ecr::Client,
    (account, region, name): (&str, &str, &str),
    exclude: &TagSelector,
    opt_in: Option<&TagSelector>,
) -> RepositoryState {
    let failed =
        |f: Failure| RepositoryState::Closed(reason::REPOSITORY_CHECK_FAILED, f.to_string());
    let described = caller
        .call(account, region, "ecr:DescribeRepositories", stats, || {
            ecr.describe_repositories()
                .registry_id(account)
                .repository_names(name)
                .send()
        })
        .await;
    let arn = match described {
        Ok(out) => out
            .repositories()
            .first()
            .and_then(|r| r.repository_arn())
            .map(str::to_owned),
        Err(f) if f.code.as_deref() == Some("RepositoryNotFoundException") => {
            return RepositoryState::Gone;
        }
        Err(f) => return failed(f),
    };
    let Some(arn) = arn else {
        return RepositoryState::Closed(
            reason::REPOSITORY_CHECK_FAILED,
            "DescribeRepositories gave no ARN".into(),
        );
    };
    let tags: Vec<(String, String)> = match caller
        .call(account, region, "ecr:ListTagsForResource", stats, || {
            ecr.list_tags_for_resource().resource_arn(&arn).send()
        })
        .await
    {
        Ok(out) => out
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
        Err(f) => return failed(f),
    };
    let tagged = |s: &TagSelector| tags.iter().find(|(k, v)| s.matches(k, v));
    if let Some((k, v)) = tagged(exclude) {
        let why = format!("the repository is tagged {k}={v}");
        return RepositoryState::Closed(reason::REPOSITORY_EXCLUDED, why);
    }
    if let Some(opt_in) = opt_in
        && tagged(opt_in).is_none()
    {
        let why = format!("the repository is not tagged {opt_in}");
        return RepositoryState::Closed(reason::REPOSITORY_NOT_OPTED_IN, why);
    }
    RepositoryState::Open
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecr::types::ImageStatus;
    use aws_smithy_types::DateTime;

    use super::*;

    fn detail(tags: &[&str], pushed: i64, pulled: Option<i64>, status: ImageStatus) -> ImageDetail {
        ImageDetail::builder()
            .image_digest(format!("sha256:{}", "a".repeat(64)))
            .set_image_tags(Some(tags.iter().map(|t| (*t).to_owned()).collect()))
            .image_pushed_at(DateTime::from_secs(pushed))
            .set_last_recorded_pull_time(pulled.map(DateTime::from_secs))
            .image_status(status)
            .build()
    }

    #[test]
    fn the_last_look_notices_tags_push_pull_and_status() {
        let base = detail(&["v1", "v2"], 100, Some(200), ImageStatus::Active);
        // The same image, tags in another order: unchanged.
        let same = detail(&["v2", "v1"], 100, Some(200), ImageStatus::Active);
        assert_eq!(changed(&base, &same), None);
        let cases = [
            (
                detail(&["v1", "v2", "hotfix"], 100, Some(200), ImageStatus::Active),
                "its tags changed from [v1, v2] to [hotfix, v1, v2]",
            ),
            (
                detail(&["v1"], 100, Some(200), ImageStatus::Active),
                "its tags changed from [v1, v2] to [v1]",
            ),
            (
                detail(&["v1", "v2"], 101, Some(200), ImageStatus::Active),
                "its push time changed",
            ),
            (
                detail(&["v1", "v2"], 100, Some(300), ImageStatus::Active),
                "its last recorded pull changed",
            ),
            (
                detail(&["v1", "v2"], 100, None, ImageStatus::Active),
                "its last recorded pull changed",
            ),
            (
                detail(&["v1", "v2"], 100, Some(200), ImageStatus::Archived),
                "its status changed from ACTIVE to ARCHIVED",
            ),
        ];
        for (now, what) in cases {
            let found = changed(&base, &now).unwrap_or_default();
            assert!(found.starts_with(what), "{found:?} for {now:?}");
        }
    }

    #[test]
    fn only_an_image_described_alike_twice_is_sent() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let at = |d: ImageDetail| HashMap::from([(digest.clone(), d)]);
        let checked = at(detail(&["v1"], 100, None, ImageStatus::Active));
        assert!(unchanged(
            &checked,
            &at(detail(&["v1"], 100, None, ImageStatus::Active)),
            &digest
        ));
        let tagged = at(detail(&["v1", "new"], 100, None, ImageStatus::Active));
        assert!(!unchanged(&checked, &tagged, &digest));
        assert!(matches!(held(&tagged, &digest), Last::Changed(d) if d.image_tags().len() == 2));
        // Not described now, or not at the check: never sent.
        assert!(!unchanged(&checked, &HashMap::new(), &digest));
        assert!(!unchanged(&HashMap::new(), &checked, &digest));
        assert!(matches!(held(&HashMap::new(), &digest), Last::Unread(_)));
    }
}
