//! The SQL catalog: rules, guards, shared views and the decision step; and the queries of
//! the reports, `ecrgc explain` and `ecrgc lifecycle suggest` ([`QUERIES`]).
//!
//! The files under `sql/` are embedded in the binary, so `ecrgc` works from any folder; a
//! folder with the same layout can be loaded instead to run custom rules. Each file starts
//! with a header of `-- key: value` lines (`id`, `order`, `summary`) followed by the
//! documentation and one SQL query.

use std::path::Path;

use crate::{EngineError, Result};

/// What a SQL file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SqlKind {
    /// A view every rule and guard may read (`sql/views/`).
    View,
    /// A rule: yields candidate images (`sql/rules/`).
    Rule,
    /// A guard: yields protected images and why (`sql/guards/`).
    Guard,
    /// The decision step combining candidates and protections (`sql/plan/`).
    Plan,
    /// A query of the reports over a plan's decisions (`sql/report/`); not part of a
    /// catalog's rules: see [`QUERIES`].
    Report,
    /// A query of `ecrgc explain` about one image, the one row of `target` (`sql/explain/`);
    /// see [`QUERIES`].
    Explain,
    /// A query of `ecrgc lifecycle suggest`: the facts a lifecycle policy is derived from
    /// (`sql/lifecycle/`); see [`QUERIES`].
    Lifecycle,
}

impl SqlKind {
    /// The folder below `sql/` holding this kind.
    pub fn folder(self) -> &'static str {
        match self {
            Self::View => "views",
            Self::Rule => "rules",
            Self::Guard => "guards",
            Self::Plan => "plan",
            Self::Report => "report",
            Self::Explain => "explain",
            Self::Lifecycle => "lifecycle",
        }
    }

    /// Every kind a catalog holds, in the order the engine installs them (the queries of
    /// [`QUERIES`] are not installed: the reports and `ecrgc explain` run them).
    pub const ALL: [SqlKind; 4] = [Self::View, Self::Rule, Self::Guard, Self::Plan];
}

/// One SQL file of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlUnit {
    /// Rule, guard, view or plan step.
    pub kind: SqlKind,
    /// Identifier; equals the file stem.
    pub id: String,
    /// Precedence: the lowest-ordered matching rule or guard names a decision.
    pub order: i64,
    /// One-line summary.
    pub summary: String,
    /// Whether the rule runs unless configured off (`-- default: off` makes it opt-in).
    pub enabled_by_default: bool,
    /// Whether the unit takes part in this plan (rules can be switched; the rest always do).
    pub enabled: bool,
    /// Where the text came from, for messages (`sql/rules/never_used.sql`).
    pub path: String,
    /// The whole file.
    pub text: String,
}

impl SqlUnit {
    /// Parses a file's header.
    pub fn parse(kind: SqlKind, path: &str, text: &str) -> Result<Self> {
        let invalid = |reason: String| EngineError::InvalidSql {
            path: path.to_owned(),
            reason,
        };
        let stem = Path::new(path)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let mut id = None;
        let mut order = None;
        let mut summary = None;
        let mut enabled_by_default = true;
        for line in text.lines() {
            let Some(comment) = line.trim().strip_prefix("--") else {
                break;
            };
            let Some((key, value)) = comment.trim().split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "id" => id = Some(value.to_owned()),
                "order" => {
                    order = Some(value.parse::<i64>().map_err(|_| {
                        invalid(format!("header `order: {value}` is not an integer"))
                    })?);
                }
                "summary" => summary = Some(value.to_owned()),
                "default" => {
                    enabled_by_default = match value {
                        "on" => true,
                        "off" => false,
                        _ => {
                            return Err(invalid(format!(
                                "header `default: {value}` is not on or off"
                            )));
                        }
                    }
                }
                _ => {}
            }
        }
        let id = id.ok_or_else(|| invalid("header has no `-- id:` line".into()))?;
        if id != stem {
            return Err(invalid(format!(
                "header id {id:?} differs from the file name {stem:?}"
            )));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(invalid(format!("id {id:?} must be snake_case")));
        }
        let body_has_sql = text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim().starts_with("--"));
        if !body_has_sql {
            return Err(invalid("no SQL after the header".into()));
        }
        Ok(Self {
            kind,
            id,
            order: order.unwrap_or(1000),
            summary: summary.unwrap_or_default(),
            enabled_by_default,
            enabled: enabled_by_default,
            path: path.to_owned(),
            text: text.to_owned(),
        })
    }

    /// The SQL without a trailing semicolon, ready to nest in a larger query.
    pub fn query(&self) -> &str {
        self.text.trim().trim_end_matches(';')
    }
}

