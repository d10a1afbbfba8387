//! Writing a plan: stream the decisions once, and from that one pass produce the summary,
//! `decisions.csv`, `decisions.parquet` and `manifest.json`, each by a writer of its own
//! running beside the others (`crate::writers`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::execution::context::SessionContext;
use ecrgc_engine::{Params, Planner, SqlKind, run_query};
use ecrgc_manifest::{Evidence, Header, Item, ManifestWriter};
use ecrgc_model::time::rfc3339;
use ecrgc_model::vocabulary::{UNKNOWN_REASON, USAGE_COVERAGE_GAP, WITH_PARENT, status};
use futures::StreamExt;

use crate::columns::{Columns, opt_i64, opt_str, opt_time};
use crate::summary::{
    BlockedSource, MalformedReferences, OutOfScope, PlanParams, Scanned, Summary, Totals,
};
use crate::writers::Writer;
use crate::{ReportError, Result};

/// Everything a plan needs besides the decisions themselves.
pub struct PlanContext<'a> {
    /// A session with the run's tables registered and the planner installed.
    pub ctx: &'a SessionContext,
    /// The planner whose catalog was installed.
    pub planner: &'a Planner,
    /// The run planned.
    pub run_id: &'a str,
    /// The instant the run describes, RFC 3339.
    pub snapshot_time: &'a str,
    /// Thresholds used.
    pub params: &'a Params,
    /// Runs of the history window, oldest first.
    pub history_runs: Vec<String>,
    /// The manifest header's shared part (`items_sha256` is filled in here).
    pub header: ecrgc_review::PlanHeader,
    /// Output folder (created if missing).
    pub out_dir: &'a Path,
    /// The run's snapshot instant, in microseconds.
    pub snapshot_micros: ecrgc_model::time::Micros,
    /// Prices of the savings.
    pub pricing: &'a ecrgc_config::PricingConfig,
    /// Groupings of the FinOps report. The session must also hold `earlier_plan_totals`
    /// (see [`crate::finops::ReportSpec`]).
    pub report: &'a ecrgc_config::ReportConfig,
}

/// Files of a plan, in the order they are listed.
pub const PLAN_FILES: &[&str] = &[
    "summary.json",
    "report.json",
    "report.html",
    "report.csv",
    "report.parquet",
    "decisions.csv",
    "decisions.parquet",
    "manifest.json",
];

/// What a written plan hands back.
pub struct PlanOutput {
    /// The figures.
    pub summary: Summary,
    /// The paths written.
    pub files: Vec<String>,
    /// What the store must record for the executor to admit the manifest.
    pub planned: ecrgc_review::PlanRecord<Header>,
    /// The FinOps report and the `plan_totals` rows to store.
    pub finops: crate::finops::Computed,
}

/// Runs the decision step and writes every report file. On error nothing is left in
/// `out_dir` but what was there before.
pub async fn write_plan(p: PlanContext<'_>) -> Result<PlanOutput> {
    std::fs::create_dir_all(p.out_dir).map_err(|source| ReportError::Io {
        path: p.out_dir.display().to_string(),
        source,
    })?;
    let mut staged = Staged::new(p.out_dir);
    let result = write_staged(&p, &mut staged).await;
    match result {
        Ok((summary, planned, finops)) => {
            let files = staged.commit()?;
            Ok(PlanOutput {
                summary,
                files,
                planned,
                finops,
            })
        }
        Err(e) => {
            staged.discard();
            Err(e)
        }
    }
}

