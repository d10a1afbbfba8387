//! `ecrgc rules [ID]`: the rules and guards and what each one does; with an id, that rule's
//! or guard's whole documentation.

use std::io::Write;

use anyhow::Result;
use ecrgc_engine::{Catalog, SqlKind, SqlUnit};

use crate::args::RulesArgs;
use crate::error::bad_input;
use crate::shared::load_catalog;

pub fn rules(args: RulesArgs) -> Result<()> {
    let catalog = load_catalog(args.sql_dir.as_deref())?;
    let text = match &args.id {
        Some(id) => one(&catalog, id, args.full)?,
        None => list(&catalog, args.full),
    };
    let mut stdout = ecrgc_plan::output::stdout();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

const KINDS: [(SqlKind, &str); 2] = [(SqlKind::Rule, "Rules"), (SqlKind::Guard, "Guards")];

fn off(unit: &SqlUnit) -> &'static str {
    if unit.enabled {
        ""
    } else {
        " (off by default)"
    }
}

/// Every rule and guard in precedence order: one line each, or with `full` the whole files.
fn list(catalog: &Catalog, full: bool) -> String {
    let mut out = String::new();
    for (kind, title) in KINDS {
        out.push_str(&format!("{title} (in precedence order):\n"));
        for unit in catalog.of(kind) {
            let off = off(unit);
            if full {
                out.push_str(&format!(
                    "\n== {}{off} ==\n{}\n",
                    unit.path,
                    unit.text.trim_end()
                ));
            } else {
                out.push_str(&format!("  {:<26} {}{off}\n", unit.id, unit.summary));
            }
        }
        out.push('\n');
    }
    out
}

/// The rule or guard `id`: its documentation (the file's header), or with `full` the whole
/// file. An id that is neither is bad input naming the known ones.
fn one(catalog: &Catalog, id: &str, full: bool) -> Result<String> {
    let found = KINDS
        .iter()
        .flat_map(|(kind, _)| catalog.of(*kind))
        .find(|u| u.id == id);
    let Some(unit) = found else {
        let known: Vec<&str> = KINDS
            .iter()
            .flat_map(|(kind, _)| catalog.of(*kind))
            .map(|u| u.id.as_str())
            .collect();
        return Err(bad_input(format!(
            "no rule or guard {id:?}; the rules and guards are: {}",
            known.join(", ")
        )));
    };
    let kind = if unit.kind == SqlKind::Rule {
        "rule"
    } else {
        "guard"
    };
    let mut out = format!("{} ({kind}{}, {})\n", unit.id, off_inline(unit), unit.path);
    if full {
        out.push('\n');
        out.push_str(unit.text.trim_end());
        out.push('\n');
        return Ok(out);
    }
    out.push_str(&format!("{}\n", unit.summary));
    let doc = documentation(&unit.text);
    if !doc.is_empty() {
        out.push('\n');
        out.push_str(&doc);
        out.push('\n');
    }
    Ok(out)
}

fn off_inline(unit: &SqlUnit) -> &'static str {
    if unit.enabled { "" } else { ", off by default" }
}

/// The header's documentation: the leading `--` comment lines without their `-- ` prefix,
/// leaving out the `key: value` lines (`id`, `order`, `summary`, `default`) the catalog
/// reads.
fn documentation(text: &str) -> String {
    let mut lines = Vec::new();
    let mut keys_done = false;
    for line in text.lines() {
        let Some(comment) = line.trim_start().strip_prefix("--") else {
            break;
        };
        let comment = comment.strip_prefix(' ').unwrap_or(comment).trim_end();
        if !keys_done {
            let is_key = comment.split_once(':').is_some_and(|(key, _)| {
                matches!(key.trim(), "id" | "order" | "summary" | "default")
            });
            if is_key {
                continue;
            }
            keys_done = true;
        }
        lines.push(comment);
    }
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documentation_is_the_header_without_its_keys() {
        let text = "-- id: x\n-- order: 3\n-- summary: Flags x.\n--\n-- Why x.\n--   indented\n\
                    --\n-- More.\nSELECT 1 -- not documentation\n-- nor this\n";
        assert_eq!(documentation(text), "Why x.\n  indented\n\nMore.");
    }

    #[test]
    fn an_unknown_id_names_the_known_ones() {
        let err = one(&Catalog::builtin(), "no_such_rule", false).expect_err("unknown");
        let message = err.to_string();
        assert!(message.contains("\"no_such_rule\""), "{message}");
        assert!(
            message.contains("never_used") && message.contains("recent_pull"),
            "{message}"
        );
        assert_eq!(crate::error::exit_code(&err), 2);
    }
}
