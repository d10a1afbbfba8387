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

use std::collections::{BTreeMap, HashMap, HashSet};

use ecrgc_model::time::{DAY, Micros, rfc3339};
use serde::{Deserialize, Serialize};

use crate::policy::{
    Action, CountType, LifecyclePolicy, PolicyRule, Selection, TagStatus, policy_sha256,
};
use crate::simulate::{Evaluation, SimImage, newest_first, simulate};

/// Thresholds of the derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeriveSettings {
    /// The evaluation instant.
    pub now: Micros,
    /// Days added to the oldest kept (or used) untagged image's age.
    pub untagged_margin_days: u32,
    /// Images added to the rank of the oldest kept image of a tag prefix family.
    pub count_margin: u32,
    /// A tag prefix needs at least this many images to get a rule.
    pub min_prefix_images: u32,
    /// The plan's `min_age_days`: the untagged threshold is never below it.
    pub min_age_days: u32,
}

/// One repository of the snapshot.
#[derive(Debug, Clone, Default)]
pub struct RepoFacts {
    /// Registry account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Repository name.
    pub repository_name: String,
    /// The lifecycle policy the collector read, if any.
    pub existing_policy: Option<String>,
    /// Set (to the tag) when the repository carries the exclude tag.
    pub excluded: Option<String>,
    /// Set (to the failure) when a usage source failed for an account that can pull.
    pub coverage_gap: Option<String>,
    /// Whether the repository carries the opt-in tag (or none is configured).
    pub opted_in: bool,
    /// Its images.
    pub images: Vec<ImageFacts>,
}

/// One image with the plan's view of it.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    /// Manifest digest.
    pub digest: String,
    /// Push time, µs.
    pub pushed_at: Micros,
    /// Size ECR reports.
    pub size: i64,
    /// Tags.
    pub tags: Vec<String>,
    /// `imageStatus` ACTIVE.
    pub active: bool,
    /// Digests of the images it follows (its index, the subject it signs).
    pub parents: Vec<String>,
    /// Guards that protect it, in precedence order.
    pub guards: Vec<String>,
    /// The latest use or pull seen (Inspector `lastInUseAt`, `lastRecordedPullTime`,
    /// Inspector `imagePulledAt`), µs.
    pub last_used_at: Option<Micros>,
}

/// Images and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Images.
    pub images: u64,
    /// Sum of their sizes.
    pub bytes: u64,
}

impl Counts {
    fn add(&mut self, size: i64) {
        self.images += 1;
        self.bytes += u64::try_from(size).unwrap_or(0);
    }
}

/// What the advice is for one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A policy is suggested.
    Suggested,
    /// The suggested policy is the one in place.
    InPlace,
    /// Usage supports no rule that would expire anything today.
    NoRule,
    /// The repository carries the exclude tag.
    Excluded,
    /// A usage source failed: use is unknown.
    CoverageGap,
}

impl Status {
    /// The name printed and serialized.
    pub fn name(self) -> &'static str {
        match self {
            Self::Suggested => "suggested",
            Self::InPlace => "in_place",
            Self::NoRule => "no_rule",
            Self::Excluded => "excluded",
            Self::CoverageGap => "coverage_gap",
        }
    }
}

/// One suggested rule and why the usage supports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleReport {
    /// The rule's priority in the policy.
    pub rule_priority: u32,
    /// The rule's description.
    pub description: String,
    /// The evidence: what is kept, how old or how far down, the margin.
    pub support: String,
    /// What it expires today.
    pub expires_now: Counts,
    /// For an age rule: when the youngest-crossing kept image reaches the threshold
    /// (RFC 3339); run `lifecycle suggest` again before then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_before: Option<String>,
}

/// The policy in place, evaluated on the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Existing {
    /// The text the collector read.
    pub text: String,
    /// [`policy_sha256`] of it.
    pub sha256: String,
    /// What it expires today (when it could be evaluated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_now: Option<Counts>,
    /// Of those, images ecrgc keeps: a policy in place that already endangers used images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_kept: Option<Counts>,
    /// Why it could not be evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The advice for one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    /// Registry account.
    pub account_id: String,
    /// Region.
    pub region: String,
    /// Repository name.
    pub repository_name: String,
    /// What the advice is.
    pub status: Status,
    /// Why there is no suggestion, or notes on families left without a rule.
    pub notes: Vec<String>,
    /// Whether the repository is opted in (only those enter a lifecycle plan).
    pub opted_in: bool,
    /// Images in the snapshot (and their bytes).
    pub images: Counts,
    /// Images kept (by a guard, a parent, or a parent that stays).
    pub kept: u64,
    /// The suggested policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<LifecyclePolicy>,
    /// Its canonical hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<String>,
    /// Per rule: the evidence and what it expires now.
    pub rules: Vec<RuleReport>,
    /// What the whole policy expires today.
    pub expires_now: Counts,
    /// The policy in place, if the collector read one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<Existing>,
    /// Digests of the kept images, for the executor's live check.
    #[serde(skip)]
    pub kept_digests: Vec<String>,
}