/// Every SQL unit the engine runs.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    units: Vec<SqlUnit>,
}

macro_rules! builtin {
    ($($kind:ident $folder:literal $name:literal),* $(,)?) => {
        &[$((SqlKind::$kind, concat!("sql/", $folder, "/", $name, ".sql"),
             include_str!(concat!("../../../sql/", $folder, "/", $name, ".sql")))),*]
    };
}

/// The files of `sql/` compiled into the binary. A test checks this list against the folder.
pub const BUILTIN: &[(SqlKind, &str, &str)] = builtin![
    View "views" "image_refs",
    View "views" "replicas",
    View "views" "scope_gaps",
    View "views" "inspector_coverage_summary",
    View "views" "opted_in",
    Rule "rules" "never_used",
    Rule "rules" "stale",
    Rule "rules" "untagged_fallback",
    Rule "rules" "inactive_task_definition",
    Rule "rules" "not_pulled",
    Guard "guards" "exclude_tag",
    Guard "guards" "image_status",
    Guard "guards" "live_reference",
    Guard "guards" "recent_use",
    Guard "guards" "history_use",
    Guard "guards" "recent_pull",
    Guard "guards" "keep_newest",
    Guard "guards" "young_image",
    Guard "guards" "usage_coverage_gap",
    Guard "guards" "replica_kept",
    Plan "plan" "flagged",
    Plan "plan" "guarded",
    Plan "plan" "edges",
    Plan "plan" "children",
    Plan "plan" "descendants",
    Plan "plan" "decisions",
    Plan "plan" "replicas_kept",
    Plan "plan" "replicas_present",
];

/// The queries of the reports, `ecrgc explain` and `ecrgc lifecycle suggest`, compiled into the binary like
/// [`BUILTIN`]. They read the tables a plan leaves (`decisions`, the snapshot tables, the
/// catalog's views) and never decide anything, so a catalog loaded from a folder (custom
/// rules) keeps them and [`Catalog::sha256`] leaves them out. A test checks this list
/// against the folders.
pub const QUERIES: &[(SqlKind, &str, &str)] = builtin![
    Report "report" "plan_totals",
    Report "report" "freed_bytes",
    Report "report" "trend",
    Report "report" "pull_through_upstreams",
    Report "report" "scanned",
    Report "report" "blocked_sources",
    Report "report" "out_of_scope",
    Report "report" "collector_pulls",
    Report "report" "inspector_coverage",
    Report "report" "vanished_accounts",
    Report "report" "malformed_references",
    Explain "explain" "resolve",
    Explain "explain" "image",
    Explain "explain" "manifest_read",
    Explain "explain" "tags",
    Explain "explain" "coverage",
    Explain "explain" "decision",
    Explain "explain" "findings",
    Explain "explain" "references",
    Explain "explain" "relations",
    Lifecycle "lifecycle" "repositories",
    Lifecycle "lifecycle" "images",
    Lifecycle "lifecycle" "image_tags",
    Lifecycle "lifecycle" "guards",
    Lifecycle "lifecycle" "parents",
];

/// One query of [`QUERIES`], parsed: `query(SqlKind::Report, "trend")`.
pub fn query(kind: SqlKind, id: &str) -> Result<SqlUnit> {
    let (kind, path, text) = QUERIES
        .iter()
        .find(|(k, path, _)| {
            *k == kind && Path::new(path).file_stem().and_then(|s| s.to_str()) == Some(id)
        })
        .ok_or_else(|| EngineError::InvalidSql {
            path: format!("sql/{}/{id}.sql", kind.folder()),
            reason: "no such query".into(),
        })?;
    SqlUnit::parse(*kind, path, text)
}

