//! `ecrgc explain`: why one image is kept or flagged.
//!
//! Runs the queries of `sql/explain/` over a one-row `target` table holding the image: every
//! rule and guard that matches it, the decision step, and the evidence (push, pulls,
//! Inspector, every workload reference with whether it is live, the index and referrer
//! relations), then renders it for a person.

use std::fmt::Write;

use arrow::array::{Array, RecordBatch};
use datafusion::execution::context::SessionContext;
use ecrgc_engine::{Planner, SqlKind, register_target, run_query};
use ecrgc_model::format::human_bytes_up_to_gib;
use ecrgc_model::image_ref::parse_image_ref;
use ecrgc_model::params::TargetRow;
use ecrgc_model::time::rfc3339;
use ecrgc_model::vocabulary::{PULL_TIME_EXCLUDED, PULL_TIME_NOT_EXCLUDED, status};

use crate::columns::{Columns, opt_i64, opt_str, opt_time};
use crate::{ReportError, Result};

pub use ecrgc_model::keys::ImageKey;

/// The image as the one row of `target`, which the queries of `sql/explain/` read.
fn target(key: &ImageKey) -> TargetRow<'_> {
    TargetRow {
        account_id: Some(&key.account_id),
        region: Some(&key.region),
        repository_name: Some(&key.repository_name),
        image_digest: Some(&key.image_digest),
        image_tag: None,
    }
}

/// The rows of one query of `sql/explain/`.
async fn rows(ctx: &SessionContext, id: &str) -> Result<Vec<RecordBatch>> {
    Ok(run_query(ctx, SqlKind::Explain, id).await?)
}

/// Registers the decision step as the view `decisions`, and every rule's and guard's rows
/// as the view `findings`, which [`explain`] reads.
pub async fn install_decisions(ctx: &SessionContext, planner: &Planner) -> Result<()> {
    let df = planner.decisions(ctx).await?;
    ctx.register_table(ecrgc_engine::plan::DECISIONS, df.into_view())?;
    planner.register_findings(ctx).await?;
    Ok(())
}

/// Finds the images an argument names: an image URI (`…/repo:tag`, `…/repo@sha256:…`) or
/// a bare digest (possibly in several repositories).
pub async fn resolve(ctx: &SessionContext, image: &str) -> Result<Vec<ImageKey>> {
    let parsed;
    let target = if image.starts_with("sha256:") {
        TargetRow {
            image_digest: Some(image),
            ..Default::default()
        }
    } else {
        // The parser the collectors use: every ECR endpoint form names its registry; a
        // string that is not a valid ECR reference names no image.
        parsed = parse_image_ref(image);
        if !parsed.is_ecr {
            return Ok(Vec::new());
        }
        let (Some(account), Some(region)) =
            (parsed.account_id.as_deref(), parsed.region.as_deref())
        else {
            return Ok(Vec::new());
        };
        if parsed.digest.is_none() && parsed.tag.is_none() {
            return Ok(Vec::new());
        }
        TargetRow {
            account_id: Some(account),
            region: Some(region),
            repository_name: Some(&parsed.repository),
            image_digest: parsed.digest.as_deref(),
            image_tag: parsed.tag.as_deref().filter(|_| parsed.digest.is_none()),
        }
    };
    register_target(ctx, &target)?;
    let mut keys = Vec::new();
    for batch in rows(ctx, "resolve").await? {
        let c = Columns::new(&batch);
        let (a, r, n, d) = (
            c.text("account_id")?,
            c.text("region")?,
            c.text("repository_name")?,
            c.text("image_digest")?,
        );
        for i in 0..batch.num_rows() {
            keys.push(ImageKey {
                account_id: a.value(i).into(),
                region: r.value(i).into(),
                repository_name: n.value(i).into(),
                image_digest: d.value(i).into(),
            });
        }
    }
    Ok(keys)
}

/// The collector's read of one image's manifest (a `manifest_reads` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorRead {
    /// Snapshot time of the run that read it.
    pub read_at: i64,
    /// That run.
    pub run_id: String,
    /// Its `pull_time_exclusion` status in the image's registry and region.
    pub exclusion: String,
}

/// The note `explain` prints under an image's pull time when that time may be the
/// collector's own BatchGetImage: the collector read the manifest without a pull-time
/// update exclusion (`not_excluded`, or a check that failed), and ECR recorded a pull no
/// earlier than that read. A pull recorded before the read is someone else's.
pub fn collector_read_note(last_pull: Option<i64>, read: &CollectorRead) -> Option<String> {
    if read.exclusion == PULL_TIME_EXCLUDED || last_pull? < read.read_at {
        return None;
    }
    let why = if read.exclusion == PULL_TIME_NOT_EXCLUDED {
        "the collector's role had no pull-time update exclusion there".to_owned()
    } else {
        format!(
            "whether the collector's role had a pull-time update exclusion there is unknown \
             ({})",
            read.exclusion
        )
    };
    Some(format!(
        "note: this pull time may be the collector's own read: run {} read the manifest \
         with BatchGetImage at {}, which ECR counts as a pull, and {why}",
        read.run_id,
        rfc3339(read.read_at)
    ))
}

