//! `ecrgc explain`: why one image is kept or flagged.
//!
//! Runs every rule and guard view for the image, the decision step, and gathers the
//! evidence (push, pulls, Inspector, every workload reference with whether it is live, the
//! index and referrer relations), then renders it for a person.

use std::fmt::Write;

use arrow::array::{Array, RecordBatch};
use datafusion::execution::context::SessionContext;
use ecrgc_engine::{Planner, SqlKind};
use ecrgc_model::image_ref::{ecr_host, parse_image_ref};
use ecrgc_model::time::rfc3339;

use crate::columns::{Columns, opt_i64, opt_str, opt_time};
use crate::text::human_bytes;
use crate::{ReportError, Result};

/// One image key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageKey {
    /// Registry account.
    pub account_id: String,
    /// Registry region.
    pub region: String,
    /// Repository.
    pub repository_name: String,
    /// Digest.
    pub image_digest: String,
}

impl ImageKey {
    fn predicate(&self) -> String {
        format!(
            "account_id = {} AND region = {} AND repository_name = {} AND image_digest = {}",
            quote(&self.account_id),
            quote(&self.region),
            quote(&self.repository_name),
            quote(&self.image_digest)
        )
    }

    /// The image as a pullable URI.
    pub fn uri(&self) -> String {
        format!(
            "{}/{}@{}",
            ecr_host(&self.account_id, &self.region),
            self.repository_name,
            self.image_digest
        )
    }
}

/// SQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// Registers the decision step as the view `decisions`, which [`explain`] reads.
pub async fn install_decisions(ctx: &SessionContext, planner: &Planner) -> Result<()> {
    let df = planner.decisions(ctx).await?;
    ctx.register_table("decisions", df.into_view())?;
    Ok(())
}

