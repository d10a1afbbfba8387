//! The documentation of the rules and guards, checked against the SQL it documents.
//!
//! Every file of `sql/rules/` and `sql/guards/` starts with the same sections (What it does,
//! Why, Evidence, Example, Options; References where there are sources). `## Options` names
//! each configuration key the SQL depends on, with its default, and the `params` columns it
//! reaches the SQL as: that set of columns must be exactly what the SQL reads from `params`,
//! directly or through a view of `sql/views/`, and the defaults must be the configuration's.
//!
//! The README's rule and guard tables are generated from these headers. Run with
//! `ECRGC_UPDATE_README=1` to rewrite them between their markers instead of failing (then
//! review the diff, as with insta's update mode).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ecrgc_config::Config;
use ecrgc_engine::{Catalog, Params, SqlKind, SqlUnit};

/// The sections every header has, in this order. `## How …` sections may come between Why
/// and Evidence, and `## References` may close the header.
const REQUIRED_SECTIONS: [&str; 5] = ["What it does", "Why", "Evidence", "Example", "Options"];

/// Which configuration key fills which `params` columns (`Params::from_config`).
const FEEDS: &[(&str, &[&str])] = &[
    ("rules.unused_days", &["unused_cutoff", "unused_days"]),
    ("rules.rollback_window_hours", &["rollback_cutoff"]),
    ("rules.min_age_days", &["young_cutoff"]),
    ("rules.recent_pull_days", &["pull_cutoff"]),
    ("rules.keep_newest", &["keep_newest"]),
    (
        "safety.exclude_tag",
        &["exclude_tag_key", "exclude_tag_value"],
    ),
    ("safety.opt_in_tag", &["opt_in_tag_key", "opt_in_tag_value"]),
    ("rules.history_days", &[]),
];

/// `params` columns no configuration key fills: the plan's instant, and the bound of the
/// image graph walk (`ecrgc_model::params::RELATION_DEPTH`, read by `sql/plan/descendants.sql`).
const FIXED: &[&str] = &["now", "relation_depth"];

/// The default of a configuration key an Options section may name, as the docs write it.
fn default_of(key: &str) -> Option<String> {
    let c = Config::default();
    Some(match key {
        "rules.unused_days" => c.rules.unused_days.to_string(),
        "rules.rollback_window_hours" => c.rules.rollback_window_hours.to_string(),
        "rules.min_age_days" => c.rules.min_age_days.to_string(),
        "rules.recent_pull_days" => c.rules.recent_pull_days.to_string(),
        "rules.keep_newest" => c.rules.keep_newest.to_string(),
        "rules.history_days" => c.rules.history_days.to_string(),
        "safety.exclude_tag" => c.safety.exclude_tag,
        "safety.opt_in_tag" => c.safety.opt_in_tag,
        _ => return None,
    })
}

const README_UPDATE_VAR: &str = "ECRGC_UPDATE_README";

fn repo_root() -> PathBuf {
    // The running test's folder, not the one compiled in (the build cache may be shared
    // between clones).
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .join("../..")
}

fn catalog() -> Catalog {
    Catalog::load_dir(&repo_root().join("sql")).expect("sql/ loads")
}

/// The documented units: rules, then guards, in precedence order.
fn documented(catalog: &Catalog) -> Vec<&SqlUnit> {
    catalog
        .of(SqlKind::Rule)
        .chain(catalog.of(SqlKind::Guard))
        .collect()
}

/// The unit's file relative to the repository, for messages.
fn shown(unit: &SqlUnit) -> String {
    format!("sql/{}/{}.sql", unit.kind.folder(), unit.id)
}

