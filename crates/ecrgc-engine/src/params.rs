//! The values of the one-row `params` table (its columns: [`ecrgc_model::params`]),
//! computed once from the configuration and `--now`.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use ecrgc_config::Config;
use ecrgc_model::params::{ParamsRow, RELATION_DEPTH};
use ecrgc_model::time::{DAY, HOUR, Micros, before};

/// Thresholds and selectors of one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// The instant the plan is made for.
    pub now: Micros,
    /// Days without use after which an image is a candidate.
    pub unused_days: i64,
    /// Hours a deregistered task definition or stopped task still protects its images.
    pub rollback_window_hours: i64,
    /// Images younger than this many days are never deleted.
    pub min_age_days: i64,
    /// An ECR pull within this many days keeps an image.
    pub recent_pull_days: i64,
    /// Newest N images per repository always kept.
    pub keep_newest: i64,
    /// Repository tag that excludes a repository entirely: key, and value (`None`: any).
    pub exclude_tag: (String, Option<String>),
    /// Repository tag required to enter the manifest (value `None`: any); `None` lets every
    /// repository in.
    pub opt_in_tag: Option<(String, Option<String>)>,
}

impl Params {
    /// Parameters from a configuration at instant `now`.
    pub fn from_config(config: &Config, now: Micros) -> Self {
        let exclude = config.exclude_tag();
        Self {
            now,
            unused_days: i64::from(config.rules.unused_days),
            rollback_window_hours: i64::from(config.rules.rollback_window_hours),
            min_age_days: i64::from(config.rules.min_age_days),
            recent_pull_days: i64::from(config.rules.recent_pull_days),
            keep_newest: i64::from(config.rules.keep_newest),
            exclude_tag: (exclude.key, exclude.value),
            opt_in_tag: config.opt_in_tag().map(|t| (t.key, t.value)),
        }
    }

    /// Images whose last use (or push, for never-used ones) is before this are unused.
    pub fn unused_cutoff(&self) -> Micros {
        before(self.now, self.unused_days, DAY)
    }

    /// References that ended before this no longer protect.
    pub fn rollback_cutoff(&self) -> Micros {
        before(self.now, self.rollback_window_hours, HOUR)
    }

    /// Images pushed at or after this are young.
    pub fn young_cutoff(&self) -> Micros {
        before(self.now, self.min_age_days, DAY)
    }

    /// ECR pulls at or after this keep an image.
    pub fn pull_cutoff(&self) -> Micros {
        before(self.now, self.recent_pull_days, DAY)
    }

    /// The schema of the `params` table (see [`ParamsRow`]).
    pub fn schema() -> SchemaRef {
        ParamsRow::schema()
    }

    /// The one-row batch of the `params` table.
    pub fn to_batch(&self) -> RecordBatch {
        let (opt_key, opt_value) = match &self.opt_in_tag {
            Some((k, v)) => (Some(k.as_str()), v.as_deref()),
            None => (None, None),
        };
        ParamsRow {
            now: self.now,
            unused_cutoff: self.unused_cutoff(),
            rollback_cutoff: self.rollback_cutoff(),
            young_cutoff: self.young_cutoff(),
            pull_cutoff: self.pull_cutoff(),
            unused_days: self.unused_days,
            keep_newest: self.keep_newest,
            exclude_tag_key: &self.exclude_tag.0,
            exclude_tag_value: self.exclude_tag.1.as_deref(),
            opt_in_tag_key: opt_key,
            opt_in_tag_value: opt_value,
            relation_depth: RELATION_DEPTH,
        }
        .to_batch()
    }
}
