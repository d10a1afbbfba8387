//! `[pricing]` and `[report]`: the prices savings are computed with and what the FinOps
//! report groups by.

use serde::{Deserialize, Serialize};

/// `[pricing]`: ECR storage prices in USD per GiB-month (AWS bills storage per GB-month,
/// with a GB of 2^30 bytes). The defaults are ECR's list prices; set your own when a
/// contract or a region differs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    /// Standard storage, every region not listed in `regions`; every price is 0 to
    /// [`crate::MAX_PRICE`].
    #[serde(default = "default_storage_price")]
    pub storage_gb_month: f64,
    /// Standard storage by region, e.g. `{ "sa-east-1" = 0.12 }`.
    #[serde(default)]
    pub regions: std::collections::BTreeMap<String, f64>,
    /// Archive storage class, every region.
    #[serde(default = "default_archive_price")]
    pub archive_gb_month: f64,
    /// Days of archive storage charged at least, even when an image is deleted sooner, 0 to
    /// 3650.
    #[serde(default = "default_archive_minimum_days")]
    pub archive_minimum_days: u32,
}

impl Default for PricingConfig {
    fn default() -> Self {
        Self {
            storage_gb_month: default_storage_price(),
            regions: Default::default(),
            archive_gb_month: default_archive_price(),
            archive_minimum_days: default_archive_minimum_days(),
        }
    }
}

impl PricingConfig {
    /// Standard storage price of a region, USD per GiB-month.
    pub fn storage_price(&self, region: &str) -> f64 {
        self.regions
            .get(region)
            .copied()
            .unwrap_or(self.storage_gb_month)
    }
}

fn default_storage_price() -> f64 {
    0.10
}
fn default_archive_price() -> f64 {
    0.01
}
fn default_archive_minimum_days() -> u32 {
    90
}

/// `[report]`: the FinOps report's groupings and trend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Repository tag whose value names the owner (team, cost centre); "" for none.
    #[serde(default = "default_owner_tag")]
    pub owner_tag: String,
    /// Repositories listed in the top-repositories table, 1 to 1000.
    #[serde(default = "default_top_repositories")]
    pub top_repositories: u32,
    /// Days of earlier plans the trend shows, 0 to 3650.
    #[serde(default = "default_trend_days")]
    pub trend_days: u32,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            owner_tag: default_owner_tag(),
            top_repositories: default_top_repositories(),
            trend_days: default_trend_days(),
        }
    }
}

fn default_owner_tag() -> String {
    "team".to_owned()
}
fn default_top_repositories() -> u32 {
    10
}
fn default_trend_days() -> u32 {
    30
}
