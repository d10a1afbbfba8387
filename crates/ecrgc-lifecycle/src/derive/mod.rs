//! The policy the observed usage supports, for one repository.
//!
//! Inputs are the snapshot's images with what the plan's guards say about them. An image is
//! *kept* when a guard protects it (in use, referenced, recently pulled, young, newest N,
//! archived…), when an image it follows (its index, the subject it signs) is kept, or when
//! expiring it would leave a parent that stays without its child. Two kinds of rule are
//! derived:
//!
//! * **tag prefix families** (`ci-`, `pr-`, `build_`…: a run of letters and a separator),
//!   with at least `min_prefix_images` images: "keep the newest K tagged `ci-*`", where K is
//!   the rank (newest first, among the images the rule would consider) of the oldest kept
//!   image of the family plus `count_margin`. A family whose kept images reach back to its
//!   oldest image gets no rule: usage does not show a cut.
//! * **untagged images**: "expire untagged older than N days", where N is the larger of
//!   the age of the oldest kept untagged image, the age at which any untagged image was last
//!   seen used (Inspector, ECR or Inspector pull time) and `min_age_days`, plus
//!   `untagged_margin_days`.
//!
//! A rule is only suggested when it expires something today. The whole policy is then run
//! through the [simulator](crate::simulate) on the snapshot: should it expire a kept image,
//! or a child (index child, signature, referrer) whose parent stays, that image joins the
//! kept set and the rules are derived again, until the simulation expires nothing kept.
//! Cosign signature tags (`sha256-…`) never form a family: signatures follow their subject.

mod facts;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use ecrgc_model::time::Micros;

pub use facts::{
    Counts, DeriveSettings, Existing, ImageFacts, RepoFacts, RuleReport, Status, Suggestion,
};
pub use rules::tag_family;

use crate::policy::{LifecyclePolicy, policy_sha256};
use crate::simulate::{Evaluation, SimImage, simulate};
use facts::Kept;
use rules::rules_for;