/// Finds the images an argument names: an image URI (`…/repo:tag`, `…/repo@sha256:…`) or
/// a bare digest (possibly in several repositories).
pub async fn resolve(ctx: &SessionContext, image: &str) -> Result<Vec<ImageKey>> {
    let sql = if image.starts_with("sha256:") {
        format!(
            "SELECT account_id, region, repository_name, image_digest FROM images \
             WHERE image_digest = {} ORDER BY 1, 2, 3",
            quote(image)
        )
    } else {
        // The parser the collectors use: every ECR endpoint form names its registry; a
        // string that is not a valid ECR reference names no image.
        let r = parse_image_ref(image);
        if !r.is_ecr {
            return Ok(Vec::new());
        }
        let (Some(account), Some(region)) = (r.account_id.as_deref(), r.region.as_deref()) else {
            return Ok(Vec::new());
        };
        let scope = format!(
            "account_id = {} AND region = {} AND repository_name = {}",
            quote(account),
            quote(region),
            quote(&r.repository)
        );
        match (&r.digest, &r.tag) {
            (Some(d), _) => format!(
                "SELECT account_id, region, repository_name, image_digest FROM images \
                 WHERE {scope} AND image_digest = {}",
                quote(d)
            ),
            (None, Some(t)) => format!(
                "SELECT account_id, region, repository_name, image_digest FROM image_tags \
                 WHERE {scope} AND image_tag = {}",
                quote(t)
            ),
            (None, None) => return Ok(Vec::new()),
        }
    };
    let mut keys = Vec::new();
    for batch in rows(ctx, &sql).await? {
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

/// Images whose `last_recorded_pull_time` may be the collector's own BatchGetImage: read
/// (tonight or in an earlier run, `manifest_reads`) while the collector's role had no
/// pull-time update exclusion in that registry and region, and pulled no earlier than that
/// read. Columns: account_id, region, repository_name, image_digest, read_at,
/// pull_time_exclusion.
pub const COLLECTOR_READ_SQL: &str = "SELECT i.account_id, i.region, i.repository_name, \
     i.image_digest, m.read_at, m.pull_time_exclusion FROM images i JOIN manifest_reads m \
     ON m.account_id = i.account_id AND m.region = i.region \
     AND m.repository_name = i.repository_name AND m.image_digest = i.image_digest \
     WHERE m.pull_time_exclusion <> 'ok' AND i.last_recorded_pull_time >= m.read_at";

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
    if read.exclusion == "ok" || last_pull? < read.read_at {
        return None;
    }
    let why = if read.exclusion == "not_excluded" {
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
    let pred = key.predicate();
    let _ = writeln!(out, "image {}", key.uri());

    let image = rows(
        ctx,
        &format!(
            "SELECT image_pushed_at, image_size_bytes, image_manifest_media_type, image_status, \
             last_recorded_pull_time, artifact_media_type FROM images WHERE {pred}"
        ),
    )
    .await?;
    if let Some(b) = image.iter().find(|b| b.num_rows() > 0) {
        let c = Columns::new(b);
        let pushed = opt_time(&c.time("image_pushed_at")?, 0).map(rfc3339);
        let pulled = opt_time(&c.time("last_recorded_pull_time")?, 0).map(rfc3339);
        let size = c.int("image_size_bytes")?.value(0).max(0) as u64;
        let _ = writeln!(
            out,
            "  pushed {}, {}, {}, {}{}",
            pushed.as_deref().unwrap_or("?"),
            human_bytes(size),
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
        let reads = rows(
            ctx,
            &format!(
                "SELECT read_at, read_run_id, pull_time_exclusion FROM manifest_reads \
                 WHERE {pred}"
            ),
        )
        .await?;
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
    let tags = rows(
        ctx,
        &format!("SELECT image_tag FROM image_tags WHERE {pred} ORDER BY image_tag"),
    )
    .await?;
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
    let coverage = rows(
        ctx,
        &format!(
            "SELECT last_in_use_at, in_use_count, image_pulled_at FROM inspector_coverage WHERE {pred}"
        ),
    )
    .await?;
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

    let decision = rows(
        ctx,
        &format!("SELECT status, rule, reason FROM decisions WHERE {pred}"),
    )
    .await?;
    match decision.iter().find(|b| b.num_rows() > 0) {
        Some(b) => {
            let c = Columns::new(b);
            let status = c.text("status")?.value(0).to_owned();
            let rule = opt_str(&c.text("rule")?, 0).map(str::to_owned);
            let reason = opt_str(&c.text("reason")?, 0).map(str::to_owned);
            let verdict = match status.as_str() {
                "delete" => format!(
                    "DELETE — in the manifest (rule {})",
                    rule.unwrap_or_default()
                ),
                "not_opted_in" => format!(
                    "would delete (rule {}) but its repository is not opted in",
                    rule.unwrap_or_default()
                ),
                "protected" => format!("KEEP — protected by {}", reason.unwrap_or_default()),
                "kept_with_parent" => "KEEP — a parent (index or subject) is kept".to_owned(),
                other => other.to_owned(),
            };
            let _ = writeln!(out, "\ndecision: {verdict}");
        }
        None => {
            let _ = writeln!(out, "\ndecision: KEEP — no rule flags it");
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
            let hits = rows(
                ctx,
                &format!("SELECT detail FROM {prefix}_{} WHERE {pred}", unit.id),
            )
            .await?;
            let matched = hits.iter().any(|b| b.num_rows() > 0);
            let detail = strings(&hits, "detail")?.into_iter().next();
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

    let refs = rows(
        ctx,
        &format!(
            "SELECT kind, resource_arn, status, status_at, is_live, matched_by, workload_account_id, \
             workload_region, image_uri FROM image_refs WHERE {pred} ORDER BY is_live DESC, kind, resource_arn"
        ),
    )
    .await?;
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

    let relations = rows(
        ctx,
        &format!(
            "SELECT 'child of' AS direction, parent_digest AS other, relation FROM image_relations \
             WHERE account_id = {a} AND region = {r} AND repository_name = {n} AND child_digest = {d} \
             UNION ALL \
             SELECT 'parent of' AS direction, child_digest AS other, relation FROM image_relations \
             WHERE account_id = {a} AND region = {r} AND repository_name = {n} AND parent_digest = {d} \
             ORDER BY 1, 2",
            a = quote(&key.account_id),
            r = quote(&key.region),
            n = quote(&key.repository_name),
            d = quote(&key.image_digest)
        ),
    )
    .await?;
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
