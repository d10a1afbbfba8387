//! The safety properties of the decision pipeline, checked over random organizations: what
//! is deleted is never used, planning is deterministic, and more evidence of use (a
//! reference, a failed usage source, a pull, an Inspector sighting) never deletes more.

use std::collections::{BTreeMap, BTreeSet};

use ecrgc_engine::DECISION_STATUSES;
use ecrgc_model::time::DAY;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence};

use crate::generate::{self, failure, live_ref, pinned_revision};
use crate::oracle::{self, Expected};
use crate::org::{self, Coverage, Org, Replication, SourceStatus, WorkloadRef, now};
use crate::pipeline::{Key, Plan, key, plan};

/// Cases per property. Every case plans one or two organizations in a fresh session.
const CASES: u32 = 48;

fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        // A failure shrinks for at most a minute: every step plans an organization.
        max_shrink_time: 60_000,
        ..Config::default()
    }
}

fn image_index(org: &Org) -> BTreeMap<Key, usize> {
    (0..org.images.len()).map(|i| (key(org, i), i)).collect()
}

fn deleted(plan: &Plan) -> BTreeSet<Key> {
    plan.deleted().into_iter().cloned().collect()
}

/// Invariant 1: nothing deleted is used, protected, young, excluded, blind, kept with a
/// parent, or outside the opt-in; every parent of a deleted child is deleted.
fn check_safety(org: &Org, plan: &Plan) -> Result<(), TestCaseError> {
    let params = org::params();
    let verdicts = oracle::verdicts(org, &params);
    let index = image_index(org);
    for (k, d) in &plan.by_key {
        prop_assert!(index.contains_key(k), "decision for an unknown image {k:?}");
        prop_assert!(
            DECISION_STATUSES.contains(&d.status.as_str()),
            "unknown status {:?}",
            d.status
        );
    }
    for k in plan.deleted() {
        let v = &verdicts[index[k]];
        prop_assert!(
            !v.live_named,
            "(a) deleted {k:?} is named by a live reference"
        );
        prop_assert!(!v.recent_use, "(b) deleted {k:?} was recently used");
        prop_assert!(!v.recent_pull, "(c) deleted {k:?} was recently pulled");
        prop_assert!(!v.young, "(d) deleted {k:?} is young");
        prop_assert!(
            !v.excluded,
            "(e) deleted {k:?} is in an excluded repository"
        );
        prop_assert!(!v.inactive, "deleted {k:?} is archived or being restored");
        prop_assert!(
            !v.coverage_gap,
            "(f) deleted {k:?} is in a repository whose usage coverage is incomplete"
        );
        prop_assert!(
            v.opted_in,
            "(h) deleted {k:?} is in a repository not opted in"
        );
        for &p in &v.parents {
            let pk = key(org, p);
            let status = plan.status(&pk);
            prop_assert!(
                matches!(status, Some("delete" | "not_opted_in")),
                "(g) deleted {k:?} is a child of {pk:?}, which is {status:?}"
            );
            prop_assert_eq!(
                status,
                Some("delete"),
                "a parent of deleted {:?} is not deleted",
                k
            );
        }
    }
    Ok(())
}

/// Every image the references after the first `known` name.
fn named_by_new_refs(org: &Org, known: usize) -> Vec<usize> {
    (0..org.images.len())
        .filter(|&i| {
            org.refs[known..]
                .iter()
                .any(|r| oracle::names(org, r, &org.images[i]))
        })
        .collect()
}

fn assert_subset(after: &Plan, before: &Plan, what: &str) -> Result<(), TestCaseError> {
    let (after, before) = (deleted(after), deleted(before));
    let added: Vec<&Key> = after.difference(&before).collect();
    prop_assert!(added.is_empty(), "{what} added deletions: {added:?}");
    Ok(())
}

/// Protected images and their guards other than `usage_coverage_gap`, where any.
fn protected_by_other_guards(plan: &Plan) -> BTreeMap<Key, Vec<String>> {
    plan.by_key
        .iter()
        .filter(|(_, d)| d.status == "protected")
        .filter_map(|(k, d)| {
            let others: Vec<String> = d
                .guards
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .filter(|g| !g.is_empty() && *g != "usage_coverage_gap")
                .map(str::to_owned)
                .collect();
            (!others.is_empty()).then(|| (k.clone(), others))
        })
        .collect()
}

