//! Applying a lifecycle plan (`ecrgc lifecycle suggest --out`): put reviewed lifecycle
//! policies, one repository at a time, after checking them live.
//!
//! Admission is the deletion manifest's ([`crate::admit`], [`ecrgc_review::admit`]): the file
//! parses, every item matches its id, the header is one the store recorded and every item a
//! planned one (a reviewer may drop repositories, never add or edit one), the plan is not a
//! what-if and has not expired by the real clock, the configuration binds the same safety
//! settings, and the approvals `[safety]` asks for exist; anything else is bad input (exit 2)
//! before any API call.
//!
//! Per repository, live:
//!
//! 1. the repository exists, carries the opt-in tag and not the exclude tag (its tags now,
//!    under the configuration now);
//! 2. GetLifecyclePolicy: the policy in place must be the one the plan replaces (same
//!    canonical hash, or none when the plan saw none) — else `policy_changed`, so a policy
//!    someone edited after the snapshot is never overwritten; the planned policy already in
//!    place counts as done;
//! 3. DescribeImages, and the planned policy run through ecrgc's simulator of ECR's
//!    evaluation (moto, the test backend, has no StartLifecyclePolicyPreview; the simulator
//!    is the same one `lifecycle suggest` used): nothing it would expire now may be an image
//!    the plan kept (`would_expire_kept`), pushed after the snapshot (`unknown_image`), pulled
//!    since the snapshot (`pulled_since_snapshot`), in use per Inspector now (`in_use`) or
//!    named by any live workload reference (`in_use_reference`; every task definition,
//!    service, pinned digest, task and Lambda version or alias, read no longer than
//!    `[apply] reference_max_age_seconds` ago: see [`crate::checks::references`]).
//!
//! Only then, with `--yes`, PutLifecyclePolicy, announced by an `intent` line in the journal
//! and followed by `policy_put`. A second apply skips what is done; one that finds its own
//! policy in place after a crash records `policy_in_place`, so a policy is never put twice.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use aws_sdk_ecr::types::ImageStatus;
use ecrgc_aws::{AccountSession, CallStats, Caller, Failure};
use ecrgc_config::Config;
use ecrgc_lifecycle::plan::LifecycleItem;
use ecrgc_lifecycle::policy::policy_sha256;
use ecrgc_lifecycle::{SimImage, simulate};
use ecrgc_model::time::{Micros, rfc3339};
use ecrgc_store::Store;
use futures::StreamExt;

use crate::checks::inspector::inspector_usage;
use crate::checks::references::{References, RepositoryKey};
use crate::checks::repository::{RepositoryState, check_repository};
use crate::context::{PrepareScope, apply_caller, check_lease, prepare_shared};
use crate::error::Result;
use crate::journal::{Entry, Event, History, Journal, read_history};
use crate::lease::Lease;
use crate::skip::SkipReason;
use crate::summary::{Decision, Summary};
use crate::timestamp::micros;

pub use crate::admit::AdmittedPlan;

/// Everything one lifecycle run needs.
pub struct LifecycleRun<'a> {
    /// The admitted plan.
    pub admitted: &'a AdmittedPlan,
    /// The configuration now.
    pub config: &'a Config,
    /// The store (records, snapshot, journal).
    pub store: &'a Store,
    /// `false` for a dry run.
    pub execute: bool,
    /// The evaluation clock: the real one (policies are simulated as ECR would run them now).
    pub now: Micros,
    /// The local journal file.
    pub journal_path: PathBuf,
}

/// Images and bytes the policy expires on the live images, when it was evaluated.
pub type Expiry = Option<(u64, u64)>;

/// One repository's outcome.
pub struct ItemOutcome {
    /// The plan item.
    pub item: LifecycleItem,
    /// The final word on it.
    pub decision: Decision,
    /// Whether an earlier session made it.
    pub earlier: bool,
    /// What the policy expires live.
    pub live: Expiry,
}

/// The outcome of a lifecycle run.
pub struct LifecycleReport {
    /// Figures (`policy_put`, `policy_in_place`, `skipped`, `failed` in `by_event`).
    pub summary: Summary,
    /// Per item, in plan order.
    pub items: Vec<ItemOutcome>,
}

