//! Running the report's queries (`sql/report/`) and reading their rows.

use std::collections::BTreeMap;

use arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::execution::context::SessionContext;
use ecrgc_engine::{CURRENT_PLAN_TOTALS, SqlKind, register_batch, run_query};
use ecrgc_model::time::rfc3339;
use ecrgc_model::{PlanTotalRow, PlanTotalsBuilder};

use super::{ReportSpec, TrendPoint};
use crate::Result;
use crate::columns::{Columns, opt_str};

/// One row of `plan_totals`, owned.
#[derive(Debug, Clone)]
pub(super) struct Total {
    pub(super) status: String,
    pub(super) rule: Option<String>,
    pub(super) account_id: String,
    pub(super) region: String,
    pub(super) repository_name: String,
    pub(super) owner: Option<String>,
    pub(super) images: u64,
    pub(super) bytes: u64,
}

impl Total {
    /// `account/region/repository`, the key of the breakdown by repository.
    pub(super) fn repository(&self) -> String {
        format!(
            "{}/{}/{}",
            self.account_id, self.region, self.repository_name
        )
    }
}

/// The rows of `sql/report/plan_totals.sql`.
pub(super) async fn plan_totals(ctx: &SessionContext) -> Result<Vec<Total>> {
    let batches = run_query(ctx, SqlKind::Report, "plan_totals").await?;
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

/// The `plan_totals` batch of this plan.
pub(super) fn totals_batch(spec: &ReportSpec<'_>, totals: &[Total]) -> RecordBatch {
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

/// `account/region/repository` → upstream URL, for every repository a pull through cache
/// rule of its registry covers (`sql/report/pull_through_upstreams.sql`).
pub(super) async fn pull_through_upstreams(
    ctx: &SessionContext,
) -> Result<BTreeMap<String, String>> {
    if !ctx.table_exist("pull_through_cache_rules")? {
        return Ok(BTreeMap::new());
    }
    let batches = run_query(ctx, SqlKind::Report, "pull_through_upstreams").await?;
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

/// Bytes freed per repository by deleting the manifest's images, for repositories whose
/// every image manifest has layer rows (`sql/report/freed_bytes.sql`); empty when the
/// session has no layer table.
pub(super) async fn freed_bytes(ctx: &SessionContext) -> Result<BTreeMap<String, Option<u64>>> {
    if !ctx.table_exist("image_layers")? {
        return Ok(BTreeMap::new());
    }
    let batches = run_query(ctx, SqlKind::Report, "freed_bytes").await?;
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

/// The earlier plans of the trend window and this one (`sql/report/trend.sql`).
pub(super) async fn trend(ctx: &SessionContext, current: RecordBatch) -> Result<Vec<TrendPoint>> {
    register_batch(ctx, CURRENT_PLAN_TOTALS, current)?;
    let batches = run_query(ctx, SqlKind::Report, "trend").await?;
    let _ = ctx.deregister_table(CURRENT_PLAN_TOTALS)?;
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
