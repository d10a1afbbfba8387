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

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;
use ecrgc_config::{PricingConfig, ReportConfig};
use ecrgc_model::time::{Micros, rfc3339};
use ecrgc_model::{PlanTotalRow, PlanTotalsBuilder, index_media_types_sql};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::columns::{Columns, opt_str};

/// Version of the report's JSON shape.
pub const REPORT_VERSION: u32 = 1;

/// Bytes in the unit AWS bills storage by (a "GB" of 2^30 bytes).
const GIB: f64 = (1u64 << 30) as f64;

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

/// One row of `plan_totals`, owned.
#[derive(Debug, Clone)]
struct Total {
    status: String,
    rule: Option<String>,
    account_id: String,
    region: String,
    repository_name: String,
    owner: Option<String>,
    images: u64,
    bytes: u64,
}

impl Total {
    fn repository(&self) -> String {
        format!(
            "{}/{}/{}",
            self.account_id, self.region, self.repository_name
        )
    }
}

fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Computes the report.
pub async fn compute(spec: &ReportSpec<'_>) -> Result<Computed> {
    let totals = plan_totals(spec).await?;
    let batch = totals_batch(spec, &totals);
    let freed = freed_bytes(spec.ctx).await?;
    let trend = trend(spec, batch.clone()).await?;
    let mut report = assemble(spec, &totals, &freed, trend);
    let upstreams = pull_through_upstreams(spec.ctx).await?;
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

async fn plan_totals(spec: &ReportSpec<'_>) -> Result<Vec<Total>> {
    let index_types = index_media_types_sql();
    let bytes = |alias: &str| {
        format!(
            "SUM(CASE WHEN {alias}.image_manifest_media_type IN ({index_types}) THEN 0 \
             ELSE {alias}.image_size_bytes END)"
        )
    };
    let sql = format!(
        "WITH owners AS ( \
           SELECT account_id, region, repository_name, MIN(tag_value) AS owner \
           FROM repository_tags WHERE tag_key = {owner_tag} \
           GROUP BY account_id, region, repository_name \
         ), \
         grouped AS ( \
           SELECT d.status, \
                  CASE WHEN d.status IN ('delete', 'not_opted_in') \
                         THEN COALESCE(d.rule, 'with_parent') \
                       WHEN d.status = 'protected' THEN COALESCE(d.reason, 'unknown') \
                  END AS rule, \
                  d.account_id, d.region, d.repository_name, \
                  COUNT(*) AS images, {decision_bytes} AS bytes \
           FROM decisions d \
           GROUP BY 1, 2, 3, 4, 5 \
           UNION ALL \
           SELECT CASE WHEN i.image_status = 'ARCHIVED' THEN 'stored_archived' \
                       ELSE 'stored' END, \
                  CAST(NULL AS VARCHAR), i.account_id, i.region, i.repository_name, \
                  COUNT(*), {image_bytes} \
           FROM images i \
           GROUP BY 1, 2, 3, 4, 5 \
         ) \
         SELECT g.status, g.rule, g.account_id, g.region, g.repository_name, o.owner, \
                g.images, COALESCE(g.bytes, 0) AS bytes \
         FROM grouped g \
         LEFT JOIN owners o \
           ON o.account_id = g.account_id AND o.region = g.region \
          AND o.repository_name = g.repository_name \
         ORDER BY g.account_id, g.region, g.repository_name, g.status, g.rule",
        owner_tag = sql_string(&spec.report.owner_tag),
        decision_bytes = bytes("d"),
        image_bytes = bytes("i"),
    );
    let batches = spec.ctx.sql(&sql).await?.collect().await?;
    let mut out = Vec::new();
    for batch in &batches {
        let c = Columns::new(batch);
        let (status, rule, account, region, repo, owner) = (
            c.text("status")?,
            c.text("rule")?,
            c.text("account_id")?,
            c.text("region")?,
            c.text("repository_name")?,
            c.text("owner")?,
        );
        let images: Int64Array = c.int("images")?;
        let bytes: Int64Array = c.int("bytes")?;
        for i in 0..batch.num_rows() {
            out.push(Total {
                status: status.value(i).to_owned(),
                rule: opt_str(&rule, i).map(str::to_owned),
                account_id: account.value(i).to_owned(),
                region: region.value(i).to_owned(),
                repository_name: repo.value(i).to_owned(),
                owner: opt_str(&owner, i).map(str::to_owned),
                images: images.value(i).max(0) as u64,
                bytes: bytes.value(i).max(0) as u64,
            });
        }
    }
    Ok(out)
}

fn totals_batch(spec: &ReportSpec<'_>, totals: &[Total]) -> RecordBatch {
    let mut b = PlanTotalsBuilder::new(spec.run_id, spec.snapshot_time, totals.len());
    for t in totals {
        b.append(PlanTotalRow {
            planned_at: spec.now,
            status: &t.status,
            rule: t.rule.as_deref(),
            account_id: &t.account_id,
            region: &t.region,
            repository_name: &t.repository_name,
            owner: t.owner.as_deref(),
            images: t.images as i64,
            bytes: t.bytes as i64,
        });
    }
    b.finish()
}

/// Bytes freed per repository by deleting the manifest's images, for repositories whose
/// every image manifest has layer rows; absent when no layers were collected.
/// `account/region/repository` → upstream URL, for every repository a pull through cache
/// rule of its registry covers: the rule's prefix and a `/` start its name, or the prefix is
/// `ROOT` (botocore's ECR model, `ecrRepositoryPrefix`).
async fn pull_through_upstreams(ctx: &SessionContext) -> Result<BTreeMap<String, String>> {
    if !ctx.table_exist("pull_through_cache_rules")? {
        return Ok(BTreeMap::new());
    }
    let sql = "SELECT r.account_id || '/' || r.region || '/' || r.repository_name AS repository, \
                      MIN(p.upstream_registry_url) AS upstream \
               FROM repositories r \
               JOIN pull_through_cache_rules p \
                 ON p.account_id = r.account_id AND p.region = r.region \
                AND (p.ecr_repository_prefix = 'ROOT' \
                     OR SUBSTR(r.repository_name, 1, LENGTH(p.ecr_repository_prefix) + 1) \
                        = p.ecr_repository_prefix || '/') \
               GROUP BY 1";
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut out = BTreeMap::new();
    for b in &batches {
        let c = Columns::new(b);
        let (repo, upstream) = (c.text("repository")?, c.text("upstream")?);
        for i in 0..b.num_rows() {
            out.insert(repo.value(i).to_owned(), upstream.value(i).to_owned());
        }
    }
    Ok(out)
}

async fn freed_bytes(ctx: &SessionContext) -> Result<BTreeMap<String, Option<u64>>> {
    if !ctx.table_exist("image_layers")? {
        return Ok(BTreeMap::new());
    }
    let index_types = index_media_types_sql();
    // A layer is freed when every image of the repository that uses it is deleted; a
    // repository counts only when each of its image manifests has its layers, since a
    // missing image could share any of them. Foreign layers are not stored by ECR.
    let sql = format!(
        "WITH deleted AS ( \
           SELECT account_id, region, repository_name, image_digest \
           FROM decisions WHERE status = 'delete' \
         ), \
         touched AS (SELECT DISTINCT account_id, region, repository_name FROM deleted), \
         with_layers AS ( \
           SELECT DISTINCT account_id, region, repository_name, image_digest FROM image_layers \
         ), \
         missing AS ( \
           SELECT i.account_id, i.region, i.repository_name, COUNT(*) AS images \
           FROM images i \
           JOIN touched t \
             ON t.account_id = i.account_id AND t.region = i.region \
            AND t.repository_name = i.repository_name \
           LEFT JOIN with_layers w \
             ON w.account_id = i.account_id AND w.region = i.region \
            AND w.repository_name = i.repository_name AND w.image_digest = i.image_digest \
           WHERE w.image_digest IS NULL \
             AND i.image_manifest_media_type NOT IN ({index_types}) \
           GROUP BY 1, 2, 3 \
         ), \
         layer_use AS ( \
           SELECT l.account_id, l.region, l.repository_name, l.layer_digest, \
                  MAX(l.layer_size_bytes) AS size, \
                  MIN(CASE WHEN d.image_digest IS NULL THEN 0 ELSE 1 END) AS only_deleted \
           FROM image_layers l \
           JOIN touched t \
             ON t.account_id = l.account_id AND t.region = l.region \
            AND t.repository_name = l.repository_name \
           LEFT JOIN deleted d \
             ON d.account_id = l.account_id AND d.region = l.region \
            AND d.repository_name = l.repository_name AND d.image_digest = l.image_digest \
           WHERE l.layer_kind <> 'foreign' \
           GROUP BY 1, 2, 3, 4 \
         ), \
         freed AS ( \
           SELECT account_id, region, repository_name, \
                  SUM(CASE WHEN only_deleted = 1 THEN size ELSE 0 END) AS freed \
           FROM layer_use GROUP BY 1, 2, 3 \
         ) \
         SELECT t.account_id, t.region, t.repository_name, \
                CASE WHEN m.images IS NULL THEN COALESCE(f.freed, 0) END AS freed \
         FROM touched t \
         LEFT JOIN missing m \
           ON m.account_id = t.account_id AND m.region = t.region \
          AND m.repository_name = t.repository_name \
         LEFT JOIN freed f \
           ON f.account_id = t.account_id AND f.region = t.region \
          AND f.repository_name = t.repository_name"
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut out = BTreeMap::new();
    for batch in &batches {
        let c = Columns::new(batch);
        let (account, region, repo) = (
            c.text("account_id")?,
            c.text("region")?,
            c.text("repository_name")?,
        );
        let freed: Int64Array = c.int("freed")?;
        for i in 0..batch.num_rows() {
            let value = (!freed.is_null(i)).then(|| freed.value(i).max(0) as u64);
            out.insert(
                format!("{}/{}/{}", account.value(i), region.value(i), repo.value(i)),
                value,
            );
        }
    }
    Ok(out)
}

async fn trend(spec: &ReportSpec<'_>, current: RecordBatch) -> Result<Vec<TrendPoint>> {
    let table = MemTable::try_new(current.schema(), vec![vec![current]])?;
    let _ = spec.ctx.deregister_table("current_plan_totals")?;
    spec.ctx
        .register_table("current_plan_totals", Arc::new(table))?;
    let sql = format!(
        "WITH all_plans AS ( \
           SELECT * FROM earlier_plan_totals WHERE run_id <> {run} \
           UNION ALL SELECT * FROM current_plan_totals \
         ) \
         SELECT run_id, snapshot_time, MAX(planned_at) AS planned_at, \
           SUM(CASE WHEN status IN ('stored', 'stored_archived') THEN images ELSE 0 END) AS stored_images, \
           SUM(CASE WHEN status IN ('stored', 'stored_archived') THEN bytes ELSE 0 END) AS stored_bytes, \
           SUM(CASE WHEN status IN ('delete', 'not_opted_in') THEN images ELSE 0 END) AS unused_images, \
           SUM(CASE WHEN status IN ('delete', 'not_opted_in') THEN bytes ELSE 0 END) AS unused_bytes, \
           SUM(CASE WHEN status = 'delete' THEN images ELSE 0 END) AS candidate_images, \
           SUM(CASE WHEN status = 'delete' THEN bytes ELSE 0 END) AS candidate_bytes \
         FROM all_plans \
         GROUP BY run_id, snapshot_time \
         ORDER BY snapshot_time, run_id",
        run = sql_string(spec.run_id)
    );
    let batches = spec.ctx.sql(&sql).await?.collect().await?;
    let _ = spec.ctx.deregister_table("current_plan_totals")?;
    let mut out = Vec::new();
    for batch in &batches {
        let c = Columns::new(batch);
        let run = c.text("run_id")?;
        let snapshot = c.time("snapshot_time")?;
        let planned = c.time("planned_at")?;
        let ints = [
            "stored_images",
            "stored_bytes",
            "unused_images",
            "unused_bytes",
            "candidate_images",
            "candidate_bytes",
        ]
        .map(|name| c.int(name));
        let [a, b, cc, d, e, f] = ints;
        let (a, b, cc, d, e, f) = (a?, b?, cc?, d?, e?, f?);
        let v = |x: &Int64Array, i: usize| x.value(i).max(0) as u64;
        for i in 0..batch.num_rows() {
            out.push(TrendPoint {
                run_id: run.value(i).to_owned(),
                snapshot_time: rfc3339(snapshot.value(i)),
                planned_at: rfc3339(planned.value(i)),
                stored_images: v(&a, i),
                stored_bytes: v(&b, i),
                unused_images: v(&cc, i),
                unused_bytes: v(&d, i),
                candidate_images: v(&e, i),
                candidate_bytes: v(&f, i),
            });
        }
    }
    Ok(out)
}

/// Accumulates the groups of one breakdown.
#[derive(Default)]
struct Breakdown {
    groups: BTreeMap<String, Group>,
    /// Repositories of each group with a manifest share, and whether all have freed bytes.
    freed_complete: BTreeMap<String, bool>,
}

impl Breakdown {
    fn entry(&mut self, key: &str) -> &mut Group {
        self.groups.entry(key.to_owned()).or_insert_with(|| Group {
            key: key.to_owned(),
            ..Default::default()
        })
    }

    fn add_freed(&mut self, key: &str, freed: Option<u64>) {
        let complete = self.freed_complete.entry(key.to_owned()).or_insert(true);
        *complete &= freed.is_some();
        let g = self.entry(key);
        g.freed_bytes = Some(g.freed_bytes.unwrap_or(0) + freed.unwrap_or(0));
    }

    /// The groups, largest manifest share first (then by key).
    fn finish(mut self, with_freed: bool) -> Vec<Group> {
        for (key, g) in &mut self.groups {
            g.yearly_usd = g.monthly_usd * MONTHS_PER_YEAR;
            if !with_freed || !self.freed_complete.get(key).copied().unwrap_or(false) {
                g.freed_bytes = None;
            }
        }
        let mut groups: Vec<Group> = self.groups.into_values().collect();
        groups.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then(b.not_opted_in_bytes.cmp(&a.not_opted_in_bytes))
                .then(a.key.cmp(&b.key))
        });
        groups
    }
}

