//! The run: which items are left to do, the sessions and the live references they need, the
//! repositories worked on in parallel, and the summary over every session of the manifest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use ecrgc_aws::replication::{ReplicationRule, replication_rules};
use ecrgc_aws::{AccountSession, CallStats, Caller, Failure};
use ecrgc_config::Config;
use ecrgc_manifest::Item;
use ecrgc_store::Store;
use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;

use crate::admit::Admitted;
use crate::checks::references::RepositoryKey;
use crate::checks::replication::{ImageKey, phases, replica_key};
use crate::context::{PrepareScope, apply_caller, prepare_shared};
use crate::deletion::{Shared, process_repository};
use crate::error::Result;
use crate::journal::{Entry, Event, History, read_history};
use crate::skip::SkipReason;
use crate::summary::{Decision, Mode, Summary};

/// Everything a run needs.
pub struct RunOptions<'a> {
    /// The admitted manifest.
    pub admitted: &'a Admitted,
    /// The configuration now.
    pub config: &'a Config,
    /// The store (planned records, snapshot, journal).
    pub store: &'a Store,
    /// Delete or archive.
    pub mode: Mode,
    /// `false` for a dry run.
    pub execute: bool,
    /// The local journal file.
    pub journal_path: PathBuf,
    /// Progress display (stderr).
    pub progress: ProgressBar,
}

/// The outcome of a run.
pub struct Report {
    /// Figures.
    pub summary: Summary,
    /// Per item, in manifest order: the final event and its reason.
    pub items: Vec<(Item, Decision, bool)>,
}

