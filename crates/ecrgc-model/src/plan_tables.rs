//! Tables a plan writes back into the store, next to the snapshot it planned.
//!
//! A plan's figures are a table too: `plan` writes one `plan_totals` file per planned run
//! (the latest plan of a run replaces the earlier one), so that the trend over many nights,
//! `ecrgc query` and Athena read the same numbers the report printed.

use crate::column::TableDef;
use crate::table;

table! {
    /// One row per repository × decision status × rule of the latest plan of a run, plus one
    /// `stored` row per repository with everything the run holds. Bytes count each image
    /// manifest once and an image index as nothing of its own (its children are images of
    /// their own), so they add up across rows without the index double count of
    /// `imageSizeInBytes`.
    "plan_totals" => PlanTotalRow, PlanTotalsBuilder {
        /// The instant the plan was made for (its `--now`).
        planned_at: Time,
        /// `stored` (every image of the run), or a decision status: `delete`,
        /// `not_opted_in`, `protected`, `kept_with_parent`.
        status: Text,
        /// The first rule of a `delete` or `not_opted_in` image (`with_parent` for a child
        /// deleted with its parent), the first guard of a `protected` one; null otherwise.
        rule: OptText,
        /// Registry account.
        account_id: Text,
        /// Registry region.
        region: Text,
        /// Repository name.
        repository_name: Text,
        /// Value of the configured owner tag (`report.owner_tag`) on the repository.
        owner: OptText,
        /// Images.
        images: Int,
        /// Bytes: the sum of `imageSizeInBytes` over image manifests, indexes counted as 0.
        bytes: Int,
    }
}

/// Every table a plan writes, in the order they are documented.
pub fn plan_tables() -> Vec<TableDef> {
    vec![PlanTotalsBuilder::def()]
}