fn assemble(
    spec: &ReportSpec<'_>,
    totals: &[Total],
    freed: &BTreeMap<String, Option<u64>>,
    trend: Vec<TrendPoint>,
) -> FinopsReport {
    let pricing = spec.pricing;
    let mut r = FinopsReport {
        report_version: REPORT_VERSION,
        run_id: spec.run_id.to_owned(),
        snapshot_time: rfc3339(spec.snapshot_time),
        now: rfc3339(spec.now),
        currency: "USD".to_owned(),
        pricing: pricing.clone(),
        owner_tag: spec.report.owner_tag.clone(),
        trend,
        ..Default::default()
    };
    let layers_collected = freed.values().any(Option::is_some);
    let (mut by_rule, mut by_account, mut by_region, mut by_owner, mut by_repo, mut protected) = (
        Breakdown::default(),
        Breakdown::default(),
        Breakdown::default(),
        Breakdown::default(),
        Breakdown::default(),
        Breakdown::default(),
    );
    for t in totals {
        let price = if t.status == "stored_archived" {
            pricing.archive_gb_month
        } else {
            pricing.storage_price(&t.region)
        };
        let monthly = t.bytes as f64 / GIB * price;
        let repo = t.repository();
        let owner = t.owner.as_deref().unwrap_or(NO_OWNER);
        let place = [
            (&mut by_account, t.account_id.as_str()),
            (&mut by_region, t.region.as_str()),
            (&mut by_owner, owner),
            (&mut by_repo, repo.as_str()),
        ];
        let rule = t.rule.as_deref().unwrap_or("unknown");
        match t.status.as_str() {
            "stored" | "stored_archived" => {
                r.stored.add(t.images, t.bytes, monthly);
                if t.status == "stored_archived" {
                    r.stored_archived.add(t.images, t.bytes, monthly);
                }
                // Every group gets its stored bytes; groups with nothing flagged are dropped
                // at the end.
                for (b, key) in place {
                    b.entry(key).stored_bytes += t.bytes;
                }
            }
            "delete" => {
                r.delete.add(t.images, t.bytes, monthly);
                let g = by_rule.entry(rule);
                g.images += t.images;
                g.bytes += t.bytes;
                g.monthly_usd += monthly;
                for (b, key) in place {
                    let g = b.entry(key);
                    g.images += t.images;
                    g.bytes += t.bytes;
                    g.monthly_usd += monthly;
                }
            }
            "not_opted_in" => {
                r.not_opted_in.add(t.images, t.bytes, monthly);
                let g = by_rule.entry(rule);
                g.not_opted_in_images += t.images;
                g.not_opted_in_bytes += t.bytes;
                for (b, key) in place {
                    let g = b.entry(key);
                    g.not_opted_in_images += t.images;
                    g.not_opted_in_bytes += t.bytes;
                }
            }
            "protected" => {
                r.protected.add(t.images, t.bytes, monthly);
                let g = protected.entry(rule);
                g.images += t.images;
                g.bytes += t.bytes;
                g.monthly_usd += monthly;
            }
            "kept_with_parent" => r.kept_with_parent.add(t.images, t.bytes, monthly),
            _ => {}
        }
    }
    // Freed bytes: per repository of the manifest, summed into the groups that hold it.
    let mut seen = std::collections::BTreeSet::new();
    for t in totals.iter().filter(|t| t.status == "delete") {
        let repo = t.repository();
        if !seen.insert(repo.clone()) {
            continue;
        }
        let f = freed.get(&repo).copied().flatten();
        r.layers.repositories += 1;
        if f.is_some() {
            r.layers.repositories_with_layers += 1;
        }
        let owner = t.owner.as_deref().unwrap_or(NO_OWNER);
        by_account.add_freed(&t.account_id, f);
        by_region.add_freed(&t.region, f);
        by_owner.add_freed(owner, f);
        by_repo.add_freed(&repo, f);
    }
    let all_freed = layers_collected
        && r.layers.repositories > 0
        && r.layers.repositories == r.layers.repositories_with_layers;
    let flagged = |g: &Group| g.images > 0 || g.not_opted_in_images > 0;
    r.by_rule = by_rule.finish(false);
    r.by_account = by_account.finish(layers_collected);
    r.by_region = by_region.finish(layers_collected);
    r.by_owner = by_owner.finish(layers_collected);
    r.by_repository = by_repo.finish(layers_collected);
    for list in [
        &mut r.by_account,
        &mut r.by_region,
        &mut r.by_owner,
        &mut r.by_repository,
    ] {
        list.retain(flagged);
    }
    r.top_repositories = r
        .by_repository
        .iter()
        .filter(|g| g.images > 0)
        .take(spec.report.top_repositories as usize)
        .cloned()
        .collect();
    r.protected_by_reason = protected.finish(false);

    let s = &mut r.savings;
    s.delete_monthly_usd = r.delete.monthly_usd;
    s.delete_yearly_usd = r.delete.monthly_usd * MONTHS_PER_YEAR;
    if all_freed {
        let freed_total: u64 = r.by_repository.iter().filter_map(|g| g.freed_bytes).sum();
        // Priced at each repository's region.
        let freed_monthly: f64 = r
            .by_repository
            .iter()
            .filter_map(|g| {
                let region = g.key.split('/').nth(1)?;
                Some(g.freed_bytes? as f64 / GIB * pricing.storage_price(region))
            })
            .sum();
        s.freed_bytes = Some(freed_total);
        s.freed_monthly_usd = Some(freed_monthly);
    }
    let archive_monthly = r.delete.bytes as f64 / GIB * pricing.archive_gb_month;
    s.archive_monthly_cost_usd = archive_monthly;
    s.archive_monthly_usd = r.delete.monthly_usd - archive_monthly;
    s.archive_yearly_usd = s.archive_monthly_usd * MONTHS_PER_YEAR;
    s.archive_minimum_charge_usd =
        archive_monthly * f64::from(pricing.archive_minimum_days) / DAYS_PER_MONTH;
    s.not_opted_in_monthly_usd = r.not_opted_in.monthly_usd;
    round_report(&mut r);
    r
}

