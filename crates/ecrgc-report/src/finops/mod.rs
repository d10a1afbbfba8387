//! The FinOps report: what a plan saves, by rule, account, region, owner and repository;
//! what archiving instead of deleting would cost; and how stored and unused bytes moved
//! over the earlier plans.
//!
//! Everything is derived from one table of totals per repository × decision status × rule
//! (`plan_totals`), which a plan also writes back into the store so that the trend of later
//! plans, `ecrgc query` and Athena read the very numbers this report prints.
//!
//! Bytes are counted so that they add up: each image manifest once at its
//! `imageSizeInBytes`, and an image index as nothing of its own, because its children are
//! images of their own (ECR reports an index at the size of its largest child, which would
//! count that child twice and the others never). When layers were collected
//! (`collect --layers`), the bytes a deletion really frees are computed per repository:
//! the layers that only deleted images use, since ECR stores a layer once per repository.

mod assemble;
mod flat;
mod queries;

use arrow::array::RecordBatch;
use datafusion::execution::context::SessionContext;
use ecrgc_config::{PricingConfig, ReportConfig};
use ecrgc_model::time::Micros;
use serde::{Deserialize, Serialize};

pub use flat::groups_batch;

use crate::Result;

/// Version of the report's JSON shape.
pub const REPORT_VERSION: u32 = 1;

/// Months in a year, for yearly figures.
const MONTHS_PER_YEAR: f64 = 12.0;

/// Days in a billing month, for the archive minimum.
const DAYS_PER_MONTH: f64 = 30.0;

/// Images, bytes and what storing them costs a month.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Figure {
    /// Images.
    pub images: u64,
    /// Bytes (indexes counted as 0, see the module documentation).
    pub bytes: u64,
    /// USD a month at the standard storage price of each image's region.
    pub monthly_usd: f64,
}

impl Figure {
    fn add(&mut self, images: u64, bytes: u64, monthly_usd: f64) {
        self.images += images;
        self.bytes += bytes;
        self.monthly_usd += monthly_usd;
    }
}

/// One line of a breakdown: the manifest's share of one group, and what the same group
/// would add if its repositories were opted in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Group {
    /// The rule, account, region, owner or `account/region/repository`.
    pub key: String,
    /// Images in the manifest.
    pub images: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Storage they cost a month, USD.
    pub monthly_usd: f64,
    /// The same, a year.
    pub yearly_usd: f64,
    /// Bytes deleting them frees after layer sharing; null when layers were not collected
    /// for every repository of the group, or for a breakdown by rule (sharing is a matter
    /// of repositories, not rules).
    pub freed_bytes: Option<u64>,
    /// Flagged images whose repository lacks the opt-in tag.
    pub not_opted_in_images: u64,
    /// Their bytes.
    pub not_opted_in_bytes: u64,
    /// Every image the group stores (breakdowns by account, region, owner and repository).
    pub stored_bytes: u64,
    /// For a repository that caches an upstream registry (a pull through cache rule of its
    /// registry covers its name): the upstream's URL. What is deleted there can be pulled
    /// again from the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_through_upstream: Option<String>,
}

/// Deleting versus archiving the manifest's images.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Savings {
    /// Deleting: storage saved a month, USD.
    pub delete_monthly_usd: f64,
    /// Deleting: storage saved a year, USD.
    pub delete_yearly_usd: f64,
    /// Bytes deleting frees after layer sharing, when layers were collected for every
    /// repository of the manifest.
    pub freed_bytes: Option<u64>,
    /// The monthly saving of `freed_bytes`.
    pub freed_monthly_usd: Option<f64>,
    /// Archiving: what the archived images cost a month, USD.
    pub archive_monthly_cost_usd: f64,
    /// Archiving: storage saved a month (standard minus archive), USD.
    pub archive_monthly_usd: f64,
    /// Archiving: saved a year, USD.
    pub archive_yearly_usd: f64,
    /// Archiving: the least an archived image is billed (the minimum storage duration),
    /// paid even when it is deleted sooner, USD.
    pub archive_minimum_charge_usd: f64,
    /// What opting the flagged repositories in would save on top, a month, USD.
    pub not_opted_in_monthly_usd: f64,
}

/// One planned night of the trend.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TrendPoint {
    /// The run planned.
    pub run_id: String,
    /// The instant it describes, RFC 3339.
    pub snapshot_time: String,
    /// The `--now` of its latest plan, RFC 3339.
    pub planned_at: String,
    /// Images stored.
    pub stored_images: u64,
    /// Bytes stored.
    pub stored_bytes: u64,
    /// Images a rule flagged that no guard kept (`delete` and `not_opted_in`).
    pub unused_images: u64,
    /// Their bytes.
    pub unused_bytes: u64,
    /// Images in the manifest.
    pub candidate_images: u64,
    /// Their bytes.
    pub candidate_bytes: u64,
}

