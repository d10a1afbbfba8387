//! The summary as text for a terminal (stdout).

use std::fmt::Write;

use ecrgc_model::vocabulary::status;

use crate::finops::{FinopsReport, Group};
use crate::summary::{Summary, Totals};

pub use ecrgc_model::format::{count, gib, usd};

/// Bytes in the largest binary unit that keeps the number at least 1 (B, KiB, MiB, GiB).
pub use ecrgc_model::format::human_bytes_up_to_gib as human_bytes;

fn line(out: &mut String, label: &str, t: Totals) {
    let _ = writeln!(
        out,
        "  {label:<40} {:>12} images {:>14}",
        count(t.images),
        gib(t.bytes)
    );
}

/// Renders the summary with the headline of the FinOps report; `files` are the report files
/// written, in order.
pub fn render(summary: &Summary, finops: &FinopsReport, files: &[String]) -> String {
    let mut out = String::new();
    let s = summary;
    let _ = writeln!(
        out,
        "ecrgc plan: run {} (snapshot {}, now {})",
        s.run_id, s.snapshot_time, s.now
    );
    let _ = writeln!(
        out,
        "Scanned {} images ({}) in {} repositories of {} registries.",
        count(s.scanned.totals.images),
        gib(s.scanned.totals.bytes),
        count(s.scanned.repositories),
        count(s.scanned.registries),
    );
    let delete = s.status(status::DELETE);
    let _ = writeln!(
        out,
        "\nManifest: {} images, {} to delete.",
        count(delete.images),
        gib(delete.bytes)
    );
    let _ = writeln!(
        out,
        "Deleting saves {} a month, {} a year (`ecrgc report` for the FinOps view).",
        usd(finops.savings.delete_monthly_usd),
        usd(finops.savings.delete_yearly_usd)
    );
    if !s.delete_by_rule.is_empty() {
        let _ = writeln!(out, "By rule:");
        for (rule, t) in &s.delete_by_rule {
            line(&mut out, rule, *t);
        }
    }
    if !s.delete_by_account.is_empty() {
        let _ = writeln!(out, "By account:");
        for (account, t) in &s.delete_by_account {
            line(&mut out, account, *t);
        }
    }
    let replicas = s.replicas_taken_along;
    if replicas.images > 0 {
        let _ = writeln!(
            out,
            "Delete replication takes along {} replicas, {} (in their own registries, each an item too).",
            count(replicas.images),
            gib(replicas.bytes)
        );
    }
    let not_opted = s.status(status::NOT_OPTED_IN);
    if not_opted.images > 0 {
        let _ = writeln!(
            out,
            "\nWould delete if opted in: {} images, {} (repositories without the opt-in tag).",
            count(not_opted.images),
            gib(not_opted.bytes)
        );
    }
    let protected = s.status(status::PROTECTED);
    let with_parent = s.status(status::KEPT_WITH_PARENT);
    let _ = writeln!(
        out,
        "\nKept although flagged or linked: {} images, {}.",
        count(protected.images + with_parent.images),
        gib(protected.bytes + with_parent.bytes)
    );
    for (reason, t) in &s.protected_by_reason {
        line(&mut out, reason, *t);
    }
    if with_parent.images > 0 {
        line(
            &mut out,
            "kept_with_parent (index or subject kept)",
            with_parent,
        );
    }
    if !s.blocked_sources.is_empty() {
        let _ = writeln!(
            out,
            "\nBlocked: usage data missing, so these images are not deletable in this run:"
        );
        for b in &s.blocked_sources {
            let _ = writeln!(
                out,
                "  {} {} in {}/{}: {}",
                b.source,
                b.status,
                b.account_id,
                b.region,
                b.error.as_deref().unwrap_or("no detail")
            );
        }
        for (failure, t) in &s.blocked_by_failure {
            line(&mut out, &format!("→ {failure}"), *t);
        }
    }
    if !s.out_of_scope.is_empty() {
        let _ = writeln!(
            out,
            "\nBlocked: outside the collected scope, so use of these repositories is unknown:"
        );
        for o in &s.out_of_scope {
            let _ = writeln!(
                out,
                "  {} may pull from {} {}",
                o.who,
                count(o.repositories),
                if o.repositories == 1 {
                    "repository"
                } else {
                    "repositories"
                }
            );
        }
    }
    if !s.vanished_accounts.is_empty() {
        let _ = writeln!(
            out,
            "\nAccounts collected earlier in the history window and missing now: {}",
            s.vanished_accounts.join(", ")
        );
    }
    if !s.collector_pulls.is_empty() {
        let _ = writeln!(
            out,
            "\nPull times that may be the collector's own BatchGetImage (read without a \
             pull-time update exclusion; `ecrgc explain` says which, \
             `collect --register-pull-time-exclusion` stops it):"
        );
        for c in &s.collector_pulls {
            let _ = writeln!(
                out,
                "  {}/{}: {} images",
                c.account_id,
                c.region,
                count(c.images)
            );
        }
    }
    if !s.inspector_coverage.is_empty() {
        let _ = writeln!(
            out,
            "\nInspector coverage (stale and never_used judge only images covered ACTIVE):"
        );
        for c in &s.inspector_coverage {
            let status = match c.inspector_status.as_deref() {
                Some("ok") | None => String::new(),
                Some(other) => format!(" (inspector {other})"),
            };
            let _ = write!(
                out,
                "  {}/{}: {} images: {} active, {} inactive",
                c.account_id,
                c.region,
                count(c.images),
                count(c.active),
                count(c.inactive),
            );
            if c.expired > 0 {
                let _ = write!(out, " ({} expired)", count(c.expired));
            }
            let _ = writeln!(
                out,
                ", {} without{status}; {}",
                count(c.no_coverage),
                c.settings()
            );
            if c.monitors_for_lifetime == Some(false) {
                let _ = writeln!(
                    out,
                    "    Inspector stops monitoring images here after the rescan duration; \
                     a push duration of LIFETIME lets the usage rules judge every image"
                );
            }
        }
    }
    if !s.malformed_references.is_empty() {
        let _ = writeln!(
            out,
            "\nUnparsable ECR image references (their registries are kept):"
        );
        for m in &s.malformed_references {
            let _ = writeln!(out, "  {}: {}", m.source, count(m.references));
            for e in &m.examples {
                let _ = writeln!(out, "    {e}");
            }
        }
    }
    if s.blocked_sources.is_empty() && !s.blocked_by_failure.is_empty() {
        let _ = writeln!(out, "\nImages kept by usage_coverage_gap, by cause:");
        for (failure, t) in &s.blocked_by_failure {
            line(&mut out, &format!("→ {failure}"), *t);
        }
    }
    if !files.is_empty() {
        let _ = writeln!(out, "\nWrote:");
        for f in files {
            let _ = writeln!(out, "  {f}");
        }
    }
    out
}

