//! Validation: the range of every number, and the checks the TOML types cannot express.
//! A value outside its range is refused rather than clamped; every error names the file,
//! the key and the offending value.

use std::path::Path;

use crate::file::{Config, ConfigError};
use crate::safety::TagSelector;

/// The highest price accepted, USD per GiB-month (ECR lists 0.10): a higher one is a typo
/// (cents for dollars) that would inflate every saving.
pub const MAX_PRICE: f64 = 100.0;
/// `rules.unused_days` and `rules.recent_pull_days`: a day to ten years. To never flag an
/// image for want of use, disable the rules that read it (`stale`, `never_used`,
/// `untagged_fallback`) instead.
pub const UNUSED_DAYS_RANGE: std::ops::RangeInclusive<u64> = 1..=3650;
/// Other day counts (`min_age_days`, `history_days`, margins, `archive_minimum_days`,
/// `trend_days`): none to ten years.
pub const DAYS_RANGE: std::ops::RangeInclusive<u64> = 0..=3650;
/// `rules.rollback_window_hours`: none to a year.
pub const ROLLBACK_WINDOW_HOURS_RANGE: std::ops::RangeInclusive<u64> = 0..=8760;
/// `rules.keep_newest` and `lifecycle.count_margin`.
pub const KEEP_NEWEST_RANGE: std::ops::RangeInclusive<u64> = 0..=10_000;
/// `safety.manifest_ttl_hours`: an hour to 30 days; a manifest older than that describes
/// registries that have moved on.
pub const MANIFEST_TTL_HOURS_RANGE: std::ops::RangeInclusive<u64> = 1..=720;
/// `safety.approvals_required`.
pub const APPROVALS_REQUIRED_RANGE: std::ops::RangeInclusive<u64> = 0..=20;
/// `collect.parallel_units` and `apply.parallel_repositories`.
pub const PARALLELISM_RANGE: std::ops::RangeInclusive<u64> = 1..=1024;
/// `api_concurrency` and its overrides: AWS limits are a few calls per second per API.
pub const API_CONCURRENCY_RANGE: std::ops::RangeInclusive<u64> = 1..=100;
/// `max_attempts`, the first attempt included.
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u64> = 1..=100;
/// `initial_backoff_ms` and `max_backoff_ms`: a millisecond to ten minutes.
pub const BACKOFF_MS_RANGE: std::ops::RangeInclusive<u64> = 1..=600_000;
/// `apply.batch_size`: BatchDeleteImage takes at most 100 image ids.
pub const BATCH_SIZE_RANGE: std::ops::RangeInclusive<u64> = 1..=100;
/// `lifecycle.min_prefix_images`.
pub const MIN_PREFIX_IMAGES_RANGE: std::ops::RangeInclusive<u64> = 2..=10_000;
/// `report.top_repositories`.
pub const TOP_REPOSITORIES_RANGE: std::ops::RangeInclusive<u64> = 1..=1000;

/// The shortest and longest `[apply] lease_seconds` accepted.
pub const LEASE_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 10..=3600;

/// The longest `apply.reference_max_age_seconds`: a view of the workloads older than an hour
/// is not a live check.
pub const MAX_REFERENCE_AGE_SECONDS: u64 = 3600;

/// An integer key, its value and the values it accepts.
struct Bound {
    key: String,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
    unit: &'static str,
    reason: Option<String>,
}

impl Bound {
    fn new(
        key: &str,
        value: impl Into<u64>,
        range: std::ops::RangeInclusive<u64>,
        unit: &'static str,
    ) -> Self {
        Self {
            key: key.to_owned(),
            value: value.into(),
            range,
            unit,
            reason: None,
        }
    }

