//! The oracle: an evaluator of the documented semantics (the headers of `sql/views/`,
//! `sql/rules/`, `sql/guards/` and `sql/plan/decisions.sql`), written in Rust over the
//! generated facts, independently of the SQL. It models the rules and guards that can fire
//! under the default configuration: `keep_newest` is 0 and `not_pulled` is off, and the
//! history window holds the planned run alone.
//!
//! What is done with the facts (guard and rule precedence, when a reference is live, how a
//! decision passes from parents to children) is [`ecrgc_collect::oracle`], which the demo's
//! truth evaluates with too. What stays here is what only a random organization needs:
//! naming references to images across the organization, coverage gaps from the sources'
//! outcomes and the collected scope, `history_use`, edges over any graph, and the depth
//! and parent digests a decision row carries.

use std::collections::{BTreeMap, BTreeSet};

use ecrgc_collect::oracle::{self as semantics, GUARDS, Parents, RULES};
use ecrgc_engine::Params;

use crate::org::{Image, Org, WorkloadRef};

/// What the oracle knows about one image.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Some live reference names the image.
    pub live_named: bool,
    /// Inspector saw it in use within `unused_days`, or sees it running.
    pub recent_use: bool,
    /// ECR or Inspector recorded a pull within `recent_pull_days`.
    pub recent_pull: bool,
    /// Pushed within `min_age_days`.
    pub young: bool,
    /// Its repository carries the exclude tag.
    pub excluded: bool,
    /// Its status is not `ACTIVE` (archived or being restored).
    pub inactive: bool,
    /// A usage source that could see its use failed.
    pub coverage_gap: bool,
    /// Its repository carries the opt-in tag.
    pub opted_in: bool,
    /// Guards protecting it, in precedence order.
    pub guards: Vec<&'static str>,
    /// Rules flagging it, in precedence order.
    pub rules: Vec<&'static str>,
    /// Parents (indices into [`Org::images`]) through edges whose both ends exist.
    pub parents: Vec<usize>,
}

/// The decision the oracle expects; `None` status: not listed (a root no rule flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `delete`, `not_opted_in`, `protected`, `kept_with_parent`, or `None`.
    pub status: Option<&'static str>,
    /// First rule, or `with_parent`.
    pub rule: Option<String>,
    /// Every rule, comma-separated.
    pub rules: Option<String>,
    /// First guard, or `parent_kept`.
    pub reason: Option<String>,
    /// Every guard, comma-separated.
    pub guards: Option<String>,
    /// Parent digests, sorted, comma-separated.
    pub parent_digests: Option<String>,
    /// Longest chain of parents above the image.
    pub depth: i64,
}

/// Whether a reference still protects (header of `sql/views/image_refs.sql`).
pub fn is_live(r: &WorkloadRef, params: &Params) -> bool {
    let recent = r.status_at.is_none_or(|t| t >= params.rollback_cutoff());
    semantics::reference_is_live(r.kind, r.status, recent)
}

/// Whether a reference names an image: by digest, by resolved digest, or (without a
/// digest) by the tag the image holds now, always within the named registry and repository.
pub fn names(org: &Org, r: &WorkloadRef, image: &Image) -> bool {
    let repo = &org.repos[image.repo];
    let Some((account, region, name)) = r.target.ecr else {
        return false;
    };
    if (account, region, name) != (repo.account, repo.region, repo.name) {
        return false;
    }
    let by_digest = r.target.digest.as_deref() == Some(image.digest.as_str());
    let by_resolved = r.resolved_digest.as_deref() == Some(image.digest.as_str());
    let by_tag = r.target.digest.is_none()
        && r.target
            .tag
            .as_ref()
            .is_some_and(|t| image.tags.contains(t));
    by_digest || by_resolved || by_tag
}

