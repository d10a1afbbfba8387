//! The header every reviewed plan starts with: what it read, when, from which store, under
//! which configuration and catalog, by whom, and whether it is a what-if.

use std::collections::BTreeMap;

use ecrgc_model::time::{Micros, rfc3339};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::digest::hex;

/// How far a plan's clock (`--now`) may sit from the real clock, and a plan's times from the
/// executor's clock, before the plan counts as a what-if (seconds): the one skew ecrgc allows
/// anywhere.
pub use ecrgc_model::time::MAX_CLOCK_SKEW_SECONDS;

const SKEW: Micros = MAX_CLOCK_SKEW_SECONDS * 1_000_000;

/// The longest a plan stays valid, in hours: the end of `[safety] manifest_ttl_hours`.
/// Admission refuses a plan recorded with a longer lifetime (one written before the setting
/// was bounded), since it would never expire.
pub const MAX_PLAN_LIFETIME_HOURS: i64 = 720;

/// The header fields every plan kind shares. A plan kind adds its own figures beside them
/// (flattened into the same JSON object).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlanHeader {
    /// The plan kind (`deletion`, `lifecycle`).
    pub kind: String,
    /// Snapshot run the plan read.
    pub run_id: String,
    /// The instant the run describes, RFC 3339.
    pub snapshot_time: String,
    /// The instant the rules were evaluated at (`--now`), RFC 3339.
    pub created_at: String,
    /// The real clock when the plan was made, RFC 3339.
    pub planned_at: String,
    /// After this instant the executor refuses the plan, RFC 3339.
    pub expires_at: String,
    /// Why the plan is a what-if (empty: it may be applied). See [`WhatIf`].
    pub what_if: Vec<String>,
    /// SHA-256 of the rule catalog the plan ran (the SQL of every view, rule, guard and
    /// step).
    pub catalog_sha256: String,
    /// Who planned: the STS caller ARN, when the plan had an AWS identity.
    pub planned_by: Option<String>,
    /// The safety settings of the configuration the plan was made with.
    pub config: Binding,
    /// ecrgc version that planned.
    pub tool_version: String,
    /// Store the run was read from (and the record written to).
    pub store: String,
    /// SHA-256 over the planned item ids in order.
    pub items_sha256: String,
}

/// What [`PlanHeader::new`] needs.
pub struct HeaderFields<'a> {
    /// The plan kind.
    pub kind: &'a str,
    /// The run planned, and the instant it describes.
    pub run_id: &'a str,
    /// The instant the run describes, µs.
    pub snapshot_time: Micros,
    /// The plan's clock (`--now`), µs.
    pub now: Micros,
    /// The real clock, µs.
    pub wall_clock: Micros,
    /// Hours the plan stays valid.
    pub ttl_hours: i64,
    /// Why the plan is a what-if.
    pub what_if: WhatIf,
    /// SHA-256 of the catalog run.
    pub catalog_sha256: String,
    /// The planner's identity.
    pub planned_by: Option<String>,
    /// The bound configuration.
    pub config: Binding,
    /// The store.
    pub store: &'a str,
}

impl PlanHeader {
    /// A header without items (`items_sha256` empty: the plan kind fills it).
    pub fn new(f: HeaderFields<'_>) -> Self {
        let mut what_if = f.what_if;
        what_if.clocks(f.now, f.wall_clock, f.snapshot_time);
        Self {
            kind: f.kind.to_owned(),
            run_id: f.run_id.to_owned(),
            snapshot_time: rfc3339(f.snapshot_time),
            created_at: rfc3339(f.now),
            planned_at: rfc3339(f.wall_clock),
            // A lifetime past what a timestamp holds expires at once rather than never.
            expires_at: rfc3339(
                ecrgc_model::time::after(f.now, f.ttl_hours, ecrgc_model::time::HOUR)
                    .unwrap_or(f.now),
            ),
            what_if: what_if.reasons,
            catalog_sha256: f.catalog_sha256,
            planned_by: f.planned_by,
            config: f.config,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            store: f.store.to_owned(),
            items_sha256: String::new(),
        }
    }
}

/// Why a plan is a what-if: it answers "what would be deleted if…", and may be shown by a
/// dry run but never applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WhatIf {
    reasons: Vec<String>,
}

impl WhatIf {
    /// No reason yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a reason (the planning command's options: `--sql-dir`, `--rule`, a demo run).
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reasons.push(reason.into());
        self
    }

    /// The reasons so far.
    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }

    /// The clock reasons: a `--now` away from the real clock, a snapshot later than the real
    /// clock (every "since the snapshot" check would look at the wrong window).
    fn clocks(&mut self, now: Micros, wall: Micros, snapshot: Micros) {
        if (now - wall).abs() > SKEW {
            self.reasons.push(format!(
                "--now {} is {} the real clock {}",
                rfc3339(now),
                span(now - wall),
                rfc3339(wall)
            ));
        }
        if snapshot > wall + SKEW {
            self.reasons.push(format!(
                "the snapshot time {} is later than the real clock {}",
                rfc3339(snapshot),
                rfc3339(wall)
            ));
        }
    }
}

