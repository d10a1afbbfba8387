//! The one-row `params` table.
//!
//! Rules never template thresholds into SQL text: the engine computes every cut-off instant
//! once from the configuration and `--now`, and rules join `params`. A fixture can therefore
//! pin every threshold with one row. A tag selector's value is null when the key alone
//! selects (any value): rules match `tag_value = p.…_value OR p.…_value IS NULL`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use ecrgc_config::Config;
use ecrgc_model::column::{UTC, timestamp_type};
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

    /// The schema of the `params` table.
    pub fn schema() -> SchemaRef {
        let ts = |n: &str| Field::new(n, timestamp_type(), false);
        let int = |n: &str| Field::new(n, DataType::Int64, false);
        Arc::new(Schema::new(vec![
            ts("now"),
            ts("unused_cutoff"),
            ts("rollback_cutoff"),
            ts("young_cutoff"),
            ts("pull_cutoff"),
            int("unused_days"),
            int("keep_newest"),
            Field::new("exclude_tag_key", DataType::Utf8, false),
            Field::new("exclude_tag_value", DataType::Utf8, true),
            Field::new("opt_in_tag_key", DataType::Utf8, true),
            Field::new("opt_in_tag_value", DataType::Utf8, true),
        ]))
    }

    /// The one-row batch of the `params` table.
    pub fn to_batch(&self) -> RecordBatch {
        let ts = |v: Micros| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(vec![v]).with_timezone(UTC))
        };
        let int = |v: i64| -> ArrayRef { Arc::new(Int64Array::from(vec![v])) };
        let text = |v: Option<&str>| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
        let (opt_key, opt_value) = match &self.opt_in_tag {
            Some((k, v)) => (Some(k.as_str()), v.as_deref()),
            None => (None, None),
        };
        RecordBatch::try_new(
            Self::schema(),
            vec![
                ts(self.now),
                ts(self.unused_cutoff()),
                ts(self.rollback_cutoff()),
                ts(self.young_cutoff()),
                ts(self.pull_cutoff()),
                int(self.unused_days),
                int(self.keep_newest),
                text(Some(&self.exclude_tag.0)),
                text(self.exclude_tag.1.as_deref()),
                text(opt_key),
                text(opt_value),
            ],
        )
        .expect("params columns match their schema")
    }
}
