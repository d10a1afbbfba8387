//! The text `ecrgc lifecycle suggest` prints: per repository the advice, the evidence per
//! rule, what the policy expires now, the policy in place, and the policy JSON.

use ecrgc_model::format::human_bytes;

use crate::derive::{Counts, Status, Suggestion};

/// Context printed in the first line.
pub struct Heading<'a> {
    /// The run read.
    pub run_id: &'a str,
    /// Its snapshot time.
    pub snapshot_time: &'a str,
    /// The evaluation instant.
    pub now: &'a str,
}

/// Renders the suggestions (already in output order) and the closing totals.
pub fn text(h: &Heading<'_>, suggestions: &[Suggestion], written: &[String]) -> String {
    let mut t = format!(
        "ecrgc lifecycle suggest: run {} (snapshot {}, now {})\n",
        h.run_id, h.snapshot_time, h.now
    );
    let mut by_status = std::collections::BTreeMap::<&str, u64>::new();
    let mut total = Counts::default();
    for s in suggestions {
        *by_status.entry(s.status.name()).or_default() += 1;
        if s.status == Status::Suggested {
            total.images += s.expires_now.images;
            total.bytes += s.expires_now.bytes;
        }
        t.push('\n');
        t.push_str(&format!(
            "{}/{}/{}: {}{} ({} images, {}; {} kept)\n",
            s.account_id,
            s.region,
            s.repository_name,
            s.status.name(),
            if s.opted_in || !matches!(s.status, Status::Suggested) {
                ""
            } else {
                ", not opted in"
            },
            s.images.images,
            human_bytes(s.images.bytes),
            s.kept,
        ));
        for r in &s.rules {
            t.push_str(&format!(
                "  rule {}: {}\n    expires now: {} images, {}\n    supported by: {}\n",
                r.rule_priority,
                r.description.trim_start_matches("ecrgc: "),
                r.expires_now.images,
                human_bytes(r.expires_now.bytes),
                r.support
            ));
            if let Some(date) = &r.review_before {
                t.push_str(&format!(
                    "    review before: {} (a kept untagged image reaches the threshold)\n",
                    date.get(..10).unwrap_or(date)
                ));
            }
        }
        for n in &s.notes {
            t.push_str(&format!("  note: {n}\n"));
        }
        if let Some(e) = &s.existing {
            match (&e.expires_now, &e.expires_kept, &e.error) {
                (Some(all), Some(kept), _) => {
                    t.push_str(&format!(
                        "  policy in place (sha256 {}): expires {} images now{}\n",
                        &e.sha256[..12.min(e.sha256.len())],
                        all.images,
                        if kept.images > 0 {
                            format!(", {} of them kept by ecrgc: review it", kept.images)
                        } else {
                            String::new()
                        }
                    ));
                }
                (_, _, Some(err)) => {
                    t.push_str(&format!("  policy in place, not evaluated: {err}\n"));
                }
                _ => t.push_str("  policy in place (not evaluated)\n"),
            }
        }
        if s.status == Status::Suggested
            && let Some(p) = &s.policy
        {
            let json = serde_json::to_string_pretty(p).unwrap_or_default();
            t.push_str("  policy:\n");
            for line in json.lines() {
                t.push_str("    ");
                t.push_str(line);
                t.push('\n');
            }
        }
    }
    t.push('\n');
    let statuses: Vec<String> = by_status.iter().map(|(k, v)| format!("{k} {v}")).collect();
    t.push_str(&format!(
        "{} repositories: {}\nSuggested policies expire now: {} images, {}\n",
        suggestions.len(),
        statuses.join(", "),
        total.images,
        human_bytes(total.bytes)
    ));
    if !written.is_empty() {
        t.push_str("Wrote:\n");
        for w in written {
            t.push_str(&format!("  {w}\n"));
        }
    }
    t
}