/// `+90061 s` → `1 d 1 h ahead of` (the two largest units), for messages.
fn span(delta: Micros) -> String {
    let secs = delta.abs() / 1_000_000;
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    let mut parts = Vec::new();
    let units = [(d, "d"), (h, "h"), (m, "min"), (s, "s")];
    let first = units.iter().position(|(n, _)| *n > 0).unwrap_or(3);
    for (n, unit) in &units[first..(first + 2).min(4)] {
        if *n > 0 || parts.is_empty() {
            parts.push(format!("{n} {unit}"));
        }
    }
    let when = if delta > 0 { "ahead of" } else { "behind" };
    format!("{} {when}", parts.join(" "))
}

/// The safety-relevant part of a configuration, bound to a plan: which accounts, regions
/// and sources were read, the rules and their thresholds, the history window, the safety
/// tags. Pricing, report layout and parallelism are not bound: they change no decision.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Binding {
    /// Whether a configuration file was given (else the defaults were used).
    pub configured: bool,
    /// SHA-256 of `settings`' canonical JSON.
    pub sha256: String,
    /// The bound settings by `section.key`.
    pub settings: BTreeMap<String, serde_json::Value>,
}

impl Binding {
    /// Binds `settings` (from `ecrgc_config::Config::bound_settings`).
    pub fn new(configured: bool, settings: BTreeMap<String, serde_json::Value>) -> Self {
        let canonical = serde_json::to_vec(&settings).unwrap_or_default();
        Self {
            configured,
            sha256: hex(&Sha256::digest(&canonical)),
            settings,
        }
    }

    /// The keys whose value differs between the planned binding (`self`) and `now`, sorted;
    /// a key only one side has counts.
    pub fn differences(&self, now: &Binding) -> Vec<String> {
        let mut keys: Vec<String> = self
            .settings
            .keys()
            .chain(now.settings.keys())
            .filter(|k| self.settings.get(*k) != now.settings.get(*k))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: Micros = 1_795_000_000_000_000;

    fn fields(now: Micros, snapshot: Micros) -> HeaderFields<'static> {
        HeaderFields {
            kind: "deletion",
            run_id: "r",
            snapshot_time: snapshot,
            now,
            wall_clock: T,
            ttl_hours: 72,
            what_if: WhatIf::new(),
            catalog_sha256: "c".into(),
            planned_by: None,
            config: Binding::default(),
            store: "s",
        }
    }

    #[test]
    fn a_clock_away_from_the_real_one_makes_a_what_if() {
        let minute = 60_000_000;
        assert!(
            PlanHeader::new(fields(T + 4 * minute, T))
                .what_if
                .is_empty()
        );
        assert!(
            PlanHeader::new(fields(T - 4 * minute, T))
                .what_if
                .is_empty()
        );
        let ahead = PlanHeader::new(fields(T + 200 * 24 * 60 * minute, T));
        assert_eq!(ahead.what_if.len(), 1, "{:?}", ahead.what_if);
        assert!(
            ahead.what_if[0].contains("200 d ahead"),
            "{:?}",
            ahead.what_if
        );
        let behind = PlanHeader::new(fields(T - 90 * minute, T));
        assert!(
            behind.what_if[0].contains("1 h 30 min behind"),
            "{:?}",
            behind.what_if
        );
        let future_snapshot = PlanHeader::new(fields(T, T + 6 * minute));
        assert!(
            future_snapshot.what_if[0].contains("snapshot time"),
            "{:?}",
            future_snapshot.what_if
        );
        let mut f = fields(T, T);
        f.what_if = WhatIf::new().because("--sql-dir custom/");
        assert_eq!(PlanHeader::new(f).what_if, vec!["--sql-dir custom/"]);
    }

    #[test]
    fn differences_name_every_changed_key() {
        let a = Binding::new(
            true,
            [
                ("rules.unused_days".to_owned(), json!(90)),
                ("org.regions".to_owned(), json!(["eu-west-1"])),
            ]
            .into(),
        );
        let mut settings = a.settings.clone();
        settings.insert("rules.unused_days".into(), json!(30));
        settings.insert("sources.lambda".into(), json!(true));
        let b = Binding::new(true, settings);
        assert_ne!(a.sha256, b.sha256);
        assert_eq!(
            a.differences(&b),
            vec!["rules.unused_days", "sources.lambda"]
        );
        assert!(a.differences(&a.clone()).is_empty());
    }
}