/// Why an image is kept, for the evidence text.
#[derive(Debug, Clone)]
enum Kept {
    Guard(String),
    WithParent,
    ParentStays,
}

impl Kept {
    fn label(&self) -> &str {
        match self {
            Self::Guard(g) => g,
            Self::WithParent => "kept_with_parent",
            Self::ParentStays => "parent_stays",
        }
    }
}

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

/// The family of a tag: a run of letters and the separator after it (`ci-1234` → `ci-`).
/// Cosign tags (`sha256-…`) have none: signatures follow their subject.
pub fn tag_family(tag: &str) -> Option<&str> {
    if tag.starts_with("sha256-") {
        return None;
    }
    let letters = tag.bytes().take_while(u8::is_ascii_alphabetic).count();
    if letters == 0 || letters > 32 || letters + 1 >= tag.len() {
        return None;
    }
    matches!(tag.as_bytes()[letters], b'-' | b'_' | b'.').then(|| &tag[..=letters])
}

type Derived = (Option<LifecyclePolicy>, Vec<RuleReport>, Vec<String>);

/// One round of rule derivation against the current kept set.
fn rules_for(
    repo: &RepoFacts,
    images: &[SimImage],
    kept: &[Option<Kept>],
    s: &DeriveSettings,
) -> Derived {
    let mut rules = Vec::new();
    let mut reports = Vec::new();
    let mut notes = Vec::new();
    let mut claimed = vec![false; images.len()];

    let mut families: BTreeMap<&str, usize> = BTreeMap::new();
    for im in images.iter().filter(|i| i.active) {
        let fams: HashSet<&str> = im.tags.iter().filter_map(|t| tag_family(t)).collect();
        for f in fams {
            *families.entry(f).or_default() += 1;
        }
    }
    for (family, count) in families {
        if count < s.min_prefix_images as usize {
            continue;
        }
        let mut members: Vec<usize> = (0..images.len())
            .filter(|&i| {
                !claimed[i]
                    && images[i].active
                    && images[i].tags.iter().any(|t| t.starts_with(family))
            })
            .collect();
        if members.len() < s.min_prefix_images as usize {
            // Its images are counted by an earlier family's rule (they carry both tags).
            if members.is_empty() {
                notes.push(format!(
                    "{family}*: every image is counted by an earlier rule"
                ));
            }
            continue;
        }
        members.sort_by(|&a, &b| newest_first(&images[a], &images[b]));
        let oldest_kept = members
            .iter()
            .enumerate()
            .rfind(|(_, i)| kept[**i].is_some());
        let rank = oldest_kept.map_or(0, |(r, _)| r + 1);
        let keep = (rank + s.count_margin as usize).max(1);
        if keep >= members.len() {
            notes.push(format!(
                "{family}*: {} images, kept ones reach rank {rank} (+{} margin): no cut",
                members.len(),
                s.count_margin
            ));
            continue;
        }
        for &i in &members {
            claimed[i] = true;
        }
        let priority = (rules.len() + 1) as u32;
        let description = format!("ecrgc: keep the newest {keep} images tagged {family}*");
        let support = match oldest_kept {
            Some((r, &i)) => format!(
                "{} images tagged {family}*; the oldest kept one is rank {} ({}, {}); +{} margin",
                members.len(),
                r + 1,
                kept[i].as_ref().map_or("", Kept::label),
                short(&images[i].digest),
                s.count_margin
            ),
            None => format!(
                "{} images tagged {family}*, none kept; +{} margin",
                members.len(),
                s.count_margin
            ),
        };
        rules.push(PolicyRule {
            rule_priority: priority,
            description: Some(description.clone()),
            selection: Selection {
                tag_status: TagStatus::Tagged,
                tag_prefix_list: Some(vec![family.to_owned()]),
                tag_pattern_list: None,
                count_type: CountType::ImageCountMoreThan,
                count_unit: None,
                count_number: keep as u32,
            },
            action: Action::expire(),
        });
        reports.push(RuleReport {
            rule_priority: priority,
            description,
            support,
            expires_now: Counts::default(),
            review_before: None,
        });
    }

    let untagged: Vec<usize> = (0..images.len())
        .filter(|&i| images[i].active && images[i].tags.is_empty())
        .collect();
    if !untagged.is_empty() {
        let floor = i64::from(s.min_age_days).saturating_mul(DAY);
        let oldest_kept = untagged
            .iter()
            .filter(|&&i| kept[i].is_some())
            .map(|&i| (s.now - images[i].pushed_at, i))
            .max();
        let oldest_use = untagged
            .iter()
            .filter_map(|&i| {
                let used = repo.images[i].last_used_at?;
                Some((used - images[i].pushed_at, i))
            })
            .max();
        let need = [
            oldest_kept.map_or(0, |(a, _)| a),
            oldest_use.map_or(0, |(a, _)| a),
            floor,
        ]
        .into_iter()
        .max()
        .unwrap_or(floor);
        let days = days_ceil(need).saturating_add(i64::from(s.untagged_margin_days));
        let cutoff = ecrgc_model::time::before(s.now, days, DAY);
        let older = untagged
            .iter()
            .filter(|&&i| images[i].pushed_at < cutoff)
            .count();
        if older == 0 {
            notes.push(format!(
                "untagged: {} images, none older than {days} days",
                untagged.len()
            ));
        } else {
            let days = u32::try_from(days).unwrap_or(u32::MAX);
            let priority = (rules.len() + 1) as u32;
            let description = format!("ecrgc: expire untagged images older than {days} days");
            let mut why = Vec::new();
            if let Some((age, i)) = oldest_kept {
                why.push(format!(
                    "the oldest kept untagged image is {} days old ({}, {})",
                    days_ceil(age),
                    kept[i].as_ref().map_or("", Kept::label),
                    short(&images[i].digest)
                ));
            }
            if let Some((age, i)) = oldest_use {
                why.push(format!(
                    "an untagged image was last used at {} days ({})",
                    days_ceil(age),
                    short(&images[i].digest)
                ));
            }
            why.push(format!("min_age_days {}", s.min_age_days));
            let support = format!(
                "{} untagged images; {}; +{} days margin",
                untagged.len(),
                why.join("; "),
                s.untagged_margin_days
            );
            let review_before = untagged
                .iter()
                .filter(|&&i| kept[i].is_some())
                .map(|&i| images[i].pushed_at + i64::from(days) * DAY)
                .min()
                .map(rfc3339);
            rules.push(PolicyRule {
                rule_priority: priority,
                description: Some(description.clone()),
                selection: Selection {
                    tag_status: TagStatus::Untagged,
                    tag_prefix_list: None,
                    tag_pattern_list: None,
                    count_type: CountType::SinceImagePushed,
                    count_unit: Some("days".to_owned()),
                    count_number: days,
                },
                action: Action::expire(),
            });
            reports.push(RuleReport {
                rule_priority: priority,
                description,
                support,
                expires_now: Counts::default(),
                review_before,
            });
        }
    }
    if rules.is_empty() {
        if notes.is_empty() {
            notes.push("no untagged images and no tag prefix with enough images".into());
        }
        return (None, reports, notes);
    }
    (Some(LifecyclePolicy { rules }), reports, notes)
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

fn days_ceil(micros: Micros) -> i64 {
    let m = micros.max(0);
    m / DAY + i64::from(m % DAY != 0)
}

/// `sha256:0123456789ab…` → `sha256:0123456789ab`.
fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Micros = 1_000 * DAY;

    fn settings() -> DeriveSettings {
        DeriveSettings {
            now: NOW,
            untagged_margin_days: 7,
            count_margin: 3,
            min_prefix_images: 10,
            min_age_days: 14,
        }
    }

    fn image(digest: &str, age_days: i64, tags: &[&str]) -> ImageFacts {
        ImageFacts {
            digest: format!("sha256:{digest}"),
            pushed_at: NOW - age_days * DAY,
            size: 100,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            active: true,
            ..Default::default()
        }
    }

    fn guarded(mut i: ImageFacts, guard: &str) -> ImageFacts {
        i.guards.push(guard.to_owned());
        i
    }

    fn repo(images: Vec<ImageFacts>) -> RepoFacts {
        RepoFacts {
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            repository_name: "app".into(),
            opted_in: true,
            images,
            ..Default::default()
        }
    }

    fn rule_numbers(s: &Suggestion) -> Vec<(TagStatus, Option<Vec<String>>, u32)> {
        s.policy
            .iter()
            .flat_map(|p| &p.rules)
            .map(|r| {
                (
                    r.selection.tag_status,
                    r.selection.tag_prefix_list.clone(),
                    r.selection.count_number,
                )
            })
            .collect()
    }

    /// The property every suggestion has: on the snapshot, the policy expires nothing kept.
    fn assert_safe(r: &RepoFacts, s: &Suggestion) {
        let Some(p) = &s.policy else { return };
        let images: Vec<SimImage> = r
            .images
            .iter()
            .map(|i| SimImage {
                digest: i.digest.clone(),
                pushed_at: i.pushed_at,
                tags: i.tags.clone(),
                active: i.active,
            })
            .collect();
        let e = simulate(p, &images, NOW);
        for i in e.expired_indexes() {
            assert!(r.images[i].guards.is_empty(), "expires guarded {i}");
            assert!(
                !s.kept_digests.contains(&r.images[i].digest),
                "expires kept {i}"
            );
        }
    }

    #[test]
    fn untagged_threshold_follows_the_oldest_kept_untagged_image() {
        let r = repo(vec![
            image("a", 200, &[]),
            image("b", 100, &[]),
            guarded(image("c", 40, &[]), "live_reference"),
            image("d", 3, &[]),
        ]);
        let s = derive(&r, &settings());
        assert_eq!(s.status, Status::Suggested);
        assert_eq!(rule_numbers(&s), [(TagStatus::Untagged, None, 47)]);
        assert_eq!(s.expires_now.images, 2);
        assert!(s.rules[0].support.contains("40 days old (live_reference"));
        assert_eq!(
            s.rules[0].review_before.as_deref(),
            Some(rfc3339(NOW - 40 * DAY + 47 * DAY).as_str())
        );
        assert_safe(&r, &s);
    }

    #[test]
    fn an_in_use_old_untagged_image_blocks_the_untagged_rule() {
        // The oldest untagged image is in use: no threshold expires anything without it.
        let r = repo(vec![
            guarded(image("a", 300, &[]), "recent_use"),
            image("b", 100, &[]),
        ]);
        let s = derive(&r, &settings());
        assert_eq!(s.status, Status::NoRule, "{s:?}");
        assert!(
            s.notes[0].contains("none older than 307 days"),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn use_seen_at_an_age_raises_the_threshold() {
        let mut used = image("b", 100, &[]);
        used.last_used_at = Some(NOW - 40 * DAY); // used when 60 days old
        let r = repo(vec![image("a", 200, &[]), used]);
        let s = derive(&r, &settings());
        assert_eq!(rule_numbers(&s), [(TagStatus::Untagged, None, 67)]);
        assert!(s.rules[0].support.contains("last used at 60 days"));
    }

    #[test]
    fn untagged_never_goes_below_min_age() {
        let r = repo(vec![image("a", 30, &[]), image("b", 2, &[])]);
        let s = derive(&r, &settings());
        assert_eq!(rule_numbers(&s), [(TagStatus::Untagged, None, 21)]);
    }

    fn ci_repo(referenced_rank: usize) -> RepoFacts {
        // ci-1 … ci-20, newest first: ci-20 is rank 1.
        let images = (1..=20)
            .map(|n| {
                let i = image(&format!("ci{n:02}"), 100 - n, &[&format!("ci-{n}")]);
                if 21 - n as usize == referenced_rank {
                    guarded(i, "live_reference")
                } else {
                    i
                }
            })
            .collect();
        repo(images)
    }

    #[test]
    fn a_referenced_ci_tag_of_rank_7_forces_keep_7_plus_margin() {
        let r = ci_repo(7);
        let s = derive(&r, &settings());
        assert_eq!(
            rule_numbers(&s),
            [(TagStatus::Tagged, Some(vec!["ci-".to_owned()]), 10)]
        );
        assert_eq!(s.expires_now.images, 10);
        assert!(s.rules[0].support.contains("rank 7 (live_reference"));
        assert_safe(&r, &s);
        // A kept image near the bottom leaves no cut.
        let s = derive(&ci_repo(19), &settings());
        assert_eq!(s.status, Status::NoRule);
        assert!(s.notes[0].starts_with("ci-*: 20 images"), "{:?}", s.notes);
    }

    #[test]
    fn small_families_and_cosign_tags_get_no_rule() {
        let mut images: Vec<ImageFacts> = (1..=5)
            .map(|n| image(&format!("p{n}"), 50 + n, &[&format!("pr-{n}")]))
            .collect();
        images
            .extend((1..=12).map(|n| image(&format!("s{n}"), 5, &[&format!("sha256-{n:02}.sig")])));
        let s = derive(&repo(images), &settings());
        assert_eq!(s.status, Status::NoRule);
        assert_eq!(tag_family("sha256-abc.sig"), None);
        assert_eq!(tag_family("ci-1"), Some("ci-"));
        assert_eq!(tag_family("build_77"), Some("build_"));
        assert_eq!(tag_family("v1.2.3"), None);
        assert_eq!(tag_family("latest"), None);
        assert_eq!(tag_family("ci-"), None);
    }

    #[test]
    fn signatures_and_index_children_follow_their_parent() {
        // A kept index (tagged v1, old) with two untagged children, and an old unused
        // signature referrer of a kept subject: the untagged rule must spare all three.
        let mut child1 = image("c1", 300, &[]);
        child1.parents = vec!["sha256:idx".into()];
        let mut child2 = image("c2", 300, &[]);
        child2.parents = vec!["sha256:idx".into()];
        let mut sig = image("sig", 250, &[]);
        sig.parents = vec!["sha256:subj".into()];
        let r = repo(vec![
            guarded(image("idx", 300, &["v1"]), "live_reference"),
            child1,
            child2,
            guarded(image("subj", 250, &["v2"]), "recent_pull"),
            sig,
            image("old", 400, &[]),
        ]);
        let s = derive(&r, &settings());
        assert_eq!(rule_numbers(&s), [(TagStatus::Untagged, None, 307)]);
        assert_eq!(s.expires_now.images, 1);
        assert!(s.rules[0].support.contains("kept_with_parent"));
        assert_safe(&r, &s);
    }

    #[test]
    fn a_child_of_an_unkept_parent_that_stays_is_not_expired() {
        // The index is unused but tagged (no tag rule expires it); its untagged child is
        // old. Expiring the child would break the index: it is kept as parent_stays.
        let mut child = image("c", 200, &[]);
        child.parents = vec!["sha256:idx".into()];
        let r = repo(vec![
            image("idx", 200, &["release"]),
            child,
            image("u1", 300, &[]),
        ]);
        let s = derive(&r, &settings());
        assert_eq!(rule_numbers(&s), [(TagStatus::Untagged, None, 207)]);
        assert!(s.rules[0].support.contains("parent_stays"), "{:?}", s.rules);
        assert!(s.kept_digests.contains(&"sha256:c".to_owned()));
        assert_safe(&r, &s);
    }

    #[test]
    fn excluded_and_blind_repositories_get_no_suggestion() {
        let mut r = ci_repo(1);
        r.excluded = Some("unusd=true".into());
        assert_eq!(derive(&r, &settings()).status, Status::Excluded);
        let mut r = ci_repo(1);
        r.coverage_gap = Some("ecs denied in 444444444444/us-east-1".into());
        let s = derive(&r, &settings());
        assert_eq!(s.status, Status::CoverageGap);
        assert!(s.notes[0].contains("ecs denied"));
        assert!(s.policy.is_none());
    }

    #[test]
    fn the_policy_in_place_is_recognised_and_evaluated() {
        let mut r = repo(vec![
            image("a", 200, &[]),
            guarded(image("b", 100, &[]), "live_reference"),
        ]);
        let first = derive(&r, &settings());
        let text = first.policy.as_ref().expect("policy").to_text();
        r.existing_policy = Some(text);
        let again = derive(&r, &settings());
        assert_eq!(again.status, Status::InPlace);

        r.existing_policy = Some(
            r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#.into(),
        );
        let s = derive(&r, &settings());
        let e = s.existing.expect("existing");
        assert_eq!(e.expires_now.map(|c| c.images), Some(1));
        assert_eq!(e.expires_kept.map(|c| c.images), Some(0));
        r.images[1].pushed_at = NOW - 300 * DAY; // the kept one is now the oldest
        let e = derive(&r, &settings()).existing.expect("existing");
        assert_eq!(e.expires_kept.map(|c| c.images), Some(1));
    }
}