struct Ctx<'a> {
    caller: Caller,
    sessions: HashMap<String, Result<AccountSession, Failure>>,
    references: References,
    run: &'a LifecycleRun<'a>,
    journal: Option<tokio::sync::Mutex<Journal>>,
    lease: Option<Lease>,
}

/// Applies (or dry-runs) the admitted lifecycle plan.
pub async fn run(opts: LifecycleRun<'_>) -> Result<LifecycleReport> {
    let admitted = opts.admitted;
    let history = read_history(Some(&opts.journal_path), opts.store, &admitted.plan_id).await?;
    let latest = history.latest(false);
    let pending: Vec<&LifecycleItem> = admitted
        .plan
        .items
        .iter()
        .filter(|i| {
            !latest
                .get(i.item_id.as_str())
                .is_some_and(|e| e.event.is_done(false))
        })
        .collect();
    let caller = apply_caller(opts.config);
    let mut decided: HashMap<String, (Decision, Expiry)> = HashMap::new();
    let mut journal_paths = (None, None);
    if !pending.is_empty() {
        let ctx = prepare(&opts, &pending, caller.clone()).await?;
        if let Some(j) = &ctx.journal {
            let j = j.lock().await;
            journal_paths = (
                Some(j.local_path().display().to_string()),
                Some(j.store_folder()),
            );
        }
        let mut started = Entry::new(Event::SessionStarted);
        started.detail = Some(serde_json::json!({
            "kind": "lifecycle",
            "items": admitted.plan.items.len(),
            "pending": pending.len(),
            "tool_version": env!("CARGO_PKG_VERSION"),
            "config_hash": opts.config.hash(),
            "planned_config_sha256": admitted.plan.header.plan.config.sha256,
            "approvers": admitted.review.approvers,
        }));
        ctx.record(vec![started]).await?;
        let ctx_ref = &ctx;
        let results: Vec<Result<(String, Decision, Expiry)>> =
            futures::stream::iter(pending.iter().copied())
                .map(|item| async move {
                    let (d, live) = ctx_ref.item(item).await?;
                    Ok((item.item_id.clone(), d, live))
                })
                .buffer_unordered(opts.config.apply.parallel_repositories.max(1) as usize)
                .collect()
                .await;
        for r in results {
            let (id, d, live) = r?;
            decided.insert(id, (d, live));
        }
        let summary = summarize(&opts, &history, &decided, &caller, &journal_paths);
        let mut finished = Entry::new(Event::SessionFinished);
        finished.detail = serde_json::to_value(&summary).ok();
        ctx.record(vec![finished]).await?;
        if let Some(lease) = &ctx.lease {
            lease.release().await;
        }
    }
    let summary = summarize(&opts, &history, &decided, &caller, &journal_paths);
    let items = admitted
        .plan
        .items
        .iter()
        .map(|item| {
            if let Some((d, live)) = decided.get(&item.item_id) {
                return ItemOutcome {
                    item: item.clone(),
                    decision: d.clone(),
                    earlier: false,
                    live: *live,
                };
            }
            let e = latest.get(item.item_id.as_str());
            let d = Decision {
                item_id: item.item_id.clone(),
                event: e.map(|e| e.event).unwrap_or(Event::Skipped),
                reason: e.and_then(|e| e.reason.clone()),
                message: e.and_then(|e| e.message.clone()),
                code: e.and_then(|e| e.code.clone()),
            };
            ItemOutcome {
                item: item.clone(),
                decision: d,
                earlier: true,
                live: None,
            }
        })
        .collect();
    Ok(LifecycleReport { summary, items })
}

async fn prepare<'a>(
    opts: &'a LifecycleRun<'a>,
    pending: &[&LifecycleItem],
    caller: Caller,
) -> Result<Ctx<'a>> {
    let prepared = prepare_shared(
        PrepareScope {
            config: opts.config,
            store: opts.store,
            items: pending
                .iter()
                .map(|i| (i.account_id.clone(), i.region.clone()))
                .collect(),
            snapshot_time: opts.admitted.snapshot_time,
            plan_id: &opts.admitted.plan_id,
            journal_path: &opts.journal_path,
            execute: opts.execute,
        },
        &caller,
    )
    .await?;
    Ok(Ctx {
        caller,
        sessions: prepared.sessions,
        references: prepared.references,
        run: opts,
        journal: prepared.journal,
        lease: prepared.lease,
    })
}