/// Derives the advice for `repo`.
pub fn derive(repo: &RepoFacts, s: &DeriveSettings) -> Suggestion {
    let images: Vec<SimImage> = repo
        .images
        .iter()
        .map(|i| SimImage {
            digest: i.digest.clone(),
            pushed_at: i.pushed_at,
            tags: i.tags.clone(),
            active: i.active,
        })
        .collect();
    let mut total = Counts::default();
    for i in &repo.images {
        total.add(i.size);
    }
    let mut out = Suggestion {
        account_id: repo.account_id.clone(),
        region: repo.region.clone(),
        repository_name: repo.repository_name.clone(),
        status: Status::NoRule,
        notes: Vec::new(),
        opted_in: repo.opted_in,
        images: total,
        kept: 0,
        policy: None,
        policy_sha256: None,
        rules: Vec::new(),
        expires_now: Counts::default(),
        existing: None,
        kept_digests: Vec::new(),
    };
    if let Some(tag) = &repo.excluded {
        out.status = Status::Excluded;
        out.notes
            .push(format!("the repository is tagged {tag}: left out entirely"));
        out.existing = repo.existing_policy.as_ref().map(|t| existing(t, None));
        return out;
    }
    if let Some(gap) = &repo.coverage_gap {
        out.status = Status::CoverageGap;
        out.notes.push(format!(
            "usage is unknown ({gap}): no rule can be shown safe"
        ));
        out.existing = repo.existing_policy.as_ref().map(|t| existing(t, None));
        return out;
    }

    let index: HashMap<&str, usize> = repo
        .images
        .iter()
        .enumerate()
        .map(|(i, im)| (im.digest.as_str(), i))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    for (c, im) in repo.images.iter().enumerate() {
        for p in &im.parents {
            if let Some(&p) = index.get(p.as_str())
                && p != c
            {
                children.entry(p).or_default().push(c);
            }
        }
    }
    let mut kept: Vec<Option<Kept>> = repo
        .images
        .iter()
        .map(|i| i.guards.first().map(|g| Kept::Guard(g.clone())))
        .collect();
    close_down(&mut kept, &children);

    let mut attempt = 0;
    let (policy, rules, eval) = loop {
        attempt += 1;
        let (policy, rules, notes) = rules_for(repo, &images, &kept, s);
        let Some(policy) = policy else {
            out.notes = notes;
            break (None, rules, None);
        };
        let eval = simulate(&policy, &images, s.now);
        let mut violations = Vec::new();
        for i in eval.expired_indexes() {
            let parent_stays = repo.images[i].parents.iter().any(|p| {
                index
                    .get(p.as_str())
                    .is_some_and(|&p| p != i && !eval.expired[p])
            });
            if kept[i].is_some() || parent_stays {
                violations.push(i);
            }
        }
        if violations.is_empty() {
            out.notes = notes;
            break (Some(policy), rules, Some(eval));
        }
        // A kept image the policy would expire (ties of push time, a family overlap) or a
        // child whose parent stays: keep it, derive again. The kept set only grows, so this
        // ends; the bound is a guard against a mistake, answered by no suggestion.
        for i in violations {
            kept[i].get_or_insert(Kept::ParentStays);
        }
        close_down(&mut kept, &children);
        if attempt >= 32 {
            out.notes = vec!["no policy was found that expires nothing ecrgc keeps".into()];
            break (None, Vec::new(), None);
        }
    };

    out.kept = kept.iter().filter(|k| k.is_some()).count() as u64;
    out.kept_digests = repo
        .images
        .iter()
        .zip(&kept)
        .filter(|(_, k)| k.is_some())
        .map(|(i, _)| i.digest.clone())
        .collect();
    out.kept_digests.sort();
    let keep_set: HashSet<usize> = (0..kept.len()).filter(|&i| kept[i].is_some()).collect();
    out.existing = repo
        .existing_policy
        .as_ref()
        .map(|t| existing(t, Some((&images, &repo.images, &keep_set, s.now))));

    if let (Some(policy), Some(eval)) = (policy, eval) {
        let mut rules = rules;
        for r in &mut rules {
            for i in eval.expired_by(r.rule_priority) {
                r.expires_now.add(repo.images[i].size);
            }
        }
        for i in eval.expired_indexes() {
            out.expires_now.add(repo.images[i].size);
        }
        let sha = policy.sha256();
        out.status = match &out.existing {
            Some(e) if e.sha256 == sha => Status::InPlace,
            _ => Status::Suggested,
        };
        out.policy_sha256 = Some(sha);
        out.policy = Some(policy);
        out.rules = rules;
    }
    out
}

/// Marks every descendant of a kept image as kept with its parent.
fn close_down(kept: &mut [Option<Kept>], children: &HashMap<usize, Vec<usize>>) {
    let mut stack: Vec<usize> = (0..kept.len()).filter(|&i| kept[i].is_some()).collect();
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if kept[c].is_none() {
                kept[c] = Some(Kept::WithParent);
                stack.push(c);
            }
        }
    }
}

/// The snapshot an existing policy is evaluated on: images, their facts, the kept ones, now.
type Snapshot<'a> = (&'a [SimImage], &'a [ImageFacts], &'a HashSet<usize>, Micros);

fn existing(text: &str, snapshot: Option<Snapshot<'_>>) -> Existing {
    let mut e = Existing {
        text: text.to_owned(),
        sha256: policy_sha256(text),
        expires_now: None,
        expires_kept: None,
        error: None,
    };
    let Some((images, facts, kept, now)) = snapshot else {
        return e;
    };
    match LifecyclePolicy::parse("the policy in place", text) {
        Ok(p) => {
            let eval: Evaluation = simulate(&p, images, now);
            let (mut all, mut endangered) = (Counts::default(), Counts::default());
            for i in eval.expired_indexes() {
                all.add(facts[i].size);
                if kept.contains(&i) {
                    endangered.add(facts[i].size);
                }
            }
            e.expires_now = Some(all);
            e.expires_kept = Some(endangered);
        }
        Err(err) => e.error = Some(err.to_string()),
    }
    e
}
