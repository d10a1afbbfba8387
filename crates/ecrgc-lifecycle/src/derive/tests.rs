//! The derivation on small repositories.

use ecrgc_model::time::{DAY, rfc3339};

use super::*;
use crate::policy::TagStatus;

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
    images.extend((1..=12).map(|n| image(&format!("s{n}"), 5, &[&format!("sha256-{n:02}.sig")])));
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