/// Rounds every USD figure to the cent, so that the JSON, the CSV, the terminal and the
/// HTML page all show the same numbers.
fn round_report(r: &mut FinopsReport) {
    for f in [
        &mut r.stored,
        &mut r.stored_archived,
        &mut r.delete,
        &mut r.not_opted_in,
        &mut r.protected,
        &mut r.kept_with_parent,
    ] {
        f.monthly_usd = round_cents(f.monthly_usd);
    }
    let s = &mut r.savings;
    for v in [
        &mut s.delete_monthly_usd,
        &mut s.delete_yearly_usd,
        &mut s.archive_monthly_cost_usd,
        &mut s.archive_monthly_usd,
        &mut s.archive_yearly_usd,
        &mut s.archive_minimum_charge_usd,
        &mut s.not_opted_in_monthly_usd,
    ] {
        *v = round_cents(*v);
    }
    s.freed_monthly_usd = s.freed_monthly_usd.map(round_cents);
    for list in [
        &mut r.by_rule,
        &mut r.by_account,
        &mut r.by_region,
        &mut r.by_owner,
        &mut r.by_repository,
        &mut r.top_repositories,
        &mut r.protected_by_reason,
    ] {
        for g in list.iter_mut() {
            g.monthly_usd = round_cents(g.monthly_usd);
            g.yearly_usd = round_cents(g.yearly_usd);
        }
    }
}

