//! Turning the `plan_totals` rows into the report: breakdowns, savings, rounding.

use std::collections::BTreeMap;

use ecrgc_model::format::{GIB, round_cents};
use ecrgc_model::time::rfc3339;
use ecrgc_model::vocabulary::{UNKNOWN_REASON, status};

use super::queries::Total;
use super::{
    DAYS_PER_MONTH, FinopsReport, Group, MONTHS_PER_YEAR, NO_OWNER, REPORT_VERSION, ReportSpec,
    TrendPoint,
};

/// Accumulates the groups of one breakdown.
#[derive(Default)]
struct Breakdown {
    groups: BTreeMap<String, Group>,
    /// Repositories of each group with a manifest share, and whether all have freed bytes.
    freed_complete: BTreeMap<String, bool>,
}

impl Breakdown {
    fn entry(&mut self, key: &str) -> &mut Group {
        self.groups.entry(key.to_owned()).or_insert_with(|| Group {
            key: key.to_owned(),
            ..Default::default()
        })
    }

    fn add_freed(&mut self, key: &str, freed: Option<u64>) {
        let complete = self.freed_complete.entry(key.to_owned()).or_insert(true);
        *complete &= freed.is_some();
        let g = self.entry(key);
        g.freed_bytes = Some(g.freed_bytes.unwrap_or(0) + freed.unwrap_or(0));
    }

    /// The groups, largest manifest share first (then by key).
    fn finish(mut self, with_freed: bool) -> Vec<Group> {
        for (key, g) in &mut self.groups {
            g.yearly_usd = g.monthly_usd * MONTHS_PER_YEAR;
            if !with_freed || !self.freed_complete.get(key).copied().unwrap_or(false) {
                g.freed_bytes = None;
            }
        }
        let mut groups: Vec<Group> = self.groups.into_values().collect();
        groups.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then(b.not_opted_in_bytes.cmp(&a.not_opted_in_bytes))
                .then(a.key.cmp(&b.key))
        });
        groups
    }
}