/// What one repository's live state allows.
enum Verdict {
    /// Every check passed: put with this client.
    Put(aws_sdk_ecr::Client),
    InPlace,
    Absent(String),
    Skip(SkipReason, String),
}

impl Ctx<'_> {
    async fn record(&self, entries: Vec<Entry>) -> Result<()> {
        if let Some(j) = &self.journal {
            let mut j = j.lock().await;
            check_lease(self.lease.as_ref(), &entries)?;
            j.append(entries).await?;
        }
        Ok(())
    }

    fn entry(item: &LifecycleItem, event: Event) -> Entry {
        let mut e = Entry::new(event);
        e.item_id = Some(item.item_id.clone());
        e.account_id = Some(item.account_id.clone());
        e.region = Some(item.region.clone());
        e.repository_name = Some(item.repository_name.clone());
        e
    }

    /// Checks one repository live and, with `--yes`, puts its policy.
    async fn item(&self, item: &LifecycleItem) -> Result<(Decision, Expiry)> {
        let stats = CallStats::default();
        let (verdict, live) = self.check(item, &stats).await;
        let decision =
            |event: Event, reason: Option<SkipReason>, message: Option<String>| Decision {
                item_id: item.item_id.clone(),
                event,
                reason: reason.map(|r| r.as_str().to_owned()),
                message,
                code: None,
            };
        let (d, mut e) = match verdict {
            Verdict::Skip(r, m) => (
                decision(Event::Skipped, Some(r), Some(m.clone())),
                Self::entry(item, Event::Skipped),
            ),
            Verdict::Absent(m) => (
                decision(Event::Absent, None, Some(m)),
                Self::entry(item, Event::Absent),
            ),
            Verdict::InPlace => (
                decision(
                    Event::PolicyInPlace,
                    None,
                    Some("the planned policy is the one in place".into()),
                ),
                Self::entry(item, Event::PolicyInPlace),
            ),
            Verdict::Put(_) if !self.run.execute => {
                let message = live.map(|(n, b)| format!("expires {n} images ({b} bytes) now"));
                return Ok((decision(Event::PolicyPut, None, message), live));
            }
            Verdict::Put(ecr) => return self.put(item, &ecr, &stats, live).await,
        };
        e.reason = d.reason.clone();
        e.message = d.message.clone();
        self.record(vec![e]).await?;
        Ok((d, live))
    }

    async fn put(
        &self,
        item: &LifecycleItem,
        ecr: &aws_sdk_ecr::Client,
        stats: &CallStats,
        live: Expiry,
    ) -> Result<(Decision, Expiry)> {
        let mut intent = Self::entry(item, Event::Intent);
        intent.api = Some("ecr:PutLifecyclePolicy".into());
        intent.detail = Some(serde_json::json!({
            "policy_sha256": item.policy_sha256,
            "replaces_policy_sha256": item.replaces_policy_sha256,
        }));
        self.record(vec![intent]).await?;
        let (account, region, name) = (&item.account_id, &item.region, &item.repository_name);
        let text = item.policy.to_text();
        let out = self
            .caller
            .call(account, region, "ecr:PutLifecyclePolicy", stats, || {
                ecr.put_lifecycle_policy()
                    .registry_id(account)
                    .repository_name(name)
                    .lifecycle_policy_text(&text)
                    .send()
            })
            .await;
        let (event, code, message) = match out {
            Ok(_) => (
                Event::PolicyPut,
                None,
                live.map(|(n, b)| format!("expires {n} images ({b} bytes) now")),
            ),
            Err(f) => (
                Event::Failed,
                Some(f.code.clone().unwrap_or_else(|| format!("{:?}", f.kind))),
                Some(f.to_string()),
            ),
        };
        let mut e = Self::entry(item, event);
        e.api = Some("ecr:PutLifecyclePolicy".into());
        e.code = code.clone();
        e.message = message.clone();
        self.record(vec![e]).await?;
        Ok((
            Decision {
                item_id: item.item_id.clone(),
                event,
                reason: None,
                message,
                code,
            },
            live,
        ))
    }

    /// The live checks; the figures are what the policy expires on the live images.
    async fn check(&self, item: &LifecycleItem, stats: &CallStats) -> (Verdict, Expiry) {
        let key: RepositoryKey =
            RepositoryKey::new(&item.account_id, &item.region, &item.repository_name);
        let (account, region, name) = (&key.account_id, &key.region, &key.repository_name);
        let session = match self.sessions.get(account) {
            Some(Ok(s)) => s.clone(),
            Some(Err(f)) => {
                return (
                    Verdict::Skip(SkipReason::RoleUnavailable, f.to_string()),
                    None,
                );
            }
            None => {
                return (
                    Verdict::Skip(SkipReason::RoleUnavailable, "no session".into()),
                    None,
                );
            }
        };
        let ecr = session.ecr(region);
        let caller = &self.caller;
        // 1. The repository, its tags.
        let exclude = self.run.config.exclude_tag();
        let opt_in = self.run.config.opt_in_tag();
        match check_repository(
            caller,
            stats,
            &ecr,
            (account, region, name),
            &exclude,
            opt_in.as_ref(),
        )
        .await
        {
            RepositoryState::Open => {}
            RepositoryState::Gone => {
                return (Verdict::Absent("the repository is gone".into()), None);
            }
            RepositoryState::Closed(why, message) => return (Verdict::Skip(why, message), None),
        }
        // 2. The policy in place.
        let live_policy = match caller
            .call(account, region, "ecr:GetLifecyclePolicy", stats, || {
                ecr.get_lifecycle_policy()
                    .registry_id(account)
                    .repository_name(name)
                    .send()
            })
            .await
        {
            Ok(out) => out.lifecycle_policy_text().map(str::to_owned),
            Err(f) if f.code.as_deref() == Some("LifecyclePolicyNotFoundException") => None,
            Err(f) => {
                return (
                    Verdict::Skip(SkipReason::PolicyCheckFailed, f.to_string()),
                    None,
                );
            }
        };
        let live_sha = live_policy.as_deref().map(policy_sha256);
        if live_sha.as_deref() == Some(item.policy_sha256.as_str()) {
            return (Verdict::InPlace, None);
        }
        if live_sha != item.replaces_policy_sha256 {
            let show = |s: &Option<String>| {
                s.as_deref()
                    .map_or_else(|| "none".to_owned(), |s| s[..12.min(s.len())].to_owned())
            };
            return (
                Verdict::Skip(
                    SkipReason::PolicyChanged,
                    format!(
                        "the policy in place ({}) is not the one the plan replaces ({})",
                        show(&live_sha),
                        show(&item.replaces_policy_sha256)
                    ),
                ),
                None,
            );
        }
        // 3. The images, and what the policy would expire among them now.
        let details = match caller
            .paginate(account, region, "ecr:DescribeImages", stats, |token| {
                let call = ecr
                    .describe_images()
                    .registry_id(account)
                    .repository_name(name)
                    .max_results(1000)
                    .set_next_token(token);
                async move {
                    call.send().await.map(|o| {
                        (
                            o.image_details().to_vec(),
                            o.next_token().map(str::to_owned),
                        )
                    })
                }
            })
            .await
        {
            Ok(d) => d,
            Err(f) => {
                return (
                    Verdict::Skip(SkipReason::DescribeFailed, f.to_string()),
                    None,
                );
            }
        };
        let images: Vec<SimImage> = details
            .iter()
            .map(|d| SimImage {
                digest: d.image_digest().unwrap_or_default().to_owned(),
                pushed_at: d.image_pushed_at().map(micros).unwrap_or(i64::MAX),
                tags: d.image_tags().to_vec(),
                active: d.image_status().is_none_or(|s| *s == ImageStatus::Active),
            })
            .collect();
        let eval = simulate(&item.policy, &images, self.run.now);
        let expired: Vec<usize> = eval.expired_indexes().collect();
        let bytes: u64 = expired
            .iter()
            .map(|&i| details[i].image_size_in_bytes().unwrap_or(0).max(0) as u64)
            .sum();
        let live = Some((expired.len() as u64, bytes));
        let snapshot = self.run.admitted.snapshot_time;
        let kept: HashSet<&str> = item.kept_digests.iter().map(String::as_str).collect();
        for &i in &expired {
            let (im, d) = (&images[i], &details[i]);
            if kept.contains(im.digest.as_str()) {
                return (
                    Verdict::Skip(
                        SkipReason::WouldExpireKept,
                        format!("it would expire {}, which the plan kept", im.digest),
                    ),
                    live,
                );
            }
            if im.pushed_at > snapshot {
                return (
                    Verdict::Skip(
                        SkipReason::UnknownImage,
                        format!("it would expire {}, pushed after the snapshot", im.digest),
                    ),
                    live,
                );
            }
            if let Some(pulled) = d.last_recorded_pull_time().map(micros)
                && pulled > snapshot
            {
                return (
                    Verdict::Skip(
                        SkipReason::PulledSinceSnapshot,
                        format!(
                            "it would expire {}, pulled at {}",
                            im.digest,
                            rfc3339(pulled)
                        ),
                    ),
                    live,
                );
            }
        }
        if expired.is_empty() {
            return (Verdict::Put(ecr), live);
        }
        let view = self.references.view().await;
        if let Some(why) = view.blocked() {
            return (Verdict::Skip(SkipReason::ReferenceCheckFailed, why), live);
        }
        for &i in &expired {
            let im = &images[i];
            let tags: Vec<&str> = im.tags.iter().map(String::as_str).collect();
            if let Some(r) = view.matching(&key, &im.digest, &tags) {
                return (
                    Verdict::Skip(
                        SkipReason::InUseReference,
                        format!("it would expire {}, named by {}", im.digest, r.resource),
                    ),
                    live,
                );
            }
        }
        if self.run.config.sources.inspector {
            let usage = match inspector_usage(caller, stats, &session, &key).await {
                Ok(u) => u,
                Err(f) => {
                    return (
                        Verdict::Skip(SkipReason::InspectorCheckFailed, f.to_string()),
                        live,
                    );
                }
            };
            for &i in &expired {
                let Some(u) = usage.get(&images[i].digest) else {
                    continue;
                };
                let used_after = u.last_in_use_at.is_some_and(|t| t > snapshot);
                let pulled_after = u.pulled_at.is_some_and(|t| t > snapshot);
                if u.in_use_count > 0 || used_after {
                    return (
                        Verdict::Skip(
                            SkipReason::InUse,
                            format!("it would expire {}, in use per Inspector", images[i].digest),
                        ),
                        live,
                    );
                }
                if pulled_after {
                    return (
                        Verdict::Skip(
                            SkipReason::PulledSinceSnapshot,
                            format!(
                                "it would expire {}, pulled after the snapshot per Inspector",
                                images[i].digest
                            ),
                        ),
                        live,
                    );
                }
            }
        }
        (Verdict::Put(ecr), live)
    }
}