/// Applies (or dry-runs) the admitted manifest.
pub async fn run(opts: RunOptions<'_>) -> Result<Report> {
    let admitted = opts.admitted;
    let manifest = &admitted.manifest;
    let archive = opts.mode == Mode::Archive;
    let history = read_history(Some(&opts.journal_path), opts.store, &admitted.manifest_id).await?;
    let latest = history.latest(archive);
    let pending: Vec<&Item> = manifest
        .items
        .iter()
        .filter(|i| {
            !latest
                .get(i.item_id.as_str())
                .is_some_and(|e| e.event.is_done(archive))
        })
        .collect();
    let mut prior_done: HashMap<RepositoryKey, HashSet<String>> = HashMap::new();
    for e in latest.values().filter(|e| e.event.is_done(archive)) {
        if let (Some(a), Some(r), Some(n), Some(d)) = (
            &e.account_id,
            &e.region,
            &e.repository_name,
            &e.image_digest,
        ) {
            prior_done
                .entry(RepositoryKey::new(a, r, n))
                .or_default()
                .insert(d.clone());
        }
    }
    opts.progress.set_length(pending.len() as u64);

    let caller = apply_caller(opts.config);
    let mut decisions: HashMap<String, Decision> = HashMap::new();
    let mut journal_paths = (None, None);
    let mut shared = None;
    if !pending.is_empty() {
        let shared = shared.insert(prepare(&opts, &pending, caller.clone()).await?);
        if let Some(j) = &shared.journal {
            let j = j.lock().await;
            journal_paths = (
                Some(j.local_path().display().to_string()),
                Some(j.store_folder()),
            );
        }
        let mut started = Entry::new(Event::SessionStarted);
        started.detail = Some(serde_json::json!({
            "mode": opts.mode,
            "items": manifest.items.len(),
            "pending": pending.len(),
            "tool_version": env!("CARGO_PKG_VERSION"),
            "config_hash": opts.config.hash(),
            "planned_config_sha256": manifest.header.plan.config.sha256,
            "approvers": admitted.review.approvers,
        }));
        shared.record(vec![started]).await?;

        // Replicas before the sources whose deletion would take them along (see
        // `replication`); without delete replication there is one phase.
        let known: HashMap<ImageKey, &Item> = manifest
            .items
            .iter()
            .map(|i| {
                (
                    ImageKey::new(
                        &i.account_id,
                        &i.region,
                        &i.repository_name,
                        &i.image_digest,
                    ),
                    i,
                )
            })
            .collect();
        let by_id: HashMap<&str, &Item> = manifest
            .items
            .iter()
            .map(|i| (i.item_id.as_str(), i))
            .collect();
        let (ordered, refused) = phases(&pending, &known);
        let mut entries = Vec::new();
        for (item, reason, message) in refused {
            let (d, e) = shared.decision(item, Event::Skipped, Some(reason), Some(message));
            decisions.insert(d.item_id.clone(), d);
            entries.push(e);
        }
        shared.record(entries).await?;
        for phase in ordered {
            let mut ready = Vec::new();
            let mut entries = Vec::new();
            for item in phase {
                let held = item.replicas.iter().find_map(|dest| {
                    let replica = known.get(&replica_key(item, dest))?;
                    let done = decisions
                        .get(&replica.item_id)
                        .map(|d| d.event)
                        .or_else(|| latest.get(replica.item_id.as_str()).map(|e| e.event))
                        .is_some_and(|e| e.is_done(archive));
                    (!done).then(|| format!("its replica in {dest} was not deleted"))
                });
                match held {
                    Some(why) => {
                        let reason = SkipReason::ReplicaKept;
                        let (d, e) = shared.decision(item, Event::Skipped, Some(reason), Some(why));
                        decisions.insert(d.item_id.clone(), d);
                        entries.push(e);
                    }
                    None => ready.push(item),
                }
            }
            shared.record(entries).await?;
            let mut groups: BTreeMap<RepositoryKey, Vec<&Item>> = BTreeMap::new();
            for item in ready {
                groups
                    .entry(RepositoryKey::new(
                        &item.account_id,
                        &item.region,
                        &item.repository_name,
                    ))
                    .or_default()
                    .push(item);
            }
            let empty = HashSet::new();
            let (shared_ref, prior_ref, empty_ref) = (&*shared, &prior_done, &empty);
            let results: Vec<Vec<Decision>> = futures::stream::iter(interleave(groups))
                .map(|(key, items)| async move {
                    let prior = prior_ref.get(&key).unwrap_or(empty_ref);
                    process_repository(shared_ref, &key, items, prior).await
                })
                .buffer_unordered(opts.config.apply.parallel_repositories.max(1) as usize)
                .try_collect()
                .await?;
            // What this phase finished counts as done for the parents checks of the next.
            for d in results.into_iter().flatten() {
                if d.event.is_done(archive)
                    && let Some(item) = by_id.get(d.item_id.as_str())
                {
                    prior_done
                        .entry(RepositoryKey::new(
                            &item.account_id,
                            &item.region,
                            &item.repository_name,
                        ))
                        .or_default()
                        .insert(item.image_digest.clone());
                }
                decisions.insert(d.item_id.clone(), d);
            }
        }
    }
    opts.progress.finish_and_clear();
    let summary = summarize(&opts, &history, &decisions, &caller, &journal_paths);
    if let Some(shared) = &shared {
        let mut finished = Entry::new(Event::SessionFinished);
        finished.detail = serde_json::to_value(&summary).ok();
        shared.record(vec![finished]).await?;
        if let Some(lease) = &shared.lease {
            lease.release().await;
        }
    }
    let items = manifest
        .items
        .iter()
        .map(|item| {
            if let Some(d) = decisions.get(&item.item_id) {
                return (item.clone(), d.clone(), false);
            }
            let e = latest.get(item.item_id.as_str());
            let d = Decision {
                item_id: item.item_id.clone(),
                event: e.map(|e| e.event).unwrap_or(Event::Skipped),
                reason: e.and_then(|e| e.reason.clone()),
                message: e.and_then(|e| e.message.clone()),
                code: e.and_then(|e| e.code.clone()),
            };
            (item.clone(), d, true)
        })
        .collect();
    Ok(Report { summary, items })
}

/// The repositories in the order they are worked on: round-robin over account × region.
///
/// AWS rate-limits each API per account and region, so `parallel_repositories` slots all
/// spent in one account and region (the sorted order's first few hundred repositories) would
/// queue on that one BatchDeleteImage limit while every other region's limit sat unused.
/// Taking the first repository of every account × region, then the second of each, and so on
/// spreads the slots over every limit.
fn interleave<V>(groups: BTreeMap<RepositoryKey, V>) -> Vec<(RepositoryKey, V)> {
    let mut by_place: BTreeMap<(String, String), Vec<(RepositoryKey, V)>> = BTreeMap::new();
    for (key, v) in groups {
        by_place
            .entry((key.account_id.clone(), key.region.clone()))
            .or_default()
            .push((key, v));
    }
    let mut queues: Vec<std::vec::IntoIter<(RepositoryKey, V)>> =
        by_place.into_values().map(Vec::into_iter).collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for q in &mut queues {
            out.extend(q.next());
        }
        if out.len() == before {
            return out;
        }
    }
}