/// Every query of [`QUERIES`], parsed.
pub fn queries() -> Vec<SqlUnit> {
    QUERIES
        .iter()
        .map(|(kind, path, text)| SqlUnit::parse(*kind, path, text))
        .collect::<Result<Vec<_>>>()
        .expect("embedded SQL headers are checked by the test suite")
}

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn builtin() -> Self {
        let units = BUILTIN
            .iter()
            .map(|(kind, path, text)| SqlUnit::parse(*kind, path, text))
            .collect::<Result<Vec<_>>>()
            .expect("embedded SQL headers are checked by the test suite");
        Self::from_units(units)
    }

    /// Loads a folder laid out like `sql/` (`views/`, `rules/`, `guards/`, `plan/`).
    pub fn load_dir(root: &Path) -> Result<Self> {
        let mut units = Vec::new();
        for kind in SqlKind::ALL {
            let dir = root.join(kind.folder());
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(EngineError::Io {
                        path: dir.display().to_string(),
                        source,
                    });
                }
            };
            let mut paths: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "sql"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path).map_err(|source| EngineError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                units.push(SqlUnit::parse(kind, &path.display().to_string(), &text)?);
            }
        }
        if !units.iter().any(|u| u.kind == SqlKind::Plan) {
            return Err(EngineError::InvalidSql {
                path: root.display().to_string(),
                reason: "no plan/decisions.sql".into(),
            });
        }
        Ok(Self::from_units(units))
    }

    fn from_units(mut units: Vec<SqlUnit>) -> Self {
        units.sort_by(|a, b| (a.kind, a.order, &a.id).cmp(&(b.kind, b.order, &b.id)));
        Self { units }
    }

    /// Units of one kind, in precedence order, switched on or not.
    pub fn of(&self, kind: SqlKind) -> impl Iterator<Item = &SqlUnit> {
        self.units.iter().filter(move |u| u.kind == kind)
    }

    /// Units of one kind that take part in this plan, in precedence order.
    pub fn enabled(&self, kind: SqlKind) -> impl Iterator<Item = &SqlUnit> {
        self.of(kind).filter(|u| u.enabled)
    }

    /// Every unit.
    pub fn units(&self) -> &[SqlUnit] {
        &self.units
    }

    /// SHA-256 over the SQL of every unit (kind, id and text, in that order), whichever
    /// rules are switched on: two catalogs with the same hash run the same SQL. A plan
    /// records it, and one made with any catalog but [`Catalog::builtin`] is a what-if.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut units: Vec<&SqlUnit> = self.units.iter().collect();
        units.sort_by(|a, b| (a.kind.folder(), &a.id).cmp(&(b.kind.folder(), &b.id)));
        let mut h = Sha256::new();
        for u in units {
            for part in [u.kind.folder(), u.id.as_str(), u.text.as_str()] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Chooses the rules that run: `only` (when not empty) replaces the selection;
    /// otherwise every rule on by default, plus `enable`, minus `disable`. `origin` names
    /// where the lists came from, for errors. Guards always run.
    pub fn select_rules(
        mut self,
        only: &[String],
        enable: &[String],
        disable: &[String],
        origin: &str,
    ) -> Result<Self> {
        for (list, what) in [
            (only, "--rule"),
            (enable, "rules.enable"),
            (disable, "rules.disable"),
        ] {
            for name in list {
                if !self.of(SqlKind::Rule).any(|u| &u.id == name) {
                    let known: Vec<_> = self.of(SqlKind::Rule).map(|u| u.id.as_str()).collect();
                    return Err(EngineError::InvalidSql {
                        path: if what == "--rule" {
                            what.to_owned()
                        } else {
                            format!("{origin}: {what}")
                        },
                        reason: format!("unknown rule {name:?}; known rules: {}", known.join(", ")),
                    });
                }
            }
        }
        for u in self.units.iter_mut().filter(|u| u.kind == SqlKind::Rule) {
            u.enabled = if only.is_empty() {
                (u.enabled_by_default || enable.contains(&u.id)) && !disable.contains(&u.id)
            } else {
                only.contains(&u.id)
            };
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_and_matches_the_sql_folder() {
        let catalog = Catalog::builtin();
        // The running test's folder, not the one compiled in (the build cache is shared
        // between clones).
        let dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let root = dir.join("../../sql");
        let on_disk = Catalog::load_dir(&root).expect("sql/ loads");
        let ids = |c: &Catalog| -> Vec<(SqlKind, String)> {
            c.units().iter().map(|u| (u.kind, u.id.clone())).collect()
        };
        assert_eq!(
            ids(&catalog),
            ids(&on_disk),
            "BUILTIN must list every file of sql/"
        );
        for unit in catalog.units() {
            assert!(!unit.summary.is_empty(), "{} has no summary", unit.path);
        }
    }

    #[test]
    fn queries_match_their_folders() {
        let dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let root = dir.join("../../sql");
        let mut listed: Vec<String> = queries()
            .iter()
            .map(|u| format!("{}/{}", u.kind.folder(), u.id))
            .collect();
        let mut on_disk = Vec::new();
        for kind in [SqlKind::Report, SqlKind::Explain, SqlKind::Lifecycle] {
            for entry in std::fs::read_dir(root.join(kind.folder())).expect("folder exists") {
                let path = entry.expect("entry").path();
                if path.extension().is_some_and(|x| x == "sql") {
                    let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
                    on_disk.push(format!("{}/{stem}", kind.folder()));
                }
            }
        }
        listed.sort();
        on_disk.sort();
        assert_eq!(
            listed, on_disk,
            "QUERIES must list every file of sql/report, sql/explain and sql/lifecycle"
        );
        for unit in queries() {
            assert!(!unit.summary.is_empty(), "{} has no summary", unit.path);
        }
        assert!(query(SqlKind::Report, "trend").is_ok());
        assert!(query(SqlKind::Report, "nothing").is_err());
    }

    /// SQL spells the vocabulary's words as literals (portable SQL has no constants): every
    /// file that lists index media types lists exactly `INDEX_MEDIA_TYPES`, every media type
    /// it names is known, and every usage source list names only `USAGE_SOURCES`.
    #[test]
    fn sql_spells_the_vocabulary_of_the_model() {
        use ecrgc_model::vocabulary::{INDEX_MEDIA_TYPES, USAGE_SOURCES, media_type};
        let known_media = [
            media_type::OCI_INDEX,
            media_type::DOCKER_MANIFEST_LIST,
            media_type::OCI_MANIFEST,
            media_type::DOCKER_MANIFEST,
        ];
        let mut units = Catalog::builtin().units().to_vec();
        units.extend(queries());
        for unit in &units {
            let code: String = unit
                .text
                .lines()
                .map(|l| l.split("--").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            let literals: Vec<&str> = code.split('\'').skip(1).step_by(2).collect();
            for lit in literals
                .iter()
                .filter(|l| l.starts_with("application/vnd."))
            {
                assert!(
                    known_media.contains(lit),
                    "{}: unknown media type {lit}",
                    unit.path
                );
            }
            if literals.iter().any(|l| INDEX_MEDIA_TYPES.contains(l)) {
                for t in INDEX_MEDIA_TYPES {
                    assert!(
                        literals.contains(t),
                        "{}: lists index types without {t}",
                        unit.path
                    );
                }
            }
            if literals.contains(&"config_aggregator") {
                for source in USAGE_SOURCES {
                    assert!(
                        literals.contains(source),
                        "{}: usage sources without {source}",
                        unit.path
                    );
                }
            }
        }
    }

    #[test]
    fn header_id_must_match_file_name() {
        let err = SqlUnit::parse(SqlKind::Rule, "sql/rules/a.sql", "-- id: b\nSELECT 1")
            .expect_err("mismatch");
        assert!(err.to_string().contains("differs"), "{err}");
        let err = SqlUnit::parse(
            SqlKind::Rule,
            "sql/rules/a.sql",
            "-- id: a\n-- order: x\nSELECT 1",
        )
        .expect_err("bad order");
        assert!(err.to_string().contains("order"), "{err}");
    }
}