fn summarize(
    opts: &LifecycleRun<'_>,
    history: &History,
    now: &HashMap<String, (Decision, Expiry)>,
    caller: &Caller,
    journal: &(Option<String>, Option<String>),
) -> Summary {
    let latest = history.latest(false);
    let plan = &opts.admitted.plan;
    let mut s = Summary {
        manifest_id: opts.admitted.plan_id.clone(),
        mode: None,
        dry_run: !opts.execute,
        items: plan.items.len() as u64,
        planned_items: plan.header.repositories,
        api_calls: caller.totals().calls(),
        throttles: caller.totals().throttles(),
        journal: journal.0.clone(),
        journal_store: journal.1.clone(),
        ..Summary::default()
    };
    let mut by_event: BTreeMap<String, u64> = BTreeMap::new();
    for item in &plan.items {
        let prior = latest.get(item.item_id.as_str());
        let (event, reason, code, live) = match (prior, now.get(&item.item_id)) {
            (Some(p), _) if p.event.is_done(false) => {
                s.done_before += 1;
                (p.event, p.reason.clone(), p.code.clone(), None)
            }
            (_, Some((d, live))) => {
                s.decided_now += 1;
                (d.event, d.reason.clone(), d.code.clone(), *live)
            }
            (Some(p), None) => (p.event, p.reason.clone(), p.code.clone(), None),
            (None, None) => continue,
        };
        *by_event.entry(event.name()).or_default() += 1;
        match event {
            Event::PolicyPut => s.bytes += live.map_or(0, |(_, b)| b),
            Event::Skipped => {
                *s.skipped_by_reason
                    .entry(reason.unwrap_or_else(|| "unknown".into()))
                    .or_default() += 1
            }
            Event::Failed => {
                *s.failed_by_code
                    .entry(code.unwrap_or_else(|| "unknown".into()))
                    .or_default() += 1
            }
            _ => {}
        }
    }
    s.by_event = by_event;
    s
}
