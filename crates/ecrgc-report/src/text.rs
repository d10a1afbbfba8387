//! The summary as text for a terminal (stdout).

use std::fmt::Write;

use crate::summary::{Summary, Totals};

/// Bytes as GiB with one decimal.
pub fn gib(bytes: u64) -> String {
    let tenths = (bytes as f64 / (1u64 << 30) as f64 * 10.0).round() as u64;
    format!("{}.{} GiB", count(tenths / 10), tenths % 10)
}

/// Bytes in the largest binary unit that keeps the number at least 1 (B, KiB, MiB, GiB).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return format!("{:.1} {unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes} B")
}

/// An integer with thousands separators.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn line(out: &mut String, label: &str, t: Totals) {
    let _ = writeln!(
        out,
        "  {label:<40} {:>12} images {:>14}",
        count(t.images),
        gib(t.bytes)
    );
}

/// Renders the summary; `files` are the report files written, in order.
pub fn render(summary: &Summary, files: &[String]) -> String {
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
    let delete = s.status("delete");
    let _ = writeln!(
        out,
        "\nManifest: {} images, {} to delete.",
        count(delete.images),
        gib(delete.bytes)
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
    let not_opted = s.status("not_opted_in");
    if not_opted.images > 0 {
        let _ = writeln!(
            out,
            "\nWould delete if opted in: {} images, {} (repositories without the opt-in tag).",
            count(not_opted.images),
            gib(not_opted.bytes)
        );
    }
    let protected = s.status("protected");
    let with_parent = s.status("kept_with_parent");
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
    if !files.is_empty() {
        let _ = writeln!(out, "\nWrote:");
        for f in files {
            let _ = writeln!(out, "  {f}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