/// The header's lines without their `--` (and one space).
fn header(unit: &SqlUnit) -> Vec<&str> {
    unit.text
        .lines()
        .map_while(|l| l.strip_prefix("--"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect()
}

/// The header's `## ` sections, in order: title and lines.
fn sections(unit: &SqlUnit) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in header(unit) {
        if let Some(title) = line.strip_prefix("## ") {
            out.push((title.trim().to_owned(), Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line.to_owned());
        }
    }
    out
}

/// The SQL after the header, without `--` comments (string literals kept whole).
fn body(unit: &SqlUnit) -> String {
    let mut out = String::new();
    for line in unit
        .text
        .lines()
        .skip_while(|l| l.trim_start().starts_with("--"))
    {
        let mut in_string = false;
        let mut prev = '\0';
        for c in line.chars() {
            if c == '\'' {
                in_string = !in_string;
            }
            if !in_string && c == '-' && prev == '-' {
                out.pop();
                break;
            }
            out.push(c);
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// Identifiers and single punctuation characters of a SQL text, string literals dropped.
fn tokens(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            for d in chars.by_ref() {
                if d == '\'' {
                    break;
                }
            }
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let mut word = c.to_string();
            while let Some(&d) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    word.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(word);
        } else if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    out
}

/// Words that may follow a table name where no alias is given.
const NOT_AN_ALIAS: &[&str] = &[
    "where", "on", "join", "cross", "left", "right", "inner", "full", "group", "order", "union",
    "limit", "having", "using", "window",
];

/// The `params` columns a SQL text reads: `params.col`, or `alias.col` for every alias
/// `params` is joined under.
fn params_read(sql: &str) -> BTreeSet<String> {
    let t = tokens(sql);
    let is_word = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut names = BTreeSet::from(["params".to_owned()]);
    for (i, tok) in t.iter().enumerate() {
        if !tok.eq_ignore_ascii_case("params") || (i > 0 && t[i - 1] == ".") {
            continue;
        }
        let mut next = t.get(i + 1);
        if next.is_some_and(|n| n.eq_ignore_ascii_case("as")) {
            next = t.get(i + 2);
        }
        if let Some(alias) =
            next.filter(|n| is_word(n) && !NOT_AN_ALIAS.contains(&n.to_ascii_lowercase().as_str()))
        {
            names.insert(alias.to_ascii_lowercase());
        }
    }
    t.windows(3)
        .filter(|w| names.contains(&w[0].to_ascii_lowercase()) && w[1] == "." && is_word(&w[2]))
        .map(|w| w[2].to_ascii_lowercase())
        .collect()
}

/// What a unit reads from `params`, directly or through the views it names (and theirs).
fn params_read_through_views(unit: &SqlUnit, views: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut read = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo = vec![body(unit)];
    while let Some(sql) = todo.pop() {
        read.extend(params_read(&sql));
        for tok in tokens(&sql) {
            if let Some(view) = views.get(&tok)
                && seen.insert(tok.clone())
            {
                todo.push(view.clone());
            }
        }
    }
    read
}

/// One bullet of an Options section: the configuration key, its documented default, and
/// the `params` columns it names.
#[derive(Debug)]
struct DocumentedOption {
    key: String,
    default: String,
    params: BTreeSet<String>,
}

/// The bullets of an Options section (`- \`key\` (default \`value\`): …`, continued by
/// indented lines), or an error naming what does not parse.
fn options(lines: &[String]) -> Result<Vec<DocumentedOption>, String> {
    let mut bullets: Vec<String> = Vec::new();
    for line in lines {
        if line.starts_with("- ") {
            bullets.push(line.clone());
        } else if line.starts_with("  ")
            && let Some(last) = bullets.last_mut()
        {
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    bullets
        .iter()
        .map(|b| {
            let bad = || format!("an option must read \"- `key` (default `value`): …\": {b}");
            let rest = b.strip_prefix("- `").ok_or_else(bad)?;
            let (key, rest) = rest.split_once('`').ok_or_else(bad)?;
            let rest = rest.strip_prefix(" (default `").ok_or_else(bad)?;
            let (default, rest) = rest.split_once("`)").ok_or_else(bad)?;
            let params = rest
                .split("params.")
                .skip(1)
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .collect();
            Ok(DocumentedOption {
                key: key.to_owned(),
                default: default.to_owned(),
                params,
            })
        })
        .collect()
}

#[test]
fn every_rule_and_guard_is_documented_the_same_way() {
    let catalog = catalog();
    let mut problems = Vec::new();
    for unit in documented(&catalog) {
        let titles: Vec<String> = sections(unit).into_iter().map(|(t, _)| t).collect();
        let required: Vec<&str> = titles
            .iter()
            .map(String::as_str)
            .filter(|t| REQUIRED_SECTIONS.contains(t))
            .collect();
        if required != REQUIRED_SECTIONS {
            problems.push(format!(
                "{}: sections {titles:?}, expected {REQUIRED_SECTIONS:?} in this order",
                shown(unit)
            ));
        }
        let position = |name: &str| titles.iter().position(|t| t == name);
        for (i, title) in titles.iter().enumerate() {
            let fits = if title.starts_with("How ") {
                position("Why").is_some_and(|w| w < i)
                    && position("Evidence").is_some_and(|e| i < e)
            } else if title == "References" {
                i == titles.len() - 1
            } else {
                REQUIRED_SECTIONS.contains(&title.as_str())
            };
            if !fits {
                problems.push(format!(
                    "{}: section `## {title}` is unknown or out of place (`## How …` goes between \
                     Why and Evidence, `## References` last)",
                    shown(unit)
                ));
            }
        }
        let verb = match unit.kind {
            SqlKind::Rule => "Flags ",
            _ => "Protects ",
        };
        let what = sections(unit)
            .into_iter()
            .find(|(t, _)| t == "What it does")
            .and_then(|(_, lines)| lines.into_iter().next())
            .unwrap_or_default();
        if !what.starts_with(verb) {
            problems.push(format!(
                "{}: `## What it does` should start with {verb:?}: {what:?}",
                shown(unit)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn options_name_exactly_the_params_the_sql_reads_with_the_configured_defaults() {
    let catalog = catalog();
    let views: BTreeMap<String, String> = catalog
        .of(SqlKind::View)
        .map(|v| (v.id.clone(), body(v)))
        .collect();
    let schema = Params::schema();
    let columns: BTreeSet<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let fed: BTreeSet<&str> = FEEDS.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let mut problems = Vec::new();
    for column in &columns {
        if !FIXED.contains(&column.as_str()) && !fed.contains(column.as_str()) {
            problems.push(format!(
                "params column {column} is missing from FEEDS: say which configuration key fills it"
            ));
        }
    }
    for unit in documented(&catalog) {
        let read = params_read_through_views(unit, &views);
        for column in read.difference(&columns) {
            problems.push(format!(
                "{}: reads `{column}`, which is not a column of `params` (an alias of `params` \
                 used for another table?)",
                shown(unit)
            ));
        }
        let lines = sections(unit)
            .into_iter()
            .find(|(t, _)| t == "Options")
            .map(|(_, l)| l)
            .unwrap_or_default();
        let documented = match options(&lines) {
            Ok(o) => o,
            Err(e) => {
                problems.push(format!("{}: {e}", shown(unit)));
                continue;
            }
        };
        if documented.is_empty() && !lines.iter().any(|l| l.starts_with("None")) {
            problems.push(format!(
                "{}: `## Options` lists no option and does not say `None`",
                shown(unit)
            ));
        }
        let mut named = BTreeSet::new();
        for option in &documented {
            match default_of(&option.key) {
                None => problems.push(format!(
                    "{}: option `{}` is not a key this test knows (add it to `default_of` and \
                     `FEEDS`)",
                    shown(unit), option.key
                )),
                Some(default) if default != option.default => problems.push(format!(
                    "{}: option `{}` documents the default `{}`, the configuration's is `{default}`",
                    shown(unit), option.key, option.default
                )),
                Some(_) => {}
            }
            let feeds: BTreeSet<String> = FEEDS
                .iter()
                .filter(|(k, _)| *k == option.key)
                .flat_map(|(_, c)| c.iter().map(|s| (*s).to_owned()))
                .collect();
            for column in option.params.difference(&feeds) {
                problems.push(format!(
                    "{}: option `{}` names `params.{column}`, which it does not fill",
                    shown(unit),
                    option.key
                ));
            }
            named.extend(option.params.iter().cloned());
        }
        if named != read {
            problems.push(format!(
                "{}: `## Options` names params {named:?}, the SQL reads {read:?}",
                shown(unit)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The README table of one kind, generated from the headers.
fn table(catalog: &Catalog, kind: SqlKind) -> String {
    let noun = match kind {
        SqlKind::Rule => "rule",
        _ => "guard",
    };
    let mut out = format!("| {noun} | summary | options |\n|---|---|---|\n");
    for unit in catalog.of(kind) {
        let keys: Vec<String> = sections(unit)
            .into_iter()
            .find(|(t, _)| t == "Options")
            .and_then(|(_, lines)| options(&lines).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|o| format!("`{}`", o.key))
            .collect();
        let off = if unit.enabled_by_default {
            ""
        } else {
            " Off by default."
        };
        out.push_str(&format!(
            "| [`{id}`](sql/{folder}/{id}.sql) | {summary}{off} | {keys} |\n",
            id = unit.id,
            folder = kind.folder(),
            summary = unit.summary,
            keys = if keys.is_empty() {
                "—".to_owned()
            } else {
                keys.join(", ")
            },
        ));
    }
    out
}

/// Replaces what lies between `<!-- {name}:begin … -->` and `<!-- {name}:end -->`.
fn replace_between_markers(text: &str, name: &str, content: &str) -> Result<String, String> {
    let begin = format!("<!-- {name}:begin");
    let end = format!("<!-- {name}:end -->");
    let start = text
        .find(&begin)
        .ok_or_else(|| format!("README.md has no `{begin} … -->` marker"))?;
    let start = start
        + text[start..]
            .find("-->\n")
            .ok_or_else(|| format!("unterminated `{begin}` marker"))?
        + "-->\n".len();
    let stop = text[start..]
        .find(&end)
        .ok_or_else(|| format!("README.md has no `{end}` marker after `{begin}`"))?
        + start;
    Ok(format!("{}{content}{}", &text[..start], &text[stop..]))
}

#[test]
fn readme_tables_are_generated_from_the_headers() {
    let catalog = catalog();
    let path = repo_root().join("README.md");
    let text = std::fs::read_to_string(&path).expect("README.md reads");
    let mut expected = text.clone();
    for (name, kind) in [("rules", SqlKind::Rule), ("guards", SqlKind::Guard)] {
        expected = replace_between_markers(&expected, name, &table(&catalog, kind))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    if expected == text {
        return;
    }
    if std::env::var_os(README_UPDATE_VAR).is_some_and(|v| v == "1") {
        std::fs::write(&path, expected).expect("README.md writes");
        eprintln!("rewrote the rule and guard tables of {}", path.display());
        return;
    }
    let first_difference = text
        .lines()
        .zip(expected.lines())
        .find(|(a, b)| a != b)
        .map(|(a, b)| format!("README has:\n  {a}\nthe headers give:\n  {b}"))
        .unwrap_or_default();
    panic!(
        "README.md's rule and guard tables differ from the SQL headers; run with \
         {README_UPDATE_VAR}=1 to rewrite them, then review the diff.\n{first_difference}"
    );
}

#[test]
fn every_cited_pitfall_has_its_anchor() {
    let root = repo_root();
    let doc = std::fs::read_to_string(root.join("docs/pitfalls.md")).expect("docs/pitfalls.md");
    let mut files = Vec::new();
    let mut dirs = vec![root.join("sql"), root.join("fixtures/slt")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("folder reads").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.push(root.join("README.md"));
    let mut missing = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for cite in text.split("pitfalls.md#").skip(1) {
            let anchor: String = cite
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if !doc.contains(&format!("<a id=\"{anchor}\"></a>")) {
                missing.push(format!("{}: pitfalls.md#{anchor}", path.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no such anchor in docs/pitfalls.md:\n{}",
        missing.join("\n")
    );
}

#[test]
fn params_read_follows_aliases_and_ignores_other_tables() {
    let sql = "SELECT p.unused_cutoff, x.keep_newest FROM images i CROSS JOIN params p \
               JOIN t x ON x.a = params.young_cutoff WHERE 'p.now' = i.b";
    assert_eq!(
        params_read(sql),
        BTreeSet::from(["unused_cutoff".to_owned(), "young_cutoff".to_owned()])
    );
    assert_eq!(
        params_read("SELECT 1 FROM params WHERE params.keep_newest > 0"),
        BTreeSet::from(["keep_newest".to_owned()])
    );
    assert_eq!(
        params_read("SELECT q.pull_cutoff FROM params AS q"),
        BTreeSet::from(["pull_cutoff".to_owned()])
    );
}
