//! What a plan says about itself: the header fields every reviewed plan kind shares
//! ([`ecrgc_review::PlanHeader`]), written by `plan`, `demo` and `lifecycle suggest --out`.
//!
//! Besides the run and the clocks, the header records what makes a plan a what-if (which
//! `apply --yes` refuses): a `--now` away from the real clock, `--sql-dir` or any catalog but
//! the shipped one, `--rule` overrides, a demo organization. It binds the configuration's
//! safety settings and names the planner, so approvals can be told apart from the planner's
//! own.

use std::path::Path;

use ecrgc_aws::{Aws, Caller};
use ecrgc_config::Config;
use ecrgc_engine::Catalog;
use ecrgc_review::{Binding, HeaderFields, PlanHeader, WhatIf};

use crate::history::DEMO_ORIGIN;
use crate::inputs::PlanInputs;
use crate::warn::Warn;

/// How a plan was asked for.
pub struct Provenance<'a> {
    /// The configuration file, if one was given.
    pub config_path: Option<&'a Path>,
    /// `--sql-dir`.
    pub sql_dir: Option<&'a Path>,
    /// `--rule` (every rule when empty).
    pub only_rules: &'a [String],
}

/// The shared header of a plan of the chosen run made at `inputs.now` with `catalog` (`items_sha256` is
/// left for the plan kind to fill).
pub async fn plan_header(
    kind: &str,
    inputs: &PlanInputs<'_>,
    provenance: Provenance<'_>,
    catalog: &Catalog,
) -> PlanHeader {
    let (run, config) = (&inputs.chosen.run, inputs.config);
    let mut what_if = WhatIf::new();
    if let Some(dir) = provenance.sql_dir {
        what_if = what_if.because(format!("--sql-dir {}", dir.display()));
    }
    if !provenance.only_rules.is_empty() {
        what_if = what_if.because(format!("--rule {}", provenance.only_rules.join(",")));
    }
    let catalog_sha256 = catalog.sha256();
    if provenance.sql_dir.is_none() && catalog_sha256 != Catalog::builtin().sha256() {
        what_if = what_if.because("the rule catalog is not the one this ecrgc ships");
    }
    let demo = run.origin == DEMO_ORIGIN;
    if demo {
        what_if = what_if.because("the run is a demo organization (ecrgc demo)");
    }
    let planned_by = if demo {
        None
    } else {
        planner(config, inputs.warn).await
    };
    PlanHeader::new(HeaderFields {
        kind,
        run_id: &run.run_id,
        snapshot_time: run.snapshot_time_micros,
        now: inputs.now,
        wall_clock: chrono::Utc::now().timestamp_micros(),
        ttl_hours: i64::from(config.safety.manifest_ttl_hours),
        what_if,
        catalog_sha256,
        planned_by,
        config: Binding::new(provenance.config_path.is_some(), config.bound_settings()),
        store: inputs.store.display(),
    })
}

/// The planner's identity (STS GetCallerIdentity), or `None` with a warning when there is
/// no AWS identity: such a plan cannot meet `approver_must_differ`.
async fn planner(config: &Config, warn: Warn<'_>) -> Option<String> {
    let c = &config.collect;
    let caller = Caller::from_keys(
        c.max_attempts,
        (c.initial_backoff_ms, c.max_backoff_ms),
        1,
        &Default::default(),
    );
    match Aws::load(caller, None).await {
        Ok(aws) if !aws.caller_arn().is_empty() => Some(aws.caller_arn().to_owned()),
        Ok(_) => {
            warn("STS named no caller ARN; the plan records no planner".to_owned());
            None
        }
        Err(e) => {
            warn(format!(
                "the plan records no planner ({e}); a configuration that requires \
                 approvals from someone other than the planner refuses it"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every lifetime the configuration accepts is one admission accepts.
    #[test]
    fn the_longest_manifest_lifetime_is_the_one_apply_admits() {
        assert_eq!(
            i64::try_from(*ecrgc_config::MANIFEST_TTL_HOURS_RANGE.end()),
            Ok(ecrgc_review::MAX_PLAN_LIFETIME_HOURS)
        );
    }
}