fn group_table(out: &mut String, title: &str, groups: &[Group], freed: bool) {
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}");
    let _ = writeln!(
        out,
        "  {:<44} {:>10} {:>12} {:>12} {:>13}{}",
        "",
        "images",
        "GiB",
        "USD/month",
        "USD/year",
        if freed { "   freed GiB" } else { "" }
    );
    for g in groups {
        let key = if g.key.chars().count() > 44 {
            let tail: String = g
                .key
                .chars()
                .rev()
                .take(43)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("…{tail}")
        } else {
            g.key.clone()
        };
        let freed_cell = match (freed, g.freed_bytes) {
            (false, _) => String::new(),
            (true, Some(f)) => format!(" {:>11}", gib(f).trim_end_matches(" GiB")),
            (true, None) => format!(" {:>11}", "n/a"),
        };
        let _ = writeln!(
            out,
            "  {key:<44} {:>10} {:>12} {:>12} {:>13}{freed_cell}",
            count(g.images),
            gib(g.bytes).trim_end_matches(" GiB"),
            usd(g.monthly_usd),
            usd(g.yearly_usd),
        );
    }
}

/// Renders the FinOps report for a terminal.
pub fn render_finops(r: &FinopsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ecrgc report: run {} (snapshot {}, planned for {})",
        r.run_id, r.snapshot_time, r.now
    );
    let _ = writeln!(
        out,
        "Stored: {} images, {}, {} a month.",
        count(r.stored.images),
        gib(r.stored.bytes),
        usd(r.stored.monthly_usd)
    );
    let _ = writeln!(
        out,
        "Manifest: {} images, {}: deleting saves {} a month, {} a year.",
        count(r.delete.images),
        gib(r.delete.bytes),
        usd(r.savings.delete_monthly_usd),
        usd(r.savings.delete_yearly_usd)
    );
    match (r.savings.freed_bytes, r.savings.freed_monthly_usd) {
        (Some(b), Some(m)) => {
            let _ = writeln!(
                out,
                "After layer sharing within each repository, deleting frees {} ({} a month).",
                gib(b),
                usd(m)
            );
        }
        _ if r.layers.repositories_with_layers > 0 => {
            let _ = writeln!(
                out,
                "Layers known for {} of {} repositories: bytes freed after sharing are shown \
                 per repository where known.",
                r.layers.repositories_with_layers, r.layers.repositories
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "Bytes freed after layer sharing: unknown (run `ecrgc collect --layers`); the \
                 figures above count every image in full."
            );
        }
    }
    let _ = writeln!(
        out,
        "Archiving instead: saves {} a month ({} a year), costs {} a month in archive, at \
         least {} ({}-day minimum).",
        usd(r.savings.archive_monthly_usd),
        usd(r.savings.archive_yearly_usd),
        usd(r.savings.archive_monthly_cost_usd),
        usd(r.savings.archive_minimum_charge_usd),
        r.pricing.archive_minimum_days
    );
    if r.not_opted_in.images > 0 {
        let _ = writeln!(
            out,
            "Not opted in: {} more images, {}, {} a month.",
            count(r.not_opted_in.images),
            gib(r.not_opted_in.bytes),
            usd(r.not_opted_in.monthly_usd)
        );
    }
    let freed = r.layers.repositories_with_layers > 0;
    group_table(&mut out, "By rule:", &r.by_rule, false);
    group_table(&mut out, "By account:", &r.by_account, freed);
    group_table(&mut out, "By region:", &r.by_region, freed);
    group_table(
        &mut out,
        &format!("By owner (repository tag {:?}):", r.owner_tag),
        &r.by_owner,
        freed,
    );
    group_table(&mut out, "Top repositories:", &r.top_repositories, freed);
    group_table(&mut out, "Kept by guards:", &r.protected_by_reason, false);
    if !r.trend.is_empty() {
        let _ = writeln!(out, "\nTrend (latest plan of each night):");
        let _ = writeln!(
            out,
            "  {:<22} {:>12} {:>14} {:>12} {:>14}",
            "snapshot", "stored GiB", "unused GiB", "candidates", "candidate GiB"
        );
        for t in &r.trend {
            let _ = writeln!(
                out,
                "  {:<22} {:>12} {:>14} {:>12} {:>14}",
                t.snapshot_time,
                gib(t.stored_bytes).trim_end_matches(" GiB"),
                gib(t.unused_bytes).trim_end_matches(" GiB"),
                count(t.candidate_images),
                gib(t.candidate_bytes).trim_end_matches(" GiB"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blocked_section_names_the_scope_and_unparsable_references() {
        use crate::summary::{MalformedReferences, OutOfScope};
        let summary = Summary {
            out_of_scope: vec![
                OutOfScope {
                    who: "444444444444".into(),
                    repositories: 1,
                },
                OutOfScope {
                    who: "any AWS account (public *)".into(),
                    repositories: 1_200,
                },
            ],
            vanished_accounts: vec!["555555555555".into()],
            malformed_references: vec![MalformedReferences {
                source: "ecs".into(),
                references: 2,
                examples: vec!["x.dkr.ecr.eu-west-1.amazonaws.com/app:v1 (td): why".into()],
            }],
            collector_pulls: vec![crate::summary::CollectorPulls {
                account_id: "111111111111".into(),
                region: "eu-west-1".into(),
                images: 3,
            }],
            ..Default::default()
        };
        let text = render(&summary, &FinopsReport::default(), &[]);
        for line in [
            "outside the collected scope",
            "  444444444444 may pull from 1 repository\n",
            "  any AWS account (public *) may pull from 1,200 repositories\n",
            "missing now: 555555555555\n",
            "  ecs: 2\n    x.dkr.ecr.eu-west-1.amazonaws.com/app:v1 (td): why\n",
            "may be the collector's own BatchGetImage",
            "  111111111111/eu-west-1: 3 images\n",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
        // Nothing of the kind: no such section.
        let quiet = render(&Summary::default(), &FinopsReport::default(), &[]);
        assert!(!quiet.contains("collected scope") && !quiet.contains("Unparsable"));
        assert!(!quiet.contains("collector's own"));
    }

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(gib(3 << 30), "3.0 GiB");
        assert_eq!(gib(1_500 << 30), "1,500.0 GiB");
        assert_eq!(human_bytes(3_000), "2.9 KiB");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usd(0.004), "$0.00");
        assert_eq!(usd(-2.5), "-$2.50");
    }
}