/// Explains one image. The planner's catalog must be installed in `ctx` and its decision
/// step registered as the view `decisions` (see [`install_decisions`]).
pub async fn explain(ctx: &SessionContext, planner: &Planner, key: &ImageKey) -> Result<String> {
    let mut out = String::new();
    register_target(ctx, &target(key))?;
    let _ = writeln!(out, "image {}", key.uri());

    let image = rows(ctx, "image").await?;
    if let Some(b) = image.iter().find(|b| b.num_rows() > 0) {
        let c = Columns::new(b);
        let pushed = opt_time(&c.time("image_pushed_at")?, 0).map(rfc3339);
        let pulled = opt_time(&c.time("last_recorded_pull_time")?, 0).map(rfc3339);
        let size = c.int("image_size_bytes")?.value(0).max(0) as u64;
        let _ = writeln!(
            out,
            "  pushed {}, {}, {}, {}{}",
            pushed.as_deref().unwrap_or("?"),
            human_bytes_up_to_gib(size),
            c.text("image_status")?.value(0),
            c.text("image_manifest_media_type")?.value(0),
            opt_str(&c.text("artifact_media_type")?, 0)
                .map(|a| format!(" (artifact {a})"))
                .unwrap_or_default(),
        );
        let _ = writeln!(
            out,
            "  last pull recorded by ECR: {}",
            pulled.as_deref().unwrap_or("never")
        );
        let last_pull = opt_time(&c.time("last_recorded_pull_time")?, 0);
        let reads = rows(ctx, "manifest_read").await?;
        if let Some(r) = reads.iter().find(|b| b.num_rows() > 0) {
            let r = Columns::new(r);
            let read = CollectorRead {
                read_at: r.time("read_at")?.value(0),
                run_id: r.text("read_run_id")?.value(0).to_owned(),
                exclusion: r.text("pull_time_exclusion")?.value(0).to_owned(),
            };
            if let Some(note) = collector_read_note(last_pull, &read) {
                let _ = writeln!(out, "  {note}");
            }
        }
    }
    let tags = rows(ctx, "tags").await?;
    let tag_list = strings(&tags, "image_tag")?;
    let _ = writeln!(
        out,
        "  tags: {}",
        if tag_list.is_empty() {
            "(untagged)".to_owned()
        } else {
            tag_list.join(", ")
        }
    );
    let coverage = rows(ctx, "coverage").await?;
    match coverage.iter().find(|b| b.num_rows() > 0) {
        Some(b) => {
            let c = Columns::new(b);
            let _ = writeln!(
                out,
                "  Inspector: last in use {}, in use count {}, last pull {}",
                opt_time(&c.time("last_in_use_at")?, 0)
                    .map(rfc3339)
                    .as_deref()
                    .unwrap_or("never"),
                opt_i64(&c.int("in_use_count")?, 0).map_or("?".into(), |n| n.to_string()),
                opt_time(&c.time("image_pulled_at")?, 0)
                    .map(rfc3339)
                    .as_deref()
                    .unwrap_or("never"),
            );
        }
        None => {
            let _ = writeln!(out, "  Inspector: no coverage (use unknown)");
        }
    }

    let decision = rows(ctx, "decision").await?;
    match decision.iter().find(|b| b.num_rows() > 0) {
        Some(b) => {
            let c = Columns::new(b);
            let status = c.text("status")?.value(0).to_owned();
            let rule = opt_str(&c.text("rule")?, 0).map(str::to_owned);
            let reason = opt_str(&c.text("reason")?, 0).map(str::to_owned);
            let verdict = match status.as_str() {
                status::DELETE => format!(
                    "DELETE — in the manifest (rule {})",
                    rule.unwrap_or_default()
                ),
                status::NOT_OPTED_IN => format!(
                    "would delete (rule {}) but its repository is not opted in",
                    rule.unwrap_or_default()
                ),
                status::PROTECTED => format!("KEEP — protected by {}", reason.unwrap_or_default()),
                status::KEPT_WITH_PARENT => "KEEP — a parent (index or subject) is kept".to_owned(),
                other => other.to_owned(),
            };
            let _ = writeln!(out, "\ndecision: {verdict}");
        }
        None => {
            let _ = writeln!(out, "\ndecision: KEEP — no rule flags it");
        }
    }

    // Every rule and guard that matches, in the order the view lists them: the first
    // detail of a unit is the one printed.
    let mut matches: Vec<(String, String, Option<String>)> = Vec::new();
    for b in &rows(ctx, "findings").await? {
        let c = Columns::new(b);
        let (kind, id, detail) = (c.text("unit_kind")?, c.text("unit_id")?, c.text("detail")?);
        for i in 0..b.num_rows() {
            matches.push((
                kind.value(i).to_owned(),
                id.value(i).to_owned(),
                opt_str(&detail, i).map(str::to_owned),
            ));
        }
    }
    for (kind, title, prefix) in [
        (SqlKind::Rule, "rules", "rule"),
        (SqlKind::Guard, "guards", "guard"),
    ] {
        let legend = if kind == SqlKind::Rule {
            " ([o]: matches, but switched off)"
        } else {
            ""
        };
        let _ = writeln!(out, "{title}{legend}:");
        for unit in planner.catalog().of(kind) {
            let hits: Vec<_> = matches
                .iter()
                .filter(|(k, id, _)| k == prefix && *id == unit.id)
                .collect();
            let matched = !hits.is_empty();
            let detail = hits.iter().find_map(|(_, _, d)| d.clone());
            let _ = writeln!(
                out,
                "  [{}] {:<26}{}",
                match (matched, unit.enabled) {
                    (true, true) => "x",
                    (true, false) => "o",
                    (false, _) => " ",
                },
                unit.id,
                match (matched, detail) {
                    (true, Some(d)) => format!(" {d}"),
                    (true, None) => String::new(),
                    (false, _) => format!(" — {}", unit.summary),
                }
            );
        }
    }

    let refs = rows(ctx, "references").await?;
    let count: usize = refs.iter().map(RecordBatch::num_rows).sum();
    let _ = writeln!(out, "references ({count}):");
    for b in &refs {
        let c = Columns::new(b);
        let (kind, arn, status, at, matched, acct, region, uri) = (
            c.text("kind")?,
            c.text("resource_arn")?,
            c.text("status")?,
            c.time("status_at")?,
            c.text("matched_by")?,
            c.text("workload_account_id")?,
            c.text("workload_region")?,
            c.text("image_uri")?,
        );
        let live = b
            .column_by_name("is_live")
            .and_then(|a| {
                a.as_any()
                    .downcast_ref::<arrow::array::BooleanArray>()
                    .cloned()
            })
            .ok_or_else(|| ReportError::MissingColumn("is_live".into()))?;
        for i in 0..b.num_rows() {
            let _ = writeln!(
                out,
                "  {} {} {} {}{} in {}/{} by {} ({})",
                if live.value(i) { "LIVE " } else { "ended" },
                kind.value(i),
                arn.value(i),
                status.value(i),
                opt_time(&at, i)
                    .map(|t| format!(" since {}", rfc3339(t)))
                    .unwrap_or_default(),
                acct.value(i),
                region.value(i),
                matched.value(i),
                uri.value(i),
            );
        }
    }

    let relations = rows(ctx, "relations").await?;
    let count: usize = relations.iter().map(RecordBatch::num_rows).sum();
    if count > 0 {
        let _ = writeln!(out, "relations:");
        for b in &relations {
            let c = Columns::new(b);
            let (dir, other, rel) = (c.text("direction")?, c.text("other")?, c.text("relation")?);
            for i in 0..b.num_rows() {
                let _ = writeln!(
                    out,
                    "  {} {} ({})",
                    dir.value(i),
                    other.value(i),
                    rel.value(i)
                );
            }
        }
    }
    Ok(out)
}

