//! What the demo expects a plan to decide: [`DemoTruth`], computed image by image from the
//! generated facts with the default configuration's thresholds (read from
//! [`ecrgc_config::Config::default`], never copied) through the shared decision semantics of
//! [`crate::oracle`], independently of the SQL rules.

use std::collections::BTreeMap;

use ecrgc_config::Config;
use ecrgc_model::is_index_media_type;
use ecrgc_model::time::{DAY, HOUR, Micros};
use serde::{Deserialize, Serialize};

use super::facts::{ImageFact, RefFact};
use super::organization::Repo;
use crate::oracle::{self, Decision, GUARDS, Parents, RULES};

/// Image count and bytes.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Images.
    pub images: u64,
    /// Sum of `imageSizeInBytes`, image indexes counted as 0.
    pub bytes: u64,
}

impl Totals {
    fn add(&mut self, bytes: u64) {
        self.images += 1;
        self.bytes += bytes;
    }
}

/// The right answer for a demo organization under the default configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DemoTruth {
    /// Every image generated.
    pub all: Totals,
    /// Repositories generated.
    pub repositories: u64,
    /// Listed images by decision status (`delete`, `not_opted_in`, `protected`,
    /// `kept_with_parent`). Roots no rule flags are not listed by a plan.
    pub by_status: BTreeMap<String, Totals>,
    /// `delete` images by primary rule.
    pub delete_by_rule: BTreeMap<String, Totals>,
    /// `delete` images by registry account.
    pub delete_by_account: BTreeMap<String, Totals>,
    /// `protected` images by primary guard.
    pub protected_by_reason: BTreeMap<String, Totals>,
    /// Bytes of the distinct blobs (layers and configs, `image_layers`) that only `delete`
    /// images of their repository list: what deleting the manifest frees once layers
    /// shared with kept images are counted, always well below the naive sum of
    /// `imageSizeInBytes`.
    pub delete_bytes_freed_after_sharing: u64,
}

/// The thresholds the truth is computed for, as ages before `now`: the default
/// configuration's. The truth models the rules and guards that can fire under it, so it
/// refuses a configuration that switches on what it does not model.
#[derive(Debug, Clone)]
pub(super) struct Judge {
    /// `rules.unused_days`.
    unused: Micros,
    /// `rules.min_age_days`.
    min_age: Micros,
    /// `rules.rollback_window_hours`.
    rollback: Micros,
    /// `rules.recent_pull_days`.
    recent_pull: Micros,
    /// Whether `safety.opt_in_tag` is set, so only opted-in repositories are `delete`.
    opt_in_required: bool,
}

impl Judge {
    /// The judge of the default configuration.
    pub(super) fn default_configuration() -> Self {
        let config = Config::default();
        let rules = &config.rules;
        assert!(
            rules.keep_newest == 0 && rules.enable.is_empty() && rules.disable.is_empty(),
            "the demo's truth models the default rules: keep_newest 0, none enabled or disabled"
        );
        Self {
            unused: i64::from(rules.unused_days) * DAY,
            min_age: i64::from(rules.min_age_days) * DAY,
            rollback: i64::from(rules.rollback_window_hours) * HOUR,
            recent_pull: i64::from(rules.recent_pull_days) * DAY,
            opt_in_required: config.opt_in_tag().is_some(),
        }
    }

    /// Whether a reference still protects its image.
    fn live(&self, r: &RefFact) -> bool {
        let within_rollback = r.status_age.is_none_or(|a| a <= self.rollback);
        oracle::reference_is_live(r.kind, r.status, within_rollback)
    }