    /// A reason of its own; it must name the range.
    fn because(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    fn reason(&self) -> String {
        self.reason.clone().unwrap_or_else(|| {
            format!(
                "out of range: {} to {} {}",
                self.range.start(),
                self.range.end(),
                self.unit
            )
        })
    }
}

impl Config {
    /// Checks values the TOML types cannot express.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: &str, reason: &str| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        for (key, list) in [
            ("org.accounts", &self.org.accounts),
            ("org.registry_accounts", &self.org.registry_accounts),
        ] {
            for a in list {
                if !is_account_id(a) {
                    return Err(invalid(key, a, "an account id is 12 digits"));
                }
            }
        }
        // A registry whose own account's workloads are not read would be judged without the
        // workloads most likely to run its images. With discovery the accounts are known
        // only to `collect`, which checks the same after listing the organization.
        if self.org.discover.is_none()
            && !self.org.accounts.is_empty()
            && let Some(a) = self
                .org
                .registry_accounts
                .iter()
                .find(|a| !self.org.accounts.contains(a))
        {
            return Err(invalid(
                "org.registry_accounts",
                a,
                "not among org.accounts: every registry account must also be collected as a \
                 workload account",
            ));
        }
        if let Some(d) = &self.org.discover
            && d != "organizations"
        {
            return Err(invalid(
                "org.discover",
                d,
                "the only discovery is \"organizations\"",
            ));
        }
        for r in &self.org.regions {
            if !is_region(r) {
                return Err(invalid(
                    "org.regions",
                    r,
                    "not a region name like eu-west-1",
                ));
            }
        }
        if let Some(agg) = &self.sources.config_aggregator {
            if !is_account_id(&agg.account) {
                return Err(invalid(
                    "sources.config_aggregator.account",
                    &agg.account,
                    "an account id is 12 digits",
                ));
            }
            if !is_region(&agg.region) {
                return Err(invalid(
                    "sources.config_aggregator.region",
                    &agg.region,
                    "not a region name like eu-west-1",
                ));
            }
        }
        for location in &self.sources.references {
            let bucket = location
                .strip_prefix("s3://")
                .map(|rest| rest.split('/').next());
            if location.trim().is_empty() || bucket.is_some_and(|b| b.is_none_or(str::is_empty)) {
                return Err(invalid(
                    "sources.references",
                    location,
                    "expected a file, a glob pattern like ./gitops/**/*.yaml, or s3://bucket/prefix/",
                ));
            }
        }
        if let Some(c) = self
            .sources
            .kubernetes
            .contexts
            .iter()
            .find(|c| c.trim().is_empty())
        {
            return Err(invalid(
                "sources.kubernetes.contexts",
                c,
                "a context name of the kubeconfig",
            ));
        }
        for id in &self.rules.enable {
            if self.rules.disable.contains(id) {
                return Err(invalid("rules.enable", id, "also listed in rules.disable"));
            }
        }
        if TagSelector::parse(&self.safety.exclude_tag).is_none() {
            return Err(invalid(
                "safety.exclude_tag",
                &self.safety.exclude_tag,
                "expected key=value, or key alone for any value",
            ));
        }
        if !self.safety.opt_in_tag.is_empty()
            && TagSelector::parse(&self.safety.opt_in_tag).is_none()
        {
            return Err(invalid(
                "safety.opt_in_tag",
                &self.safety.opt_in_tag,
                "expected key=value, key alone for any value, or \"\" to let every repository in",
            ));
        }
        for bound in self.numeric_bounds() {
            if !bound.range.contains(&bound.value) {
                return Err(invalid(
                    &bound.key,
                    &bound.value.to_string(),
                    &bound.reason(),
                ));
            }
        }
        let prices = std::iter::once((
            "pricing.storage_gb_month".to_owned(),
            self.pricing.storage_gb_month,
        ))
        .chain(std::iter::once((
            "pricing.archive_gb_month".to_owned(),
            self.pricing.archive_gb_month,
        )))
        .chain(
            self.pricing
                .regions
                .iter()
                .map(|(r, p)| (format!("pricing.regions.{r}"), *p)),
        );
        for (key, price) in prices {
            if !price.is_finite() || !(0.0..=MAX_PRICE).contains(&price) {
                return Err(invalid(
                    &key,
                    &price.to_string(),
                    &format!("a price is a number of USD from 0 to {MAX_PRICE}"),
                ));
            }
        }
        for r in self.pricing.regions.keys() {
            if !is_region(r) {
                return Err(invalid(
                    "pricing.regions",
                    r,
                    "not a region name like eu-west-1",
                ));
            }
        }
        if self.apply.role_name.as_deref() == Some("") {
            return Err(invalid(
                "apply.role_name",
                "",
                "name a role, or leave the key out",
            ));
        }
        self.engine.validate(path)
    }

    /// Every integer key with its value and accepted range, in the order they are checked.
    fn numeric_bounds(&self) -> Vec<Bound> {
        let (r, s, c, a, l, p, t) = (
            &self.rules,
            &self.safety,
            &self.collect,
            &self.apply,
            &self.lifecycle,
            &self.pricing,
            &self.report,
        );
        let mut out = vec![
            Bound::new(
                "rules.unused_days",
                r.unused_days,
                UNUSED_DAYS_RANGE,
                "days",
            ),
            Bound::new(
                "rules.rollback_window_hours",
                r.rollback_window_hours,
                ROLLBACK_WINDOW_HOURS_RANGE,
                "hours",
            ),
            Bound::new(
                "rules.keep_newest",
                r.keep_newest,
                KEEP_NEWEST_RANGE,
                "images",
            ),
            Bound::new("rules.min_age_days", r.min_age_days, DAYS_RANGE, "days"),
            Bound::new(
                "rules.recent_pull_days",
                r.recent_pull_days,
                UNUSED_DAYS_RANGE,
                "days",
            ),
            Bound::new("rules.history_days", r.history_days, DAYS_RANGE, "days"),
            Bound::new(
                "safety.manifest_ttl_hours",
                s.manifest_ttl_hours,
                MANIFEST_TTL_HOURS_RANGE,
                "hours",
            ),
            Bound::new(
                "safety.approvals_required",
                s.approvals_required,
                APPROVALS_REQUIRED_RANGE,
                "approvals",
            ),
            Bound::new(
                "collect.parallel_units",
                c.parallel_units,
                PARALLELISM_RANGE,
                "units",
            ),
            Bound::new(
                "collect.api_concurrency",
                c.api_concurrency,
                API_CONCURRENCY_RANGE,
                "calls",
            ),
            Bound::new(
                "collect.max_attempts",
                c.max_attempts,
                MAX_ATTEMPTS_RANGE,
                "attempts",
            ),
            Bound::new(
                "collect.initial_backoff_ms",
                c.initial_backoff_ms,
                BACKOFF_MS_RANGE,
                "ms",
            ),
            Bound::new(
                "collect.max_backoff_ms",
                c.max_backoff_ms,
                BACKOFF_MS_RANGE,
                "ms",
            ),
            Bound::new(
                "apply.parallel_repositories",
                a.parallel_repositories,
                PARALLELISM_RANGE,
                "repositories",
            ),
            Bound::new(
                "apply.api_concurrency",
                a.api_concurrency,
                API_CONCURRENCY_RANGE,
                "calls",
            ),
            Bound::new("apply.batch_size", a.batch_size, BATCH_SIZE_RANGE, "images")
                .because("BatchDeleteImage takes 1 to 100 images a call"),
            Bound::new(
                "apply.max_attempts",
                a.max_attempts,
                MAX_ATTEMPTS_RANGE,
                "attempts",
            ),
            Bound::new(
                "apply.initial_backoff_ms",
                a.initial_backoff_ms,
                BACKOFF_MS_RANGE,
                "ms",
            ),
            Bound::new(
                "apply.max_backoff_ms",
                a.max_backoff_ms,
                BACKOFF_MS_RANGE,
                "ms",
            ),
            Bound::new(
                "apply.reference_max_age_seconds",
                a.reference_max_age_seconds,
                1..=MAX_REFERENCE_AGE_SECONDS,
                "seconds",
            )
            .because("the live references are re-read after 1 to 3600 seconds"),
            Bound::new(
                "apply.lease_seconds",
                a.lease_seconds,
                LEASE_SECONDS_RANGE,
                "seconds",
            )
            .because(&format!(
                "a lease lasts {} to {} seconds",
                LEASE_SECONDS_RANGE.start(),
                LEASE_SECONDS_RANGE.end()
            )),
            Bound::new(
                "lifecycle.untagged_margin_days",
                l.untagged_margin_days,
                DAYS_RANGE,
                "days",
            ),
            Bound::new(
                "lifecycle.count_margin",
                l.count_margin,
                KEEP_NEWEST_RANGE,
                "images",
            ),
            Bound::new(
                "lifecycle.min_prefix_images",
                l.min_prefix_images,
                MIN_PREFIX_IMAGES_RANGE,
                "images",
            ),
            Bound::new(
                "pricing.archive_minimum_days",
                p.archive_minimum_days,
                DAYS_RANGE,
                "days",
            ),
            Bound::new(
                "report.top_repositories",
                t.top_repositories,
                TOP_REPOSITORIES_RANGE,
                "repositories",
            ),
            Bound::new("report.trend_days", t.trend_days, DAYS_RANGE, "days"),
        ];
        for (section, overrides) in [
            ("collect", &c.api_concurrency_overrides),
            ("apply", &a.api_concurrency_overrides),
        ] {
            for (api, value) in overrides {
                out.push(Bound::new(
                    &format!("{section}.api_concurrency_overrides.{api}"),
                    *value,
                    API_CONCURRENCY_RANGE,
                    "calls",
                ));
            }
        }
        out
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("ecrgc.toml"))
    }
    #[test]
    fn prices_are_per_region_and_must_be_sensible() {
        let c = parse("[pricing]\nregions = { \"sa-east-1\" = 0.15 }\n[report]\nowner_tag = \"cost-center\"\n")
            .expect("valid");
        assert_eq!(c.pricing.storage_price("sa-east-1"), 0.15);
        assert_eq!(c.pricing.storage_price("eu-west-1"), 0.10);
        assert_eq!(c.pricing.archive_minimum_days, 90);
        assert_eq!(c.report.owner_tag, "cost-center");
        let e = parse("[pricing]\nstorage_gb_month = -1.0\n").expect_err("negative");
        assert_eq!(
            e.to_string(),
            "invalid config file ecrgc.toml: `pricing.storage_gb_month` = \"-1\": a price is a \
             number of USD from 0 to 100"
        );
        let e = parse("[pricing]\nregions = { \"moon-1\" = 0.1 }\n").expect_err("region");
        assert!(
            e.to_string().contains("`pricing.regions` = \"moon-1\""),
            "{e}"
        );
    }

    #[test]
    fn registry_accounts_must_be_collected_accounts() {
        let e = parse(
            "[org]\naccounts = [\"111111111111\", \"222222222222\"]\n\
             registry_accounts = [\"111111111111\", \"333333333333\"]\n",
        )
        .expect_err("a registry account outside accounts");
        let msg = e.to_string();
        assert!(
            msg.contains("ecrgc.toml")
                && msg.contains("org.registry_accounts")
                && msg.contains("333333333333"),
            "{msg}"
        );
        // Listed among the accounts: fine.
        parse(
            "[org]\naccounts = [\"111111111111\", \"222222222222\"]\n\
             registry_accounts = [\"222222222222\"]\n",
        )
        .expect("registry among accounts");
        // With discovery the organization's accounts are known only to `collect`.
        parse(
            "[org]\ndiscover = \"organizations\"\naccounts = [\"111111111111\"]\n\
             registry_accounts = [\"333333333333\"]\n",
        )
        .expect("checked after discovery");
    }

    #[test]
    fn the_reference_age_defaults_to_five_minutes_and_is_bounded() {
        assert_eq!(
            parse("").expect("valid").apply.reference_max_age_seconds,
            300
        );
        let c = parse("[apply]\nreference_max_age_seconds = 60\n").expect("valid");
        assert_eq!(c.apply.reference_max_age_seconds, 60);
        for bad in ["0", "3601"] {
            let e = parse(&format!("[apply]\nreference_max_age_seconds = {bad}\n"))
                .expect_err("out of range");
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid config file ecrgc.toml: `apply.reference_max_age_seconds` = \
                     \"{bad}\": the live references are re-read after 1 to 3600 seconds"
                )
            );
        }
    }

    #[test]
    fn the_apply_lease_lasts_two_minutes_unless_configured() {
        assert_eq!(parse("").expect("valid").apply.lease_seconds, 120);
        assert_eq!(
            parse("[apply]\nlease_seconds = 120\n")
                .expect("valid")
                .hash(),
            parse("").expect("valid").hash(),
            "the default lease keeps the hash of every configuration written before it"
        );
        let c = parse("[apply]\nlease_seconds = 600\n").expect("valid");
        assert_eq!(c.apply.lease_seconds, 600);
        for bad in ["0", "9", "3601"] {
            let e = parse(&format!("[apply]\nlease_seconds = {bad}\n")).expect_err(bad);
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid config file ecrgc.toml: `apply.lease_seconds` = \"{bad}\": a lease \
                     lasts 10 to 3600 seconds"
                )
            );
        }
    }

    #[test]
    fn numbers_outside_their_range_are_refused_naming_key_value_and_range() {
        for (text, key, value, range) in [
            (
                "[rules]\nunused_days = 999999999\n",
                "rules.unused_days",
                "999999999",
                "1 to 3650 days",
            ),
            (
                "[rules]\nunused_days = 0\n",
                "rules.unused_days",
                "0",
                "1 to 3650 days",
            ),
            (
                "[safety]\nmanifest_ttl_hours = 100000000\n",
                "safety.manifest_ttl_hours",
                "100000000",
                "1 to 720 hours",
            ),
            (
                "[safety]\nmanifest_ttl_hours = 721\n",
                "safety.manifest_ttl_hours",
                "721",
                "1 to 720 hours",
            ),
            (
                "[rules]\nrollback_window_hours = 8761\n",
                "rules.rollback_window_hours",
                "8761",
                "0 to 8760 hours",
            ),
            (
                "[rules]\nhistory_days = 4000\n",
                "rules.history_days",
                "4000",
                "0 to 3650 days",
            ),
            (
                "[collect]\nmax_attempts = 0\n",
                "collect.max_attempts",
                "0",
                "1 to 100 attempts",
            ),
            (
                "[collect]\napi_concurrency_overrides = { ecr = 500 }\n",
                "collect.api_concurrency_overrides.ecr",
                "500",
                "1 to 100 calls",
            ),
            (
                "[apply]\nmax_backoff_ms = 3600000\n",
                "apply.max_backoff_ms",
                "3600000",
                "1 to 600000 ms",
            ),
            (
                "[report]\ntop_repositories = 0\n",
                "report.top_repositories",
                "0",
                "1 to 1000 repositories",
            ),
            (
                "[lifecycle]\nmin_prefix_images = 1\n",
                "lifecycle.min_prefix_images",
                "1",
                "2 to 10000 images",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid config file ecrgc.toml: `{key}` = {value:?}: out of range: {range}"
                ),
                "{text}"
            );
        }
        let e = parse("[pricing]\nstorage_gb_month = 1e300\n").expect_err("absurd price");
        assert!(e.to_string().contains("from 0 to 100"), "{e}");
    }

    #[test]
    fn every_bound_holds_its_default_and_its_ends() {
        let c = Config::default();
        for b in c.numeric_bounds() {
            assert!(b.range.contains(&b.value), "{} default {}", b.key, b.value);
        }
        parse("[rules]\nunused_days = 3650\nrollback_window_hours = 0\n[safety]\nmanifest_ttl_hours = 720\n")
            .expect("the ends of a range are accepted");
    }
}