fn strings(batches: &[RecordBatch], column: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        let a = Columns::new(b).text(column)?;
        for i in 0..a.len() {
            if let Some(v) = opt_str(&a, i) {
                out.push(v.to_owned());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod collector_read_tests {
    use super::*;

    fn read(exclusion: &str) -> CollectorRead {
        CollectorRead {
            read_at: 1_000_000_000,
            run_id: "r1".into(),
            exclusion: exclusion.into(),
        }
    }

    #[test]
    fn a_pull_at_or_after_an_unexcluded_read_may_be_the_collectors() {
        let note = collector_read_note(Some(1_000_000_000), &read("not_excluded")).expect("note");
        assert!(note.contains("may be the collector's own read"), "{note}");
        assert!(note.contains("run r1"), "{note}");
        assert!(note.contains("no pull-time update exclusion"), "{note}");
        let unknown = collector_read_note(Some(2_000_000_000), &read("denied")).expect("note");
        assert!(unknown.contains("unknown (denied)"), "{unknown}");
    }

    #[test]
    fn no_note_when_excluded_never_pulled_or_pulled_before_the_read() {
        assert_eq!(collector_read_note(Some(2_000_000_000), &read("ok")), None);
        assert_eq!(collector_read_note(None, &read("not_excluded")), None);
        assert_eq!(
            collector_read_note(Some(999_999_999), &read("not_excluded")),
            None
        );
    }
}
