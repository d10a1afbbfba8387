//! The one-row `params` table every rule, guard and plan step reads its thresholds from.
//!
//! Rules never template thresholds into SQL text: the engine computes every cut-off instant
//! once from the configuration and `--now` (`ecrgc_engine::Params`) and writes this row; a
//! fixture pins every threshold with one `INSERT`. A tag selector's value is null when the
//! key alone selects (any value): rules match `tag_value = p.…_value OR p.…_value IS NULL`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::column::{UTC, timestamp_type};
use crate::time::Micros;

/// The table's name.
pub const PARAMS: &str = "params";

/// The column holding [`ParamsRow::relation_depth`], which has a default when an `INSERT`
/// leaves it out.
pub const RELATION_DEPTH_COLUMN: &str = "relation_depth";

/// Levels of parent → child links (index → child → signature → …) the decision step follows
/// (`sql/plan/descendants.sql`): deeper than any chain ECR builds; a child below it is kept.
pub const RELATION_DEPTH: i64 = 8;

/// The values of the one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsRow<'a> {
    /// The instant the plan is made for.
    pub now: Micros,
    /// Images whose last use (or push, for never-used ones) is before this are unused.
    pub unused_cutoff: Micros,
    /// References that ended before this no longer protect.
    pub rollback_cutoff: Micros,
    /// Images pushed at or after this are young.
    pub young_cutoff: Micros,
    /// ECR pulls at or after this keep an image.
    pub pull_cutoff: Micros,
    /// Days without use after which an image is a candidate.
    pub unused_days: i64,
    /// Newest N images per repository always kept.
    pub keep_newest: i64,
    /// Repository tag key that excludes a repository entirely.
    pub exclude_tag_key: &'a str,
    /// Its value (`None`: any value).
    pub exclude_tag_value: Option<&'a str>,
    /// Repository tag key required to enter the manifest (`None`: every repository may).
    pub opt_in_tag_key: Option<&'a str>,
    /// Its value (`None`: any value).
    pub opt_in_tag_value: Option<&'a str>,
    /// See [`RELATION_DEPTH`].
    pub relation_depth: i64,
}

impl ParamsRow<'_> {
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
            int(RELATION_DEPTH_COLUMN),
        ]))
    }

    /// The one-row batch.
    pub fn to_batch(&self) -> RecordBatch {
        let ts = |v: Micros| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(vec![v]).with_timezone(UTC))
        };
        let int = |v: i64| -> ArrayRef { Arc::new(Int64Array::from(vec![v])) };
        let text = |v: Option<&str>| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
        RecordBatch::try_new(
            Self::schema(),
            vec![
                ts(self.now),
                ts(self.unused_cutoff),
                ts(self.rollback_cutoff),
                ts(self.young_cutoff),
                ts(self.pull_cutoff),
                int(self.unused_days),
                int(self.keep_newest),
                text(Some(self.exclude_tag_key)),
                text(self.exclude_tag_value),
                text(self.opt_in_tag_key),
                text(self.opt_in_tag_value),
                int(self.relation_depth),
            ],
        )
        .expect("params columns match their schema")
    }
}

/// The one-row table of what the FinOps report's queries need besides the plan
/// (`sql/report/`): the run planned and the repository tag that names an owner.
pub const REPORT_PARAMS: &str = "report_params";

/// The schema of [`REPORT_PARAMS`]: `run_id`, `owner_tag`.
pub fn report_params_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("owner_tag", DataType::Utf8, false),
    ]))
}

/// The one row of [`REPORT_PARAMS`].
pub fn report_params_batch(run_id: &str, owner_tag: &str) -> RecordBatch {
    let text = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
    RecordBatch::try_new(report_params_schema(), vec![text(run_id), text(owner_tag)])
        .expect("report_params columns match their schema")
}

/// The one-row table `ecrgc explain` reads the image it explains from (`sql/explain/`).
pub const TARGET: &str = "target";

/// The image of [`TARGET`]: an image key, or, to resolve an argument, the parts it names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetRow<'a> {
    /// Registry account (null: any, for a bare digest).
    pub account_id: Option<&'a str>,
    /// Registry region.
    pub region: Option<&'a str>,
    /// Repository.
    pub repository_name: Option<&'a str>,
    /// Digest (null when a tag names the image).
    pub image_digest: Option<&'a str>,
    /// Tag (null unless a tag names the image).
    pub image_tag: Option<&'a str>,
}

impl TargetRow<'_> {
    /// The schema of [`TARGET`]: five nullable strings, in the order of the fields.
    pub fn schema() -> SchemaRef {
        let text = |n: &str| Field::new(n, DataType::Utf8, true);
        Arc::new(Schema::new(vec![
            text("account_id"),
            text("region"),
            text("repository_name"),
            text("image_digest"),
            text("image_tag"),
        ]))
    }

    /// The one-row batch.
    pub fn to_batch(&self) -> RecordBatch {
        let text = |v: Option<&str>| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
        RecordBatch::try_new(
            Self::schema(),
            vec![
                text(self.account_id),
                text(self.region),
                text(self.repository_name),
                text(self.image_digest),
                text(self.image_tag),
            ],
        )
        .expect("target columns match their schema")
    }
}