async fn write_staged(
    p: &PlanContext<'_>,
    staged: &mut Staged,
) -> Result<(
    Summary,
    ecrgc_review::PlanRecord<Header>,
    crate::finops::Computed,
)> {
    let catalog = p.planner.catalog();
    let mut summary = Summary {
        run_id: p.run_id.to_owned(),
        snapshot_time: p.snapshot_time.to_owned(),
        now: rfc3339(p.params.now),
        store: p.header.store.clone(),
        params: plan_params(p.params),
        history_runs: p.history_runs.clone(),
        rules: catalog
            .enabled(SqlKind::Rule)
            .map(|u| u.id.clone())
            .collect(),
        guards: catalog
            .enabled(SqlKind::Guard)
            .map(|u| u.id.clone())
            .collect(),
        scanned: scanned(p.ctx).await?,
        blocked_sources: blocked_sources(p.ctx).await?,
        out_of_scope: out_of_scope(p.ctx).await?,
        vanished_accounts: vanished_accounts(p.ctx).await?,
        collector_pulls: collector_pulls(p.ctx).await?,
        inspector_coverage: inspector_coverage(p.ctx).await?,
        malformed_references: malformed_references(p.ctx).await?,
        ..Default::default()
    };

    let decisions = p.planner.decisions(p.ctx).await?;
    let schema = std::sync::Arc::new(decisions.schema().as_arrow().clone());
    let csv_path = staged.path("decisions.csv");
    let parquet_path = staged.path("decisions.parquet");
    let manifest_path = staged.path("manifest.json");
    let csv = {
        let mut csv = crate::csv::Writer::new(BufWriter::new(create(&csv_path)?));
        Writer::spawn("decisions.csv", move |batches| {
            for batch in batches {
                csv.write(&batch)?;
            }
            csv.into_inner()
                .flush()
                .map_err(|source| io_err(&csv_path, source))
        })?
    };
    let parquet = {
        let mut parquet = parquet::arrow::ArrowWriter::try_new(
            create(&parquet_path)?,
            schema,
            Some(
                parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                    .build(),
            ),
        )?;
        Writer::spawn("decisions.parquet", move |batches| {
            for batch in batches {
                parquet.write(&batch)?;
            }
            parquet.close()?;
            Ok(())
        })?
    };
    let items = {
        let mut manifest = ManifestWriter::new(BufWriter::new(create(&manifest_path)?))
            .map_err(|source| io_err(&manifest_path, source))?;
        let path = manifest_path.clone();
        Writer::spawn("manifest.json", move |batches| {
            for batch in batches {
                accumulate(&batch, &mut summary, &mut |item| {
                    manifest.push(&item).map_err(|source| io_err(&path, source))
                })?;
            }
            Ok((summary, manifest))
        })?
    };
    let mut stream = decisions.execute_stream().await?;
    let mut failed = None;
    while let Some(batch) = stream.next().await {
        match batch {
            // A writer that stopped has its error; it comes from `finish` below.
            Ok(batch) => {
                if !(csv.send(&batch) & parquet.send(&batch) & items.send(&batch)) {
                    break;
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(stream);
    let (csv, parquet, items) = (csv.finish(), parquet.finish(), items.finish());
    if let Some(e) = failed {
        return Err(e.into());
    }
    csv?;
    parquet?;
    let (summary, manifest) = items?;
    p.planner.release(p.ctx)?;
    let mut finops = finops_report(p, &parquet_path).await?;
    finops.report.inspector_coverage = summary.inspector_coverage.clone();
    crate::output::write_report_files(&finops.report, |name| staged.path(name))?;

    let totals = summary.status(status::DELETE);
    let header = Header {
        plan: p.header.clone(),
        totals: ecrgc_manifest::Totals {
            images: totals.images,
            bytes: totals.bytes,
        },
    };
    let (_, planned) = manifest
        .finish(header)
        .map_err(|source| io_err(&manifest_path, source))?;
    write_json(&staged.path("summary.json"), &summary)?;
    Ok((summary, planned, finops))
}

/// Computes the FinOps report over the decisions just written to `decisions_path`.
async fn finops_report(
    p: &PlanContext<'_>,
    decisions_path: &Path,
) -> Result<crate::finops::Computed> {
    let name = ecrgc_engine::plan::DECISIONS;
    let _ = p.ctx.deregister_table(name)?;
    let options = datafusion::prelude::ParquetReadOptions {
        file_extension: ".partial",
        ..Default::default()
    };
    p.ctx
        .register_parquet(name, decisions_path.display().to_string(), options)
        .await?;
    let computed = crate::finops::compute(&crate::finops::ReportSpec {
        ctx: p.ctx,
        run_id: p.run_id,
        snapshot_time: p.snapshot_micros,
        now: p.params.now,
        pricing: p.pricing,
        report: p.report,
    })
    .await;
    let _ = p.ctx.deregister_table(name)?;
    computed
}

fn plan_params(p: &Params) -> PlanParams {
    PlanParams {
        now: rfc3339(p.now),
        unused_cutoff: rfc3339(p.unused_cutoff()),
        rollback_cutoff: rfc3339(p.rollback_cutoff()),
        young_cutoff: rfc3339(p.young_cutoff()),
        pull_cutoff: rfc3339(p.pull_cutoff()),
        unused_days: p.unused_days,
        keep_newest: p.keep_newest,
        exclude_tag_key: p.exclude_tag.0.clone(),
        exclude_tag_value: p.exclude_tag.1.clone(),
        opt_in_tag_key: p.opt_in_tag.as_ref().map(|t| t.0.clone()),
        opt_in_tag_value: p.opt_in_tag.as_ref().and_then(|t| t.1.clone()),
    }
}

/// Adds a batch of decision rows to the summary and hands each manifest item, its id
/// computed, to `emit`.
fn accumulate(
    batch: &RecordBatch,
    s: &mut Summary,
    emit: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    let c = Columns::new(batch);
    let account = c.text("account_id")?;
    let region = c.text("region")?;
    let repo = c.text("repository_name")?;
    let digest = c.text("image_digest")?;
    let status = c.text("status")?;
    let rule = c.text("rule")?;
    let rules = c.text("rules")?;
    let rule_detail = c.text("rule_detail")?;
    let reason = c.text("reason")?;
    let guard_detail = c.text("guard_detail")?;
    let parents = c.text("parent_digests")?;
    let tags = c.text("image_tags")?;
    let size: Int64Array = c.int("image_size_bytes")?;
    let media = c.text("image_manifest_media_type")?;
    let pushed = c.time("image_pushed_at")?;
    let pulled = c.time("last_recorded_pull_time")?;
    let last_use = c.time("last_in_use_at")?;
    let in_use = c.int("in_use_count")?;
    let coverage = c.text("coverage_state")?;
    let refs = c.int("references_found")?;
    let replicas = c.text("replicas")?;
    let replica_bytes = c.int("replica_bytes")?;
    let replica_destinations = c.text("replica_destinations")?;
    for i in 0..batch.num_rows() {
        // An index counts nothing of its own: its children are images of their own, and
        // ECR's figure for it (its largest child) would count that child twice.
        let bytes = if ecrgc_model::is_index_media_type(media.value(i)) {
            0
        } else {
            size.value(i).max(0) as u64
        };
        let st = status.value(i);
        s.by_status.entry(st.to_owned()).or_default().add(bytes);
        match st {
            status::DELETE => {
                let rule = opt_str(&rule, i).unwrap_or(WITH_PARENT);
                s.delete_by_rule
                    .entry(rule.to_owned())
                    .or_default()
                    .add(bytes);
                s.delete_by_account
                    .entry(account.value(i).to_owned())
                    .or_default()
                    .add(bytes);
                s.delete_by_repository
                    .entry(format!(
                        "{}/{}/{}",
                        account.value(i),
                        region.value(i),
                        repo.value(i)
                    ))
                    .or_default()
                    .add(bytes);
                let split = |a: &arrow::array::StringArray| -> Vec<String> {
                    opt_str(a, i)
                        .map(|v| {
                            v.split(',')
                                .filter(|x| !x.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let mut item = Item {
                    item_id: String::new(),
                    account_id: account.value(i).to_owned(),
                    region: region.value(i).to_owned(),
                    repository_name: repo.value(i).to_owned(),
                    image_digest: digest.value(i).to_owned(),
                    image_tags: split(&tags),
                    image_size_bytes: size.value(i),
                    image_manifest_media_type: media.value(i).to_owned(),
                    rule: rule.to_owned(),
                    parent_digests: split(&parents),
                    replicas: split(&replicas),
                    replica_bytes: opt_i64(&replica_bytes, i).unwrap_or(0),
                    replica_destinations: split(&replica_destinations),
                    evidence: Evidence {
                        rules: split(&rules),
                        detail: opt_str(&rule_detail, i).map(str::to_owned),
                        pushed_at: opt_time(&pushed, i).map(rfc3339),
                        last_recorded_pull_time: opt_time(&pulled, i).map(rfc3339),
                        last_in_use_at: opt_time(&last_use, i).map(rfc3339),
                        in_use_count: opt_i64(&in_use, i),
                        coverage_state: coverage.value(i).to_owned(),
                        references_found: opt_i64(&refs, i).unwrap_or(0),
                    },
                };
                if !item.replicas.is_empty() {
                    s.replicas_taken_along.images += item.replicas.len() as u64;
                    s.replicas_taken_along.bytes += item.replica_bytes.max(0) as u64;
                }
                item.item_id = item.compute_id();
                emit(item)?;
            }
            status::PROTECTED => {
                let why = opt_str(&reason, i).unwrap_or(UNKNOWN_REASON);
                s.protected_by_reason
                    .entry(why.to_owned())
                    .or_default()
                    .add(bytes);
                if why == USAGE_COVERAGE_GAP {
                    let failure = opt_str(&guard_detail, i)
                        .and_then(|d| {
                            d.split("; ")
                                .find_map(|part| part.strip_prefix("usage_coverage_gap: "))
                        })
                        .unwrap_or("usage data missing");
                    s.blocked_by_failure
                        .entry(failure.to_owned())
                        .or_default()
                        .add(bytes);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

async fn scanned(ctx: &SessionContext) -> Result<Scanned> {
    let batches = report_rows(ctx, "scanned").await?;
    let batch = batches
        .first()
        .ok_or_else(|| ReportError::MissingColumn("images".into()))?;
    let c = Columns::new(batch);
    let v = |name: &str| -> Result<u64> {
        let a = c.int(name)?;
        Ok(if a.is_empty() || a.is_null(0) {
            0
        } else {
            a.value(0).max(0) as u64
        })
    };
    Ok(Scanned {
        totals: Totals {
            images: v("images")?,
            bytes: v("bytes")?,
        },
        repositories: v("repositories")?,
        registries: v("registries")?,
    })
}

async fn blocked_sources(ctx: &SessionContext) -> Result<Vec<BlockedSource>> {
    let batches = report_rows(ctx, "blocked_sources").await?;
    let mut out = Vec::new();
    for batch in &batches {
        let c = Columns::new(batch);
        let (a, r, s, st, e) = (
            c.text("account_id")?,
            c.text("region")?,
            c.text("source")?,
            c.text("status")?,
            c.text("error")?,
        );
        for i in 0..batch.num_rows() {
            out.push(BlockedSource {
                account_id: a.value(i).to_owned(),
                region: r.value(i).to_owned(),
                source: s.value(i).to_owned(),
                status: st.value(i).to_owned(),
                error: opt_str(&e, i).map(str::to_owned),
            });
        }
    }
    Ok(out)
}

/// The rows of one query of `sql/report/`.
async fn report_rows(ctx: &SessionContext, id: &str) -> Result<Vec<RecordBatch>> {
    Ok(run_query(ctx, SqlKind::Report, id).await?)
}

/// Who may pull without being collected, and from how many repositories of the run.
async fn out_of_scope(ctx: &SessionContext) -> Result<Vec<OutOfScope>> {
    let batches = report_rows(ctx, "out_of_scope").await?;
    let mut out = Vec::new();
    for batch in &batches {
        let c = Columns::new(batch);
        let (who, n) = (c.text("who")?, c.int("repositories")?);
        for i in 0..batch.num_rows() {
            out.push(OutOfScope {
                who: who.value(i).to_owned(),
                repositories: n.value(i).max(0) as u64,
            });
        }
    }
    Ok(out)
}

/// Images whose pull time may be the collector's own read, per registry and region.
async fn collector_pulls(ctx: &SessionContext) -> Result<Vec<crate::summary::CollectorPulls>> {
    let batches = report_rows(ctx, "collector_pulls").await?;
    let mut out = Vec::new();
    for batch in &batches {
        let c = Columns::new(batch);
        let (a, r, n) = (c.text("account_id")?, c.text("region")?, c.int("images")?);
        for i in 0..batch.num_rows() {
            out.push(crate::summary::CollectorPulls {
                account_id: a.value(i).to_owned(),
                region: r.value(i).to_owned(),
                images: n.value(i).max(0) as u64,
            });
        }
    }
    Ok(out)
}

/// The view `inspector_coverage_summary`, one entry per registry account and region.
async fn inspector_coverage(
    ctx: &SessionContext,
) -> Result<Vec<crate::summary::InspectorCoverage>> {
    let batches = report_rows(ctx, "inspector_coverage").await?;
    let mut out = Vec::new();
    for batch in &batches {
        let c = Columns::new(batch);
        let (account, region) = (c.text("account_id")?, c.text("region")?);
        let counts = [
            c.int("images")?,
            c.int("active")?,
            c.int("inactive")?,
            c.int("expired")?,
            c.int("no_coverage")?,
        ];
        let status = c.text("inspector_status")?;
        let push = c.text("rescan_duration")?;
        let pull = c.text("pull_date_rescan_duration")?;
        let mode = c.text("pull_date_rescan_mode")?;
        let lifetime = c.int("monitors_for_lifetime")?;
        for i in 0..batch.num_rows() {
            let n = |k: usize| counts[k].value(i).max(0) as u64;
            let owned = |a: &arrow::array::StringArray| opt_str(a, i).map(str::to_owned);
            out.push(crate::summary::InspectorCoverage {
                account_id: account.value(i).to_owned(),
                region: region.value(i).to_owned(),
                images: n(0),
                active: n(1),
                inactive: n(2),
                expired: n(3),
                no_coverage: n(4),
                inspector_status: owned(&status),
                rescan_duration: owned(&push),
                pull_date_rescan_duration: owned(&pull),
                pull_date_rescan_mode: owned(&mode),
                monitors_for_lifetime: opt_i64(&lifetime, i).map(|v| v != 0),
            });
        }
    }
    Ok(out)
}

/// Accounts a run of the history window collected that this run did not.
async fn vanished_accounts(ctx: &SessionContext) -> Result<Vec<String>> {
    let batches = report_rows(ctx, "vanished_accounts").await?;
    let mut out = Vec::new();
    for batch in &batches {
        let a = Columns::new(batch).text("account_id")?;
        out.extend((0..batch.num_rows()).map(|i| a.value(i).to_owned()));
    }
    Ok(out)
}

/// Unparsable ECR references per source, with the first three examples.
async fn malformed_references(ctx: &SessionContext) -> Result<Vec<MalformedReferences>> {
    let batches = report_rows(ctx, "malformed_references").await?;
    let mut out: Vec<MalformedReferences> = Vec::new();
    for batch in &batches {
        let c = Columns::new(batch);
        let (source, example) = (c.text("source")?, c.text("example")?);
        for i in 0..batch.num_rows() {
            if out.last().is_none_or(|m| m.source != source.value(i)) {
                out.push(MalformedReferences {
                    source: source.value(i).to_owned(),
                    ..Default::default()
                });
            }
            let m = out.last_mut().expect("pushed above");
            m.references += 1;
            if m.examples.len() < 3 {
                m.examples.push(example.value(i).to_owned());
            }
        }
    }
    Ok(out)
}

/// Report files written under temporary names, renamed into place together.
struct Staged {
    dir: PathBuf,
    names: Vec<&'static str>,
}

impl Staged {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            names: Vec::new(),
        }
    }

    fn path(&mut self, name: &'static str) -> PathBuf {
        self.names.push(name);
        self.dir.join(format!(".{name}.partial"))
    }

    fn commit(self) -> Result<Vec<String>> {
        let mut written = Vec::new();
        for name in PLAN_FILES.iter().filter(|n| self.names.contains(n)) {
            let from = self.dir.join(format!(".{name}.partial"));
            let to = self.dir.join(name);
            std::fs::rename(&from, &to).map_err(|source| io_err(&to, source))?;
            written.push(to.display().to_string());
        }
        Ok(written)
    }

    fn discard(self) {
        for name in self.names {
            let _ = std::fs::remove_file(self.dir.join(format!(".{name}.partial")));
        }
    }
}

fn create(path: &Path) -> Result<File> {
    File::create(path).map_err(|source| io_err(path, source))
}

fn io_err(path: &Path, source: std::io::Error) -> ReportError {
    ReportError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let mut w = BufWriter::new(create(path)?);
    serde_json::to_writer_pretty(&mut w, value)?;
    w.write_all(b"\n").map_err(|source| io_err(path, source))?;
    w.flush().map_err(|source| io_err(path, source))?;
    Ok(())
}
