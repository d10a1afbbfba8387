//! One round of rule derivation: the "keep the newest K" rules of the tag prefix families
//! and the untagged-age rule, against the current kept set.

use std::collections::{BTreeMap, HashSet};

use ecrgc_model::time::{DAY, rfc3339};

use super::facts::{Counts, DeriveSettings, Kept, RepoFacts, RuleReport, days_ceil, short};
use crate::policy::{Action, CountType, LifecyclePolicy, PolicyRule, Selection, TagStatus};
use crate::simulate::{SimImage, newest_first};

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

pub(super) type Derived = (Option<LifecyclePolicy>, Vec<RuleReport>, Vec<String>);

/// One round of rule derivation against the current kept set.
pub(super) fn rules_for(
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