/// The breakdowns as one flat table (`report.csv`, `report.parquet`): one row per
/// dimension and key, the manifest's totals first as dimension `total`.
pub fn groups_batch(report: &FinopsReport) -> Result<RecordBatch> {
    use arrow::array::{Float64Builder, Int64Builder, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("dimension", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("images", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("monthly_usd", DataType::Float64, false),
        Field::new("yearly_usd", DataType::Float64, false),
        Field::new("freed_bytes", DataType::Int64, true),
        Field::new("not_opted_in_images", DataType::Int64, false),
        Field::new("not_opted_in_bytes", DataType::Int64, false),
        Field::new("stored_bytes", DataType::Int64, false),
    ]));
    let total = Group {
        key: "manifest".to_owned(),
        images: report.delete.images,
        bytes: report.delete.bytes,
        monthly_usd: report.delete.monthly_usd,
        yearly_usd: report.savings.delete_yearly_usd,
        freed_bytes: report.savings.freed_bytes,
        not_opted_in_images: report.not_opted_in.images,
        not_opted_in_bytes: report.not_opted_in.bytes,
        stored_bytes: report.stored.bytes,
        pull_through_upstream: None,
    };
    let dims: [(&str, &[Group]); 7] = [
        ("total", std::slice::from_ref(&total)),
        ("rule", &report.by_rule),
        ("account", &report.by_account),
        ("region", &report.by_region),
        ("owner", &report.by_owner),
        ("repository", &report.by_repository),
        ("protected_by", &report.protected_by_reason),
    ];
    let (mut dim, mut key) = (StringBuilder::new(), StringBuilder::new());
    let (mut images, mut bytes, mut freed, mut noi, mut nob, mut stored) = (
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
    );
    let (mut monthly, mut yearly) = (Float64Builder::new(), Float64Builder::new());
    for (name, groups) in dims {
        for g in groups {
            dim.append_value(name);
            key.append_value(&g.key);
            images.append_value(g.images as i64);
            bytes.append_value(g.bytes as i64);
            monthly.append_value(g.monthly_usd);
            yearly.append_value(g.yearly_usd);
            freed.append_option(g.freed_bytes.map(|f| f as i64));
            noi.append_value(g.not_opted_in_images as i64);
            nob.append_value(g.not_opted_in_bytes as i64);
            stored.append_value(g.stored_bytes as i64);
        }
    }
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(dim.finish()),
            Arc::new(key.finish()),
            Arc::new(images.finish()),
            Arc::new(bytes.finish()),
            Arc::new(monthly.finish()),
            Arc::new(yearly.finish()),
            Arc::new(freed.finish()),
            Arc::new(noi.finish()),
            Arc::new(nob.finish()),
            Arc::new(stored.finish()),
        ],
    )?)
}

