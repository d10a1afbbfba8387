//! ECR's lifecycle evaluation, on a list of images.
//!
//! ECR's documented semantics, as evaluated here:
//!
//! * rules are evaluated in `rulePriority` order, lowest first;
//! * an image matched by a rule's tag selection (tag status and tag lists, not the count) is
//!   considered by that rule only: "an image that matches the tagging requirements of a rule
//!   cannot be expired by a rule with a lower priority";
//! * `imageCountMoreThan N` keeps the N most recently pushed images the rule considers and
//!   expires the rest; `sinceImagePushed N days` expires what was pushed more than N days
//!   before the evaluation;
//! * only images in the standard storage class (`imageStatus` ACTIVE) are evaluated by
//!   `expire` rules; archived ones are left to archive rules.
//!
//! Push-time ties are broken by digest (descending) so that the result is deterministic;
//! ECR does not document its order, which is one reason `derive` keeps a margin.

use ecrgc_model::time::{DAY, Micros};

use crate::policy::{CountType, LifecyclePolicy};

/// An image as the simulator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimImage {
    /// Manifest digest.
    pub digest: String,
    /// Push time, µs.
    pub pushed_at: Micros,
    /// Tags.
    pub tags: Vec<String>,
    /// In the standard storage class (ACTIVE); others are not evaluated.
    pub active: bool,
}

/// What one evaluation decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Per image (same order as the input): the priority of the rule whose tag selection
    /// matched it, if any.
    pub matched_by: Vec<Option<u32>>,
    /// Per image: whether it is expired (by the rule in `matched_by`).
    pub expired: Vec<bool>,
}

impl Evaluation {
    /// Indexes of the expired images.
    pub fn expired_indexes(&self) -> impl Iterator<Item = usize> + '_ {
        self.expired
            .iter()
            .enumerate()
            .filter(|(_, e)| **e)
            .map(|(i, _)| i)
    }

    /// Indexes of the images expired by the rule of `priority`.
    pub fn expired_by(&self, priority: u32) -> impl Iterator<Item = usize> + '_ {
        self.expired_indexes()
            .filter(move |i| self.matched_by[*i] == Some(priority))
    }
}

/// Evaluates `policy` over `images` at `now`.
pub fn simulate(policy: &LifecyclePolicy, images: &[SimImage], now: Micros) -> Evaluation {
    let mut matched_by = vec![None; images.len()];
    let mut expired = vec![false; images.len()];
    let mut rules: Vec<_> = policy.rules.iter().collect();
    rules.sort_by_key(|r| r.rule_priority);
    for rule in rules {
        let sel = &rule.selection;
        let mut considered: Vec<usize> = (0..images.len())
            .filter(|&i| {
                matched_by[i].is_none() && images[i].active && sel.matches_tags(&images[i].tags)
            })
            .collect();
        for &i in &considered {
            matched_by[i] = Some(rule.rule_priority);
        }
        match sel.count_type {
            CountType::SinceImagePushed => {
                let cutoff = now - i64::from(sel.count_number) * DAY;
                for i in considered {
                    if images[i].pushed_at < cutoff {
                        expired[i] = true;
                    }
                }
            }
            CountType::ImageCountMoreThan => {
                considered.sort_by(|&a, &b| newest_first(&images[a], &images[b]));
                for &i in considered.iter().skip(sel.count_number as usize) {
                    expired[i] = true;
                }
            }
        }
    }
    Evaluation {
        matched_by,
        expired,
    }
}

/// The order `imageCountMoreThan` keeps images in: newest push first, ties by digest.
pub fn newest_first(a: &SimImage, b: &SimImage) -> std::cmp::Ordering {
    b.pushed_at
        .cmp(&a.pushed_at)
        .then_with(|| b.digest.cmp(&a.digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(digest: &str, age_days: i64, tags: &[&str]) -> SimImage {
        SimImage {
            digest: digest.to_owned(),
            pushed_at: 1_000 * DAY - age_days * DAY,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            active: true,
        }
    }

    fn policy(text: &str) -> LifecyclePolicy {
        LifecyclePolicy::parse("test", text).expect("valid policy")
    }

    fn expired(p: &LifecyclePolicy, images: &[SimImage]) -> Vec<String> {
        let e = simulate(p, images, 1_000 * DAY);
        e.expired_indexes()
            .map(|i| images[i].digest.clone())
            .collect()
    }

    #[test]
    fn since_pushed_expires_only_older_images_of_its_selection() {
        let p = policy(
            r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":30},"action":{"type":"expire"}}]}"#,
        );
        let images = [
            img("a", 31, &[]),
            img("b", 29, &[]),
            img("c", 400, &["v1"]),
            SimImage {
                active: false,
                ..img("d", 400, &[])
            },
        ];
        assert_eq!(expired(&p, &images), ["a"]);
    }

    #[test]
    fn count_keeps_the_newest_n_and_earlier_rules_claim_their_images() {
        // Rule 1 claims every ci- image (keeping 2); rule 2 (any, keep 3) never sees them.
        let p = policy(
            r#"{"rules":[
            {"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["ci-"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}},
            {"rulePriority":5,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}"#,
        );
        let images = [
            img("ci1", 1, &["ci-1"]),
            img("ci2", 2, &["ci-2"]),
            img("ci3", 3, &["ci-3"]),
            img("ci4", 4, &["ci-4", "release"]),
            img("r1", 10, &["v1"]),
            img("r2", 11, &["v2"]),
            img("u1", 12, &[]),
            img("u2", 13, &[]),
        ];
        let mut got = expired(&p, &images);
        got.sort();
        assert_eq!(got, ["ci3", "ci4", "u2"]);
        let e = simulate(&p, &images, 1_000 * DAY);
        assert_eq!(e.matched_by[3], Some(1));
        assert_eq!(e.expired_by(5).count(), 1);
    }

    #[test]
    fn rules_are_evaluated_in_priority_order_whatever_the_document_order() {
        let p = policy(
            r#"{"rules":[
            {"rulePriority":9,"selection":{"tagStatus":"tagged","tagPrefixList":["c"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
            {"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["ci-"],"countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#,
        );
        let images = [img("a", 1, &["ci-1"]), img("b", 2, &["ci-2"])];
        assert!(expired(&p, &images).is_empty());
    }
}