/// Account × region places where ECS shows workloads but the aggregator, read without
/// error, holds no task definition: its recorder does not record them there
/// (`aggregator_source` `not_recorded` in `usage_coverage_gap.sql`).
fn not_recorded(org: &Org) -> Vec<(&'static str, &'static str)> {
    let aggregator_ok = org
        .sources
        .iter()
        .any(|s| s.source == "config_aggregator" && s.status == "ok");
    if !aggregator_ok {
        return Vec::new();
    }
    let recorded = |a: &str, r: &str| {
        org.refs.iter().any(|w| {
            w.source == "config_aggregator"
                && w.kind == "task_definition"
                && w.account == a
                && w.region == r
        })
    };
    org.refs
        .iter()
        .filter(|w| w.source == "ecs" && !recorded(w.account, w.region))
        .map(|w| (w.account, w.region))
        .collect()
}

/// Repositories blocked by a failed usage source or by a puller outside the collected
/// scope (header of `usage_coverage_gap.sql`): the registry's own account or a granted
/// account not collected, or an organization-wide grant (`*`) when some account of the
/// organization was not collected.
pub fn coverage_gap(org: &Org, repo: usize) -> bool {
    let r = &org.repos[repo];
    let out_of_scope = std::iter::once(&r.account)
        .chain(&r.pullers)
        .any(|p| match *p {
            "*" => !org.uncollected.is_empty(),
            account => !org.collected(account),
        });
    out_of_scope
        || org
            .sources
            .iter()
            .filter(|s| s.status != "ok")
            .any(|s| match s.source {
                "inspector" => s.account == r.account && s.region == r.region,
                "config_aggregator" => true,
                "ecs" | "lambda" | "aggregator_source" => {
                    s.account == r.account || r.pullers.iter().any(|p| *p == "*" || *p == s.account)
                }
                _ => false,
            })
        || not_recorded(org).iter().any(|(account, _)| {
            *account == r.account || r.pullers.iter().any(|p| *p == "*" || p == account)
        })
}

/// Parent → child edges between existing images of one repository, without self-loops.
pub fn edges(org: &Org) -> BTreeSet<(usize, usize)> {
    org.relations
        .iter()
        .filter(|e| e.parent != e.child)
        .filter_map(|e| Some((org.find(e.repo, &e.parent)?, org.find(e.repo, &e.child)?)))
        .collect()
}

/// Every image below `image` (children, their children, …).
pub fn descendants(org: &Org, image: usize) -> BTreeSet<usize> {
    let edges = edges(org);
    let mut seen = BTreeSet::new();
    let mut todo = vec![image];
    while let Some(p) = todo.pop() {
        for &(_, c) in edges.iter().filter(|(pp, _)| *pp == p) {
            if seen.insert(c) {
                todo.push(c);
            }
        }
    }
    seen
}