/// The report from the `plan_totals` rows, the freed bytes per repository and the trend.
pub(super) fn assemble(
    spec: &ReportSpec<'_>,
    totals: &[Total],
    freed: &BTreeMap<String, Option<u64>>,
    trend: Vec<TrendPoint>,
) -> FinopsReport {
    let pricing = spec.pricing;
    let mut r = FinopsReport {
        report_version: REPORT_VERSION,
        run_id: spec.run_id.to_owned(),
        snapshot_time: rfc3339(spec.snapshot_time),
        now: rfc3339(spec.now),
        currency: "USD".to_owned(),
        pricing: pricing.clone(),
        owner_tag: spec.report.owner_tag.clone(),
        trend,
        ..Default::default()
    };
    let layers_collected = freed.values().any(Option::is_some);
    let (mut by_rule, mut by_account, mut by_region, mut by_owner, mut by_repo, mut protected) = (
        Breakdown::default(),
        Breakdown::default(),
        Breakdown::default(),
        Breakdown::default(),
        Breakdown::default(),
        Breakdown::default(),
    );
    for t in totals {
        let price = if t.status == status::STORED_ARCHIVED {
            pricing.archive_gb_month
        } else {
            pricing.storage_price(&t.region)
        };
        let monthly = t.bytes as f64 / GIB * price;
        let repo = t.repository();
        let owner = t.owner.as_deref().unwrap_or(NO_OWNER);
        let place = [
            (&mut by_account, t.account_id.as_str()),
            (&mut by_region, t.region.as_str()),
            (&mut by_owner, owner),
            (&mut by_repo, repo.as_str()),
        ];
        let rule = t.rule.as_deref().unwrap_or(UNKNOWN_REASON);
        match t.status.as_str() {
            status::STORED | status::STORED_ARCHIVED => {
                r.stored.add(t.images, t.bytes, monthly);
                if t.status == status::STORED_ARCHIVED {
                    r.stored_archived.add(t.images, t.bytes, monthly);
                }
                // Every group gets its stored bytes; groups with nothing flagged are dropped
                // at the end.
                for (b, key) in place {
                    b.entry(key).stored_bytes += t.bytes;
                }
            }
            status::DELETE => {
                r.delete.add(t.images, t.bytes, monthly);
                let g = by_rule.entry(rule);
                g.images += t.images;
                g.bytes += t.bytes;
                g.monthly_usd += monthly;
                for (b, key) in place {
                    let g = b.entry(key);
                    g.images += t.images;
                    g.bytes += t.bytes;
                    g.monthly_usd += monthly;
                }
            }
            status::NOT_OPTED_IN => {
                r.not_opted_in.add(t.images, t.bytes, monthly);
                let g = by_rule.entry(rule);
                g.not_opted_in_images += t.images;
                g.not_opted_in_bytes += t.bytes;
                for (b, key) in place {
                    let g = b.entry(key);
                    g.not_opted_in_images += t.images;
                    g.not_opted_in_bytes += t.bytes;
                }
            }
            status::PROTECTED => {
                r.protected.add(t.images, t.bytes, monthly);
                let g = protected.entry(rule);
                g.images += t.images;
                g.bytes += t.bytes;
                g.monthly_usd += monthly;
            }
            status::KEPT_WITH_PARENT => r.kept_with_parent.add(t.images, t.bytes, monthly),
            _ => {}
        }
    }
    // Freed bytes: per repository of the manifest, summed into the groups that hold it.
    let mut seen = std::collections::BTreeSet::new();
    for t in totals.iter().filter(|t| t.status == status::DELETE) {
        let repo = t.repository();
        if !seen.insert(repo.clone()) {
            continue;
        }
        let f = freed.get(&repo).copied().flatten();
        r.layers.repositories += 1;
        if f.is_some() {
            r.layers.repositories_with_layers += 1;
        }
        let owner = t.owner.as_deref().unwrap_or(NO_OWNER);
        by_account.add_freed(&t.account_id, f);
        by_region.add_freed(&t.region, f);
        by_owner.add_freed(owner, f);
        by_repo.add_freed(&repo, f);
    }
    let all_freed = layers_collected
        && r.layers.repositories > 0
        && r.layers.repositories == r.layers.repositories_with_layers;
    let flagged = |g: &Group| g.images > 0 || g.not_opted_in_images > 0;
    r.by_rule = by_rule.finish(false);
    r.by_account = by_account.finish(layers_collected);
    r.by_region = by_region.finish(layers_collected);
    r.by_owner = by_owner.finish(layers_collected);
    r.by_repository = by_repo.finish(layers_collected);
    for list in [
        &mut r.by_account,
        &mut r.by_region,
        &mut r.by_owner,
        &mut r.by_repository,
    ] {
        list.retain(flagged);
    }
    r.top_repositories = r
        .by_repository
        .iter()
        .filter(|g| g.images > 0)
        .take(spec.report.top_repositories as usize)
        .cloned()
        .collect();
    r.protected_by_reason = protected.finish(false);

    let s = &mut r.savings;
    s.delete_monthly_usd = r.delete.monthly_usd;
    s.delete_yearly_usd = r.delete.monthly_usd * MONTHS_PER_YEAR;
    if all_freed {
        let freed_total: u64 = r.by_repository.iter().filter_map(|g| g.freed_bytes).sum();
        // Priced at each repository's region.
        let freed_monthly: f64 = r
            .by_repository
            .iter()
            .filter_map(|g| {
                let region = g.key.split('/').nth(1)?;
                Some(g.freed_bytes? as f64 / GIB * pricing.storage_price(region))
            })
            .sum();
        s.freed_bytes = Some(freed_total);
        s.freed_monthly_usd = Some(freed_monthly);
    }
    let archive_monthly = r.delete.bytes as f64 / GIB * pricing.archive_gb_month;
    s.archive_monthly_cost_usd = archive_monthly;
    s.archive_monthly_usd = r.delete.monthly_usd - archive_monthly;
    s.archive_yearly_usd = s.archive_monthly_usd * MONTHS_PER_YEAR;
    s.archive_minimum_charge_usd =
        archive_monthly * f64::from(pricing.archive_minimum_days) / DAYS_PER_MONTH;
    s.not_opted_in_monthly_usd = r.not_opted_in.monthly_usd;
    round_report(&mut r);
    r
}

/// Rounds every USD figure to the cent, so that the JSON, the CSV, the terminal and the
/// HTML page all show the same numbers.
fn round_report(r: &mut FinopsReport) {
    for f in [
        &mut r.stored,
        &mut r.stored_archived,
        &mut r.delete,
        &mut r.not_opted_in,
        &mut r.protected,
        &mut r.kept_with_parent,
    ] {
        f.monthly_usd = round_cents(f.monthly_usd);
    }
    let s = &mut r.savings;
    for v in [
        &mut s.delete_monthly_usd,
        &mut s.delete_yearly_usd,
        &mut s.archive_monthly_cost_usd,
        &mut s.archive_monthly_usd,
        &mut s.archive_yearly_usd,
        &mut s.archive_minimum_charge_usd,
        &mut s.not_opted_in_monthly_usd,
    ] {
        *v = round_cents(*v);
    }
    s.freed_monthly_usd = s.freed_monthly_usd.map(round_cents);
    for list in [
        &mut r.by_rule,
        &mut r.by_account,
        &mut r.by_region,
        &mut r.by_owner,
        &mut r.by_repository,
        &mut r.top_repositories,
        &mut r.protected_by_reason,
    ] {
        for g in list.iter_mut() {
            g.monthly_usd = round_cents(g.monthly_usd);
            g.yearly_usd = round_cents(g.yearly_usd);
        }
    }
}