    /// Rules that flag the image, in precedence order (see `sql/rules/`). The usage
    /// rules read only coverage Inspector still monitors; an image with inactive coverage
    /// is of unknown use, like one without.
    fn rules(&self, repo: &Repo, image: &ImageFact) -> Vec<&'static str> {
        let old = image.age > self.unused;
        let monitored = image.coverage.filter(|_| image.coverage_active(repo));
        let never_used = |(last, count): (Option<Micros>, i64)| count == 0 && last.is_none();
        oracle::in_precedence(
            RULES,
            &[
                !image.refs.is_empty()
                    && image.age > self.min_age
                    && image
                        .refs
                        .iter()
                        .all(|r| r.kind == "task_definition" && !self.live(r)),
                monitored.is_some_and(|(last, count)| {
                    count == 0 && last.is_some_and(|l| l > self.unused)
                }),
                monitored.is_some_and(never_used) && old,
                monitored.is_none() && image.tags.is_empty() && old,
            ],
        )
    }

    /// Guards that protect the image, in precedence order (see `sql/guards/`). Demo images
    /// are all `ACTIVE`, and the history window holds the planned run alone, where
    /// `history_use` never comes before `recent_use` or `live_reference`.
    fn guards(&self, repo: &Repo, image: &ImageFact) -> Vec<&'static str> {
        oracle::in_precedence(
            GUARDS,
            &[
                repo.excluded,
                false,
                image.refs.iter().any(|r| self.live(r)),
                image.coverage.is_some_and(|(last, count)| {
                    count > 0 || last.is_some_and(|l| l <= self.unused)
                }),
                false,
                image.pull_age.is_some_and(|p| p <= self.recent_pull),
                image.age <= self.min_age,
                repo.blocked(),
            ],
        )
    }

    /// Decides a unit's images; parents come before their children in `images`.
    pub(super) fn decide(&self, repo: &Repo, images: &[ImageFact]) -> Vec<Decision<'static>> {
        let may_delete = repo.opted_in || !self.opt_in_required;
        let mut decisions: Vec<Decision<'static>> = Vec::with_capacity(images.len());
        for image in images {
            let parents = if image.parents.is_empty() {
                Parents::None
            } else if image.parents.iter().any(|(p, _)| {
                let i = images
                    .iter()
                    .position(|x| &x.digest == p)
                    .expect("parents precede children in a unit");
                !decisions[i].deletable()
            }) {
                Parents::SomeKept
            } else {
                Parents::AllDeletable
            };
            let rules = self.rules(repo, image);
            let guards = self.guards(repo, image);
            decisions.push(oracle::decide(&rules, &guards, parents, may_delete));
        }
        decisions
    }
}

/// Counts one image and its decision into the truth.
pub(super) fn record(truth: &mut DemoTruth, repo: &Repo, image: &ImageFact, decision: Decision) {
    // As the reports count: an index's children are images of their own, so the index adds
    // nothing (its `imageSizeInBytes` is its largest child's).
    let bytes = if is_index_media_type(image.media_type) {
        0
    } else {
        image.size as u64
    };
    truth.all.add(bytes);
    if let Some(status) = decision.status {
        // The label a plan lists: the guard or `parent_kept` of a kept image, else the rule.
        let label = decision.reason.or(decision.rule).unwrap_or_default();
        truth.by_status.entry(status.into()).or_default().add(bytes);
        match status {
            "delete" => {
                truth
                    .delete_by_rule
                    .entry(label.into())
                    .or_default()
                    .add(bytes);
                truth
                    .delete_by_account
                    .entry(repo.account.into())
                    .or_default()
                    .add(bytes);
            }
            "protected" => {
                truth
                    .protected_by_reason
                    .entry(label.into())
                    .or_default()
                    .add(bytes);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::facts::make_unit;
    use crate::demo::organization::{CENTRAL, PROD};
    use crate::rng::Rng;

    fn repo() -> Repo {
        Repo {
            account: CENTRAL,
            region: "eu-west-1",
            name: "team/app".into(),
            immutable: false,
            excluded: false,
            opted_in: true,
            pullers: vec![PROD],
        }
    }

    fn listed(
        status: &'static str,
        label: &'static str,
    ) -> (Option<&'static str>, Option<&'static str>) {
        (Some(status), Some(label))
    }

    #[test]
    fn a_kept_index_keeps_its_children_and_a_deleted_one_takes_them() {
        let judge = Judge::default_configuration();
        for (kind, index_fate) in [(11, (None, None)), (12, listed("delete", "stale"))] {
            // Find a unit of the wanted kind by scanning seeds: the archetype draw is random.
            let unit = (0..10_000)
                .map(|s| make_unit(&mut Rng::new(s), &repo(), 1, 3))
                .find(|u| {
                    u.len() == 3 && {
                        let in_use = u[0]
                            .coverage
                            .and_then(|c| c.0)
                            .is_some_and(|l| l < judge.unused);
                        in_use == (kind == 11)
                    }
                })
                .expect("some seed draws a multi-arch unit");
            let decisions = judge.decide(&repo(), &unit);
            let fates: Vec<_> = decisions
                .iter()
                .map(|d| (d.status, d.reason.or(d.rule)))
                .collect();
            assert_eq!(fates[0], index_fate);
            if kind == 11 {
                assert_eq!(fates[1], listed("protected", "recent_pull"));
                assert_eq!(fates[2], listed("kept_with_parent", "parent_kept"));
            } else {
                assert!(decisions[1..].iter().all(Decision::deletable), "{fates:?}");
            }
        }
    }
}