/// Fresh evidence of use for one image.
#[derive(Debug, Clone)]
enum Evidence {
    /// ECR recorded a pull three days ago.
    Pull,
    /// Inspector saw it in use five days ago.
    RecentUse,
    /// Inspector sees tasks running it now.
    InUseNow,
}

fn evidence() -> impl Strategy<Value = Evidence> {
    prop_oneof![
        Just(Evidence::Pull),
        Just(Evidence::RecentUse),
        Just(Evidence::InUseNow)
    ]
}

fn add_evidence(org: &mut Org, image: usize, evidence: &Evidence) {
    let image = &mut org.images[image];
    let mut coverage = image.coverage.unwrap_or(Coverage {
        last_in_use_at: None,
        in_use_count: Some(0),
        image_pulled_at: None,
        active: true,
    });
    match evidence {
        Evidence::Pull => image.last_pull = Some(now() - 3 * DAY),
        Evidence::RecentUse => {
            coverage.last_in_use_at = Some(now() - 5 * DAY);
            image.coverage = Some(coverage);
        }
        Evidence::InUseNow => {
            coverage.in_use_count = Some(2);
            image.coverage = Some(coverage);
        }
    }
}

fn compare_with_oracle(org: &Org, plan: &Plan) -> Result<(), TestCaseError> {
    let expected = oracle::expected(org, &org::params());
    for (i, e) in expected.iter().enumerate() {
        let k = key(org, i);
        let got = plan.by_key.get(&k).map(|d| Expected {
            status: DECISION_STATUSES
                .iter()
                .copied()
                .find(|s| *s == d.status.as_str()),
            rule: d.rule.clone(),
            rules: d.rules.clone(),
            reason: d.reason.clone(),
            guards: d.guards.clone(),
            parent_digests: d.parent_digests.clone(),
            depth: d.depth,
        });
        match (e.status, got) {
            (None, None) => {}
            (None, Some(got)) => prop_assert!(false, "{k:?}: expected unlisted, got {got:?}"),
            (Some(_), got) => prop_assert_eq!(Some(e), got.as_ref(), "decision of {:?}", k),
        }
    }
    Ok(())
}

/// A delete-replicating rule between two registries of the organization.
fn replication() -> impl Strategy<Value = Replication> {
    let places: Vec<(&'static str, &'static str)> = org::REGISTRY_ACCOUNTS
        .iter()
        .flat_map(|a| org::REGIONS.iter().map(move |r| (*a, *r)))
        .collect();
    let n = places.len();
    (
        0..n,
        1..n,
        prop::option::of(prop::sample::select(org::REPO_NAMES)),
    )
        .prop_map(move |(from, step, filter)| {
            let (account, region) = places[from];
            let (destination_account, destination_region) = places[(from + step) % n];
            Replication {
                account,
                region,
                destination_account,
                destination_region,
                filter,
                delete: true,
            }
        })
}

/// (source image, replica image) pairs a delete-replicating rule links, replica present.
fn replica_pairs(org: &Org) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for rule in org.replication.iter().filter(|r| r.delete) {
        for (i, img) in org.images.iter().enumerate() {
            let repo = &org.repos[img.repo];
            if (repo.account, repo.region) != (rule.account, rule.region)
                || rule.filter.is_some_and(|f| !repo.name.starts_with(f))
            {
                continue;
            }
            for (j, other) in org.images.iter().enumerate() {
                let dest = &org.repos[other.repo];
                if (dest.account, dest.region, dest.name)
                    == (rule.destination_account, rule.destination_region, repo.name)
                    && other.digest == img.digest
                {
                    out.push((i, j));
                }
            }
        }
    }
    out
}