/// How much layer data the report could use.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerCoverage {
    /// Repositories with an image in the manifest.
    pub repositories: u64,
    /// Of those, the ones whose every image manifest has its layers in the snapshot.
    pub repositories_with_layers: u64,
}

/// The FinOps report, as written to `report.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FinopsReport {
    /// Version of this shape.
    pub report_version: u32,
    /// The run planned.
    pub run_id: String,
    /// The instant it describes, RFC 3339.
    pub snapshot_time: String,
    /// The `--now` of the plan, RFC 3339.
    pub now: String,
    /// Currency of every `*_usd` figure.
    pub currency: String,
    /// Prices used.
    pub pricing: PricingConfig,
    /// Repository tag the `by_owner` breakdown reads.
    pub owner_tag: String,
    /// Every image of the run (standard and archive storage).
    pub stored: Figure,
    /// Of those, images in the archive storage class (priced at the archive price).
    pub stored_archived: Figure,
    /// The manifest.
    pub delete: Figure,
    /// Flagged, deletable, but in repositories without the opt-in tag.
    pub not_opted_in: Figure,
    /// Flagged but kept by a guard.
    pub protected: Figure,
    /// Kept because an index or subject they belong to is kept.
    pub kept_with_parent: Figure,
    /// Deleting versus archiving.
    pub savings: Savings,
    /// Layer data available to `freed_bytes`.
    pub layers: LayerCoverage,
    /// The manifest by first rule.
    pub by_rule: Vec<Group>,
    /// By registry account.
    pub by_account: Vec<Group>,
    /// By region.
    pub by_region: Vec<Group>,
    /// By the owner tag's value (`(untagged)` when a repository has none).
    pub by_owner: Vec<Group>,
    /// Every repository with something flagged, largest manifest share first.
    pub by_repository: Vec<Group>,
    /// The first `report.top_repositories` of `by_repository`.
    pub top_repositories: Vec<Group>,
    /// Flagged images kept, by first guard.
    pub protected_by_reason: Vec<Group>,
    /// Earlier plans of the trend window and this one, oldest first.
    pub trend: Vec<TrendPoint>,
    /// Per registry account and region, what Inspector's coverage can vouch for.
    #[serde(default)]
    pub inspector_coverage: Vec<crate::summary::InspectorCoverage>,
}

/// Owner value of repositories without the owner tag.
pub const NO_OWNER: &str = "(untagged)";

/// What the report is computed from. The session must have these tables: `decisions` (the
/// plan's decision rows), `images` and `repository_tags` of the planned run,
/// `earlier_plan_totals` (the `plan_totals` of earlier runs in the trend window), and, when
/// layers may have been collected, `image_layers`.
pub struct ReportSpec<'a> {
    /// The session.
    pub ctx: &'a SessionContext,
    /// The run planned.
    pub run_id: &'a str,
    /// The instant it describes.
    pub snapshot_time: Micros,
    /// The plan's `--now`.
    pub now: Micros,
    /// Prices.
    pub pricing: &'a PricingConfig,
    /// Groupings.
    pub report: &'a ReportConfig,
}

/// The report and the `plan_totals` rows it was computed from.
pub struct Computed {
    /// The report.
    pub report: FinopsReport,
    /// The `plan_totals` batch of this plan, to be written to the store.
    pub totals: RecordBatch,
}

/// Computes the report (the queries of `sql/report/`: `plan_totals`, `freed_bytes`,
/// `trend`, `pull_through_upstreams`).
pub async fn compute(spec: &ReportSpec<'_>) -> Result<Computed> {
    ecrgc_engine::register_report_params(spec.ctx, spec.run_id, &spec.report.owner_tag)?;
    let totals = queries::plan_totals(spec.ctx).await?;
    let batch = queries::totals_batch(spec, &totals);
    let freed = queries::freed_bytes(spec.ctx).await?;
    let trend = queries::trend(spec.ctx, batch.clone()).await?;
    let mut report = assemble::assemble(spec, &totals, &freed, trend);
    let upstreams = queries::pull_through_upstreams(spec.ctx).await?;
    for g in report
        .by_repository
        .iter_mut()
        .chain(report.top_repositories.iter_mut())
    {
        g.pull_through_upstream = upstreams.get(&g.key).cloned();
    }
    Ok(Computed {
        report,
        totals: batch,
    })
}

/// USD rounded to the cent, as every report shows them.
pub use ecrgc_model::format::round_cents;

#[cfg(test)]
mod tests;