/// USD rounded to the cent, as every report shows them.
pub fn round_cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "111111111111";
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
    const GB: i64 = 1 << 30;

    /// A session with a small organization: `app` in eu-west-1 (team `web`) with an index
    /// whose two children and the index itself are deleted, a deleted single image and a
    /// kept one sharing a layer with it; `db` in us-east-1 (untagged) with one image
    /// flagged in a repository that is not opted in and one protected.
    async fn session(with_layers: bool, earlier: Option<RecordBatch>) -> SessionContext {
        let ctx = SessionContext::new();
        let run = |sql: String| {
            let ctx = ctx.clone();
            async move {
                ctx.sql(&sql)
                    .await
                    .expect("plans")
                    .collect()
                    .await
                    .expect("runs");
            }
        };
        let decisions = [
            (
                "delete",
                Some("never_used"),
                None,
                "app",
                "sha256:idx",
                INDEX,
                2 * GB,
            ),
            ("delete", None, None, "app", "sha256:amd", IMAGE, 2 * GB),
            ("delete", None, None, "app", "sha256:arm", IMAGE, GB),
            (
                "delete",
                Some("stale"),
                None,
                "app",
                "sha256:old",
                IMAGE,
                4 * GB,
            ),
            (
                "not_opted_in",
                Some("stale"),
                None,
                "db",
                "sha256:db1",
                IMAGE,
                3 * GB,
            ),
            (
                "protected",
                Some("stale"),
                Some("recent_pull"),
                "db",
                "sha256:db2",
                IMAGE,
                GB,
            ),
        ];
        let rows = decisions
            .iter()
            .map(|(st, rule, reason, repo, d, m, size)| {
                let region = if *repo == "app" {
                    "eu-west-1"
                } else {
                    "us-east-1"
                };
                let q = |o: &Option<&str>| o.map_or("NULL".to_owned(), |v| format!("'{v}'"));
                format!(
                    "('{st}', {}, {}, '{A}', '{region}', '{repo}', '{d}', '{m}', {size})",
                    q(rule),
                    q(reason)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        run(format!(
            "CREATE TABLE decisions (status VARCHAR, rule VARCHAR, reason VARCHAR, \
             account_id VARCHAR, region VARCHAR, repository_name VARCHAR, image_digest VARCHAR, \
             image_manifest_media_type VARCHAR, image_size_bytes BIGINT) AS VALUES {rows}"
        ))
        .await;
        // Every image of the run: the decided ones, a kept image in `app`, and one archived.
        run(format!(
            "CREATE TABLE images AS \
             SELECT account_id, region, repository_name, image_digest, \
                    image_manifest_media_type, image_size_bytes, 'ACTIVE' AS image_status \
             FROM decisions \
             UNION ALL SELECT '{A}', 'eu-west-1', 'app', 'sha256:new', '{IMAGE}', {}, 'ACTIVE' \
             UNION ALL SELECT '{A}', 'us-east-1', 'db', 'sha256:arc', '{IMAGE}', {}, 'ARCHIVED'",
            5 * GB,
            10 * GB
        ))
        .await;
        run(format!(
            "CREATE TABLE repository_tags (account_id VARCHAR, region VARCHAR, \
             repository_name VARCHAR, tag_key VARCHAR, tag_value VARCHAR) AS VALUES \
             ('{A}', 'eu-west-1', 'app', 'team', 'web'), \
             ('{A}', 'us-east-1', 'db', 'cost-center', 'cc-1')"
        ))
        .await;
        if with_layers {
            // `old` shares `base` with the kept `new`; its own `top` is freed; the two
            // children share `arch` with nothing outside the manifest. A foreign layer
            // (stored elsewhere) frees nothing.
            let layers = [
                ("sha256:amd", "sha256:l-amd", GB),
                ("sha256:amd", "sha256:arch", GB / 2),
                ("sha256:arm", "sha256:arch", GB / 2),
                ("sha256:old", "sha256:base", 3 * GB),
                ("sha256:old", "sha256:top", GB),
                ("sha256:new", "sha256:base", 3 * GB),
                ("sha256:new", "sha256:top2", 2 * GB),
            ]
            .iter()
            .map(|(d, l, s)| format!("('{A}', 'eu-west-1', 'app', '{d}', '{l}', {s}, 'layer')"))
            .collect::<Vec<_>>()
            .join(", ");
            run(format!(
                "CREATE TABLE image_layers (account_id VARCHAR, region VARCHAR, \
                 repository_name VARCHAR, image_digest VARCHAR, layer_digest VARCHAR, \
                 layer_size_bytes BIGINT, layer_kind VARCHAR) AS VALUES {layers}, \
                 ('{A}', 'eu-west-1', 'app', 'sha256:old', 'sha256:win', {foreign}, 'foreign')",
                foreign = 5 * GB
            ))
            .await;
        }
        let earlier = earlier.unwrap_or_else(|| PlanTotalsBuilder::new("r0", 0, 0).finish());
        let table = MemTable::try_new(earlier.schema(), vec![vec![earlier]]).expect("table");
        ctx.register_table("earlier_plan_totals", Arc::new(table))
            .expect("registers");
        ctx
    }

    async fn report(ctx: &SessionContext, pricing: &PricingConfig) -> Computed {
        compute(&ReportSpec {
            ctx,
            run_id: "r2",
            snapshot_time: 2 * ecrgc_model::time::DAY,
            now: 2 * ecrgc_model::time::DAY,
            pricing,
            report: &ReportConfig::default(),
        })
        .await
        .expect("computes")
    }

    fn group<'a>(groups: &'a [Group], key: &str) -> &'a Group {
        groups
            .iter()
            .find(|g| g.key == key)
            .unwrap_or_else(|| panic!("no group {key} in {groups:?}"))
    }

    #[tokio::test]
    async fn an_index_counts_its_children_once_and_nothing_of_its_own() {
        let ctx = session(false, None).await;
        let r = report(&ctx, &PricingConfig::default()).await.report;
        // idx (0) + amd (2) + arm (1) + old (4): not the index's reported 2 GiB on top.
        assert_eq!(r.delete.images, 4);
        assert_eq!(r.delete.bytes, 7 << 30);
        assert_eq!(r.delete.monthly_usd, 0.7);
        assert_eq!(r.savings.delete_yearly_usd, 8.4);
        // Children deleted with their index go under `with_parent`, the index under its rule.
        assert_eq!(group(&r.by_rule, "never_used").bytes, 0);
        assert_eq!(group(&r.by_rule, "with_parent").bytes, 3 << 30);
        assert_eq!(group(&r.by_rule, "stale").bytes, 4 << 30);
        assert_eq!(group(&r.by_rule, "stale").not_opted_in_bytes, 3 << 30);
        // Stored: every image, the archived one at the archive price.
        assert_eq!(r.stored.bytes, (7 + 5 + 3 + 1 + 10) << 30);
        assert_eq!(r.stored_archived.bytes, 10 << 30);
        assert_eq!(r.stored.monthly_usd, 1.7);
        assert_eq!(
            r.savings.freed_bytes, None,
            "no layer table, no freed figure"
        );
    }

    #[tokio::test]
    async fn owners_regions_prices_and_archive_follow_the_config() {
        let ctx = session(false, None).await;
        let mut pricing = PricingConfig::default();
        pricing.regions.insert("eu-west-1".into(), 0.2);
        let r = report(&ctx, &pricing).await.report;
        assert_eq!(r.delete.monthly_usd, 1.4, "7 GiB at the eu-west-1 price");
        assert_eq!(group(&r.by_owner, "web").bytes, 7 << 30);
        assert_eq!(group(&r.by_owner, NO_OWNER).not_opted_in_bytes, 3 << 30);
        assert_eq!(group(&r.by_region, "us-east-1").not_opted_in_images, 1);
        assert_eq!(group(&r.by_account, A).stored_bytes, 26 << 30);
        assert_eq!(group(&r.protected_by_reason, "recent_pull").images, 1);
        assert_eq!(
            r.top_repositories.len(),
            1,
            "only repositories with a manifest share"
        );
        // Archive: 7 GiB at 0.01 = 0.07 a month, 90 days = 0.21; saves 1.4 - 0.07.
        assert_eq!(r.savings.archive_monthly_cost_usd, 0.07);
        assert_eq!(r.savings.archive_minimum_charge_usd, 0.21);
        assert_eq!(r.savings.archive_monthly_usd, 1.33);
    }

    #[tokio::test]
    async fn layers_shared_with_a_kept_image_are_not_freed() {
        let ctx = session(true, None).await;
        let r = report(&ctx, &PricingConfig::default()).await.report;
        // Freed: l-amd (1) + arch (0.5, counted once) + top (1); base stays with `new`.
        assert_eq!(r.savings.freed_bytes, Some((5 << 30) / 2));
        assert_eq!(
            group(&r.by_repository, &format!("{A}/eu-west-1/app")).freed_bytes,
            Some((5 << 30) / 2)
        );
        assert_eq!(r.layers.repositories, 1);
        assert_eq!(r.layers.repositories_with_layers, 1);
        assert_eq!(
            group(&r.by_rule, "stale").freed_bytes,
            None,
            "not a per-rule figure"
        );
    }

    #[tokio::test]
    async fn a_repository_with_an_image_missing_its_layers_has_no_freed_figure() {
        let ctx = session(true, None).await;
        // `new` shares the repository with the manifest but has no layer rows.
        let kept = ctx
            .sql("SELECT * FROM image_layers WHERE image_digest <> 'sha256:new'")
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let schema = kept[0].schema();
        ctx.deregister_table("image_layers").expect("deregisters");
        ctx.register_table(
            "image_layers",
            Arc::new(MemTable::try_new(schema, vec![kept]).expect("table")),
        )
        .expect("registers");
        let r = report(&ctx, &PricingConfig::default()).await.report;
        assert_eq!(r.savings.freed_bytes, None);
        assert_eq!(r.layers.repositories_with_layers, 0);
    }

    #[tokio::test]
    async fn the_trend_joins_earlier_plans_and_this_one() {
        let mut b = PlanTotalsBuilder::new("r1", ecrgc_model::time::DAY, 2);
        for (status, images, bytes) in [
            ("stored", 10, 100),
            ("delete", 3, 30),
            ("not_opted_in", 1, 5),
        ] {
            b.append(PlanTotalRow {
                planned_at: ecrgc_model::time::DAY,
                status,
                rule: None,
                account_id: A,
                region: "eu-west-1",
                repository_name: "app",
                owner: None,
                images,
                bytes,
            });
        }
        let ctx = session(false, Some(b.finish())).await;
        let computed = report(&ctx, &PricingConfig::default()).await;
        let t = &computed.report.trend;
        assert_eq!(t.len(), 2);
        assert_eq!(
            (
                t[0].run_id.as_str(),
                t[0].stored_bytes,
                t[0].unused_bytes,
                t[0].candidate_images
            ),
            ("r1", 100, 35, 3)
        );
        assert_eq!(t[1].run_id, "r2");
        assert_eq!(t[1].candidate_bytes, 7 << 30);
        assert_eq!(t[1].stored_images, 8);
        // The rows this plan stores: one per repository × status × rule.
        assert_eq!(computed.totals.num_rows(), 8);
        let csv = crate::output::render_report(&computed.report, crate::output::ReportFormat::Csv)
            .expect("renders");
        let csv = String::from_utf8(csv).expect("utf-8");
        assert!(
            csv.starts_with("dimension,key,images,bytes,monthly_usd,yearly_usd,freed_bytes"),
            "{csv}"
        );
        assert!(
            csv.contains("\ntotal,manifest,4,7516192768,0.7,8.4,,1,3221225472,27917287424\n"),
            "{csv}"
        );
    }
}