/// Copies a root image without relations (the `pick`-th of those `rule` replicates that are
/// `eligible`) into the
/// rule's destination, as ECR replication would: the same digest in the repository of the
/// same name (created, opted in, when missing). The copy is untagged, so that no tag of the
/// destination moves. Returns (source, replica), or `None` when no image qualifies.
fn replicate(
    org: &mut Org,
    rule: &Replication,
    pick: Index,
    eligible: impl Fn(usize) -> bool,
) -> Option<(usize, usize)> {
    let related: BTreeSet<(usize, &str)> = org
        .relations
        .iter()
        .flat_map(|r| [(r.repo, r.parent.as_str()), (r.repo, r.child.as_str())])
        .collect();
    let candidates: Vec<usize> = (0..org.images.len())
        .filter(|&i| {
            let img = &org.images[i];
            let repo = &org.repos[img.repo];
            (repo.account, repo.region) == (rule.account, rule.region)
                && rule.filter.is_none_or(|f| repo.name.starts_with(f))
                && !related.contains(&(img.repo, img.digest.as_str()))
                && eligible(i)
        })
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let source = candidates[pick.index(candidates.len())];
    let name = org.repos[org.images[source].repo].name;
    let dest = match org.repos.iter().position(|r| {
        (r.account, r.region, r.name) == (rule.destination_account, rule.destination_region, name)
    }) {
        Some(d) => d,
        None => {
            org.repos.push(org::Repo {
                account: rule.destination_account,
                region: rule.destination_region,
                name,
                excluded: false,
                opted_in: true,
                pullers: Vec::new(),
            });
            org.repos.len() - 1
        }
    };
    if let Some(existing) = org.find(dest, &org.images[source].digest.clone()) {
        return Some((source, existing));
    }
    let mut copy = org.images[source].clone();
    copy.repo = dest;
    copy.tags.clear();
    org.images.push(copy);
    Some((source, org.images.len() - 1))
}

/// A live task definition in the replica's registry naming it by digest.
fn pin(org: &Org, image: usize) -> WorkloadRef {
    let img = &org.images[image];
    let repo = &org.repos[img.repo];
    WorkloadRef {
        account: repo.account,
        region: repo.region,
        // As the aggregator records it: a task definition ECS alone showed would also be an
        // `aggregator_source` `not_recorded` gap where the aggregator holds none, which
        // protects more than the use this property is about.
        source: "config_aggregator",
        kind: "task_definition",
        arn: format!(
            "arn:aws:ecs:{}:{}:task-definition/replica-pin:1",
            repo.region, repo.account
        ),
        status: "ACTIVE",
        status_at: None,
        image_uri: format!(
            "{}/{}@{}",
            ecrgc_model::image_ref::ecr_host(repo.account, repo.region),
            repo.name,
            img.digest
        ),
        target: org::Target {
            ecr: Some((repo.account, repo.region, repo.name)),
            tag: None,
            digest: Some(img.digest.clone()),
        },
        resolved_digest: None,
    }
}

/// An aggregator task definition in the account and region of `image`'s registry that names
/// an image outside ECR: it protects nothing, but shows the aggregator records there.
fn recorded_by_the_aggregator(org: &Org, image: usize) -> WorkloadRef {
    let repo = &org.repos[org.images[image].repo];
    WorkloadRef {
        account: repo.account,
        region: repo.region,
        source: "config_aggregator",
        kind: "task_definition",
        arn: format!(
            "arn:aws:ecs:{}:{}:task-definition/elsewhere:1",
            repo.region, repo.account
        ),
        status: "ACTIVE",
        status_at: None,
        image_uri: "docker.io/library/busybox:1.37".to_owned(),
        target: org::Target {
            ecr: None,
            tag: Some("1.37".to_owned()),
            digest: None,
        },
        resolved_digest: None,
    }
}