/// Facts, guards and rules of every image, indexed like [`Org::images`].
pub fn verdicts(org: &Org, params: &Params) -> Vec<Verdict> {
    let edges = edges(org);
    org.images
        .iter()
        .enumerate()
        .map(|(ix, image)| {
            let repo = &org.repos[image.repo];
            let refs: Vec<&WorkloadRef> =
                org.refs.iter().filter(|r| names(org, r, image)).collect();
            let live_named = refs.iter().any(|r| is_live(r, params));
            let cov = image.coverage;
            let in_use = cov.is_some_and(|c| c.in_use_count.unwrap_or(0) > 0);
            let recent_use = cov.is_some_and(|c| {
                c.last_in_use_at
                    .is_some_and(|t| t >= params.unused_cutoff())
                    || in_use
            });
            let recent_pull = image.last_pull.is_some_and(|t| t >= params.pull_cutoff())
                || cov
                    .and_then(|c| c.image_pulled_at)
                    .is_some_and(|t| t >= params.pull_cutoff());
            let young = image.pushed_at >= params.young_cutoff();
            let gap = coverage_gap(org, image.repo);
            let inactive = image.status != "ACTIVE";
            // The history window is the planned run alone: Inspector's use, or a reference
            // by an ACTIVE task definition, a RUNNING task, a service or a Lambda.
            let history_use = recent_use
                || refs.iter().any(|r| {
                    !matches!(r.kind, "task_definition" | "task")
                        || matches!(r.status, "ACTIVE" | "RUNNING")
                });
            let guards = semantics::in_precedence(
                GUARDS,
                &[
                    repo.excluded,
                    inactive,
                    live_named,
                    recent_use,
                    history_use,
                    recent_pull,
                    young,
                    gap,
                ],
            );
            let old = image.pushed_at < params.unused_cutoff();
            // The usage rules read only coverage Inspector still monitors (`stale.sql`,
            // "How Inspector's fields are read"); inactive coverage is no usage data.
            let monitored = cov.filter(|c| c.active);
            let rules = semantics::in_precedence(
                RULES,
                &[
                    !refs.is_empty()
                        && image.pushed_at < params.young_cutoff()
                        && refs
                            .iter()
                            .all(|r| r.kind == "task_definition" && !is_live(r, params)),
                    monitored.is_some_and(|c| {
                        !in_use && c.last_in_use_at.is_some_and(|t| t < params.unused_cutoff())
                    }),
                    monitored.is_some_and(|c| !in_use && c.last_in_use_at.is_none() && old),
                    monitored.is_none() && image.tags.is_empty() && old,
                ],
            );
            Verdict {
                live_named,
                recent_use,
                recent_pull,
                young,
                excluded: repo.excluded,
                inactive,
                coverage_gap: gap,
                opted_in: repo.opted_in,
                guards,
                rules,
                parents: edges
                    .iter()
                    .filter(|(_, c)| *c == ix)
                    .map(|(p, _)| *p)
                    .collect(),
            }
        })
        .collect()
}

/// The decision of every image (header of `sql/plan/decisions.sql`).
pub fn expected(org: &Org, params: &Params) -> Vec<Expected> {
    let verdicts = verdicts(org, params);
    let mut memo: BTreeMap<usize, Expected> = BTreeMap::new();
    for i in 0..org.images.len() {
        decide(org, params, &verdicts, i, &mut memo);
    }
    memo.into_values().collect()
}

fn deletable(e: &Expected) -> bool {
    matches!(e.status, Some("delete" | "not_opted_in"))
}

fn decide(
    org: &Org,
    params: &Params,
    verdicts: &[Verdict],
    i: usize,
    memo: &mut BTreeMap<usize, Expected>,
) -> Expected {
    if let Some(e) = memo.get(&i) {
        return e.clone();
    }
    let v = &verdicts[i];
    let mut parents_kept = false;
    let mut depth = 0;
    for &p in &v.parents {
        let pe = decide(org, params, verdicts, p, memo);
        parents_kept |= !deletable(&pe);
        depth = depth.max(pe.depth + 1);
    }
    let parents = match (v.parents.is_empty(), parents_kept) {
        (true, _) => Parents::None,
        (false, true) => Parents::SomeKept,
        (false, false) => Parents::AllDeletable,
    };
    let may_delete = params.opt_in_tag.is_none() || v.opted_in;
    let decision = semantics::decide(&v.rules, &v.guards, parents, may_delete);
    let rules = (!v.rules.is_empty()).then(|| v.rules.join(","));
    let guards = (!v.guards.is_empty()).then(|| v.guards.join(","));
    let mut parent_digests: Vec<&str> = v
        .parents
        .iter()
        .map(|&p| org.images[p].digest.as_str())
        .collect();
    parent_digests.sort_unstable();
    let e = Expected {
        status: decision.status,
        rule: decision.rule.map(str::to_owned),
        rules,
        reason: decision.reason.map(str::to_owned),
        guards,
        parent_digests: (!parent_digests.is_empty()).then(|| parent_digests.join(",")),
        depth: depth.min(8),
    };
    memo.insert(i, e.clone());
    e
}