/// Everything the repository tasks of a manifest share.
async fn prepare(opts: &RunOptions<'_>, pending: &[&Item], caller: Caller) -> Result<Shared> {
    let config = opts.config;
    let prepared = prepare_shared(
        PrepareScope {
            config,
            store: opts.store,
            items: pending
                .iter()
                .map(|i| (i.account_id.clone(), i.region.clone()))
                .collect(),
            snapshot_time: opts.admitted.snapshot_time,
            plan_id: &opts.admitted.manifest_id,
            journal_path: &opts.journal_path,
            execute: opts.execute,
        },
        &caller,
    )
    .await?;
    let replication = read_replication(pending, &prepared.sessions, &caller).await;
    Ok(Shared {
        replication,
        caller,
        sessions: prepared.sessions,
        inspector: config.sources.inspector,
        references: prepared.references,
        snapshot_time: opts.admitted.snapshot_time,
        mode: opts.mode,
        execute: opts.execute,
        batch_size: config.apply.batch_size.clamp(1, 100) as usize,
        exclude_tag: config.exclude_tag(),
        opt_in_tag: config.opt_in_tag(),
        journal: prepared.journal,
        lease: prepared.lease,
        progress: opts.progress.clone(),
    })
}

/// The replication rules of every registry × region an item lives in, read once each.
async fn read_replication(
    pending: &[&Item],
    sessions: &HashMap<String, Result<AccountSession, Failure>>,
    caller: &Caller,
) -> HashMap<(String, String), Result<Vec<ReplicationRule>, Failure>> {
    let mut places: Vec<(String, String)> = pending
        .iter()
        .map(|i| (i.account_id.clone(), i.region.clone()))
        .collect();
    places.sort();
    places.dedup();
    futures::future::join_all(places.into_iter().map(|(account, region)| async move {
        let rules = match sessions.get(&account) {
            Some(Ok(session)) => {
                let stats = CallStats::default();
                replication_rules(caller, &account, &region, &stats, &session.ecr(&region)).await
            }
            Some(Err(f)) => Err(f.clone()),
            None => Err(Failure::other("no session for the account")),
        };
        ((account, region), rules)
    }))
    .await
    .into_iter()
    .collect()
}

fn summarize(
    opts: &RunOptions<'_>,
    history: &History,
    now: &HashMap<String, Decision>,
    caller: &Caller,
    journal: &(Option<String>, Option<String>),
) -> Summary {
    let archive = opts.mode == Mode::Archive;
    let latest = history.latest(archive);
    let manifest = &opts.admitted.manifest;
    let mut s = Summary {
        manifest_id: opts.admitted.manifest_id.clone(),
        mode: Some(opts.mode),
        dry_run: !opts.execute,
        items: manifest.items.len() as u64,
        planned_items: manifest.header.totals.images,
        api_calls: caller.totals().calls(),
        throttles: caller.totals().throttles(),
        journal: journal.0.clone(),
        journal_store: journal.1.clone(),
        ..Summary::default()
    };
    for item in &manifest.items {
        let prior = latest.get(item.item_id.as_str());
        let (event, reason, code) = match (prior, now.get(&item.item_id)) {
            (Some(p), _) if p.event.is_done(archive) => {
                s.done_before += 1;
                (p.event, p.reason.clone(), p.code.clone())
            }
            (_, Some(d)) => {
                s.decided_now += 1;
                (d.event, d.reason.clone(), d.code.clone())
            }
            (Some(p), None) => (p.event, p.reason.clone(), p.code.clone()),
            (None, None) => continue,
        };
        *s.by_event.entry(event.name()).or_default() += 1;
        match event {
            Event::Deleted | Event::Archived => s.bytes += item.image_size_bytes.max(0) as u64,
            Event::Skipped => {
                *s.skipped_by_reason
                    .entry(reason.unwrap_or_else(|| "unknown".into()))
                    .or_default() += 1
            }
            Event::Failed => {
                let code = code.unwrap_or_else(|| "unknown".into());
                *s.failed_by_code.entry(code).or_default() += 1
            }
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_alternate_between_accounts_and_regions() {
        let key = |a: &str, r: &str, n: &str| RepositoryKey::new(a, r, n);
        let groups: BTreeMap<RepositoryKey, u32> = [
            (key("1", "eu", "a"), 1),
            (key("1", "eu", "b"), 2),
            (key("1", "eu", "c"), 3),
            (key("1", "us", "a"), 4),
            (key("2", "eu", "a"), 5),
            (key("2", "eu", "b"), 6),
        ]
        .into_iter()
        .collect();
        let order: Vec<u32> = interleave(groups).into_iter().map(|(_, v)| v).collect();
        assert_eq!(order, vec![1, 4, 5, 2, 6, 3]);
    }
}