proptest! {
    #![proptest_config(config())]

    /// Property 6: a delete-replicating rule never adds a deletion, and an image is deleted
    /// only with every replica its deletion takes along.
    #[test]
    fn delete_replication_never_adds_a_deletion_and_takes_only_deleted_replicas(
        org in generate::org(),
        rule in replication(),
        picks in prop::collection::vec(any::<Index>(), 1..4),
    ) {
        let mut copied = org.clone();
        for pick in picks {
            replicate(&mut copied, &rule, pick, |_| true);
        }
        let before = plan(&copied);
        let mut linked = copied.clone();
        linked.replication = vec![rule];
        let after = plan(&linked);
        assert_subset(&after, &before, "a delete-replicating rule")?;
        for (source, replica) in replica_pairs(&linked) {
            let (sk, rk) = (key(&linked, source), key(&linked, replica));
            if after.status(&sk) == Some("delete") {
                prop_assert_eq!(after.status(&rk), Some("delete"), "{:?} is deleted without its replica {:?}", sk, rk);
            }
        }
        check_safety(&linked, &after)?;
    }

    /// Property 7: a replica in use keeps its source, and never adds a deletion; without
    /// delete replication the source is decided on its own.
    #[test]
    fn a_replica_in_use_keeps_its_source(
        org in generate::org(),
        rule in replication(),
        pick in any::<Index>(),
    ) {
        // A source the plan deletes, so that only the replica's use can keep it.
        let deletable = deleted(&plan(&org));
        let mut linked = org.clone();
        let Some((source, replica)) =
            replicate(&mut linked, &rule, pick, |i| deletable.contains(&key(&org, i)))
        else {
            return Ok(());
        };
        // The pin below is an aggregator task definition in the replica's account and
        // region, and such a row is evidence of its own: the aggregator records there, so a
        // `not_recorded` gap of that registry ends (sql/guards/usage_coverage_gap.sql). That
        // evidence is present before and after, so that only the use differs.
        linked.refs.push(recorded_by_the_aggregator(&linked, replica));
        let unlinked_before = plan(&linked);
        linked.replication = vec![rule.clone()];
        let before = plan(&linked);
        let mut used = linked.clone();
        used.refs.push(pin(&used, replica));
        let after = plan(&used);
        assert_subset(&after, &before, "a replica in use")?;
        let sk = key(&used, source);
        prop_assert_ne!(after.status(&sk), Some("delete"), "{:?} is deleted though its replica is in use", sk);
        // The same use without delete replication leaves the source's decision alone.
        let mut plain = used.clone();
        plain.replication = vec![Replication { delete: false, ..rule }];
        let plain_after = plan(&plain);
        prop_assert_eq!(plain_after.status(&sk), unlinked_before.status(&sk), "the source of {:?}", sk);
    }

    /// Property 1: what the plan deletes is unused by every measure the guards know, and
    /// deleting it never orphans a kept parent's child.
    #[test]
    fn deleted_images_are_never_used_protected_or_kept_with_a_parent(org in generate::org()) {
        let plan = plan(&org);
        check_safety(&org, &plan)?;
    }

    /// Property 2: the same organization plans to the same rows, in the same order.
    #[test]
    fn planning_is_deterministic(org in generate::org()) {
        let first = plan(&org);
        let second = plan(&org);
        prop_assert_eq!(first.rows, second.rows);
    }

    /// Property 3: a new live reference to an existing image never adds a deletion, and
    /// what it names is not deleted.
    #[test]
    fn adding_a_live_reference_never_adds_a_deletion(org in generate::org(), spec in live_ref()) {
        let mut more = org.clone();
        more.add_ref(&spec);
        // The baseline has the same workload naming an image outside ECR: a workload the
        // aggregator records is evidence that its recorder records task definitions there
        // (`usage_coverage_gap`, `not_recorded`), which may lift that gap whatever the
        // workload names. What this property isolates is what the reference names.
        let mut base = org.clone();
        let mut elsewhere = more.refs.last().cloned().expect("the new reference");
        elsewhere.image_uri = "nginx:1.27".to_owned();
        elsewhere.target = org::Target { ecr: None, tag: None, digest: None };
        elsewhere.resolved_digest = None;
        base.refs.push(elsewhere);
        let before = plan(&base);
        let after = plan(&more);
        assert_subset(&after, &before, "a live reference")?;
        for i in named_by_new_refs(&more, org.refs.len()) {
            let k = key(&more, i);
            prop_assert_ne!(after.status(&k), Some("delete"), "{:?} is named by the new reference", k);
        }
        check_safety(&more, &after)?;
    }

    /// Property 3b: a service revision pinning an image's digest (ECS version consistency,
    /// whatever its tag names now) never adds a deletion, and the pinned image is kept.
    #[test]
    fn adding_a_pinned_revision_never_adds_a_deletion(org in generate::org(), spec in pinned_revision()) {
        let before = plan(&org);
        let mut more = org.clone();
        more.add_ref(&spec);
        let after = plan(&more);
        assert_subset(&after, &before, "a pinned service revision")?;
        let pinned = named_by_new_refs(&more, org.refs.len());
        prop_assert!(org.images.is_empty() || !pinned.is_empty(), "the revision pins an image");
        for i in pinned {
            let k = key(&more, i);
            prop_assert_ne!(after.status(&k), Some("delete"), "{:?} is pinned by the new revision", k);
        }
        check_safety(&more, &after)?;
    }

    /// Property 4a: a usage source that fails never adds a deletion.
    #[test]
    fn a_failed_usage_source_never_adds_a_deletion(org in generate::org(), failed in failure()) {
        let before = plan(&org);
        let mut blind = org.clone();
        blind.set_source(failed);
        let after = plan(&blind);
        assert_subset(&after, &before, "a failed usage source")?;
        check_safety(&blind, &after)?;
    }

    /// Property 4b: restoring a failed usage source to `ok` leaves every protection by the
    /// other guards as it was.
    #[test]
    fn restoring_a_usage_source_keeps_every_other_protection(org in generate::org(), failed in failure()) {
        let mut blind = org.clone();
        blind.set_source(failed.clone());
        let before = plan(&blind);
        let mut restored = blind.clone();
        restored.set_source(SourceStatus { status: "ok", ..failed });
        let after = plan(&restored);
        prop_assert_eq!(protected_by_other_guards(&before), protected_by_other_guards(&after));
        check_safety(&restored, &after)?;
    }

    /// Property 4c: a repository policy that lets an uncollected account pull never adds a
    /// deletion, and keeps that repository's images.
    #[test]
    fn an_out_of_scope_puller_never_adds_a_deletion(org in generate::org(), repo in any::<Index>()) {
        if org.repos.is_empty() {
            return Ok(());
        }
        let before = plan(&org);
        let repo = repo.index(org.repos.len());
        let mut wider = org.clone();
        wider.repos[repo].pullers.push(org::STRANGER);
        let after = plan(&wider);
        assert_subset(&after, &before, "an out-of-scope puller")?;
        for i in (0..wider.images.len()).filter(|i| wider.images[*i].repo == repo) {
            let k = key(&wider, i);
            prop_assert_ne!(after.status(&k), Some("delete"), "{:?} may be pulled by {}", k, org::STRANGER);
        }
        check_safety(&wider, &after)?;
    }

    /// Property 4d: an account of the organization that is not collected never adds a
    /// deletion (the repositories it may pull, through a grant or the organization, keep
    /// their images).
    #[test]
    fn an_uncollected_account_never_adds_a_deletion(
        org in generate::org(),
        account in prop::sample::select(org::ACCOUNTS),
    ) {
        let before = plan(&org);
        let mut narrower = org.clone();
        narrower.uncollected.push(account);
        let after = plan(&narrower);
        assert_subset(&after, &before, "an uncollected account")?;
        check_safety(&narrower, &after)?;
        compare_with_oracle(&narrower, &after)?;
    }

    /// Property 5: a recent pull or Inspector sighting keeps the image and everything
    /// below it, and deletes nothing new.
    #[test]
    fn fresh_use_keeps_the_image_and_its_children(
        org in generate::org(),
        image in any::<Index>(),
        evidence in evidence(),
    ) {
        if org.images.is_empty() {
            return Ok(());
        }
        let before = plan(&org);
        let image = image.index(org.images.len());
        let mut used = org.clone();
        add_evidence(&mut used, image, &evidence);
        let after = plan(&used);
        assert_subset(&after, &before, "fresh use")?;
        for i in std::iter::once(image).chain(oracle::descendants(&used, image)) {
            let k = key(&used, i);
            prop_assert_ne!(after.status(&k), Some("delete"), "{:?} is used or below a used image", k);
        }
    }

    /// Every decision, not only the deletions, is the one the documented semantics give.
    #[test]
    fn decisions_match_the_documented_semantics(org in generate::org()) {
        let plan = plan(&org);
        compare_with_oracle(&org, &plan)?;
    }
}
