//! `[org]` and `[sources]`: which accounts, regions and usage sources are collected.

use serde::{Deserialize, Serialize};

/// `[org]`: accounts, role and regions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// Accounts listed explicitly.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// `organizations` to discover accounts through AWS Organizations.
    pub discover: Option<String>,
    /// Role assumed in every account but the caller's own.
    #[serde(default = "default_role_name")]
    pub role_name: String,
    /// Regions read in every account.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Accounts whose ECR is inventoried; empty means all.
    #[serde(default)]
    pub registry_accounts: Vec<String>,
}

impl Default for OrgConfig {
    fn default() -> Self {
        Self {
            accounts: Vec::new(),
            discover: None,
            role_name: default_role_name(),
            regions: Vec::new(),
            registry_accounts: Vec::new(),
        }
    }
}

fn default_role_name() -> String {
    "ecrgc-collector".into()
}

/// `[sources]`: which usage sources are read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// Inspector2 coverage.
    #[serde(default = "yes")]
    pub inspector: bool,
    /// ECS task definitions, services (their task sets, the digests their current
    /// revisions pin, the revisions of deployments inside the rollback window) and tasks.
    /// Nothing else sees services (the Config aggregator never does), so `false` makes every
    /// workload account × region an `ecs` `disabled` coverage gap: `plan` then keeps every
    /// image those accounts can pull.
    #[serde(default = "yes")]
    pub ecs: bool,
    /// Lambda image functions.
    #[serde(default = "yes")]
    pub lambda: bool,
    /// AWS Config aggregator holding ECS task definitions of the whole organization.
    pub config_aggregator: Option<AggregatorConfig>,
    /// Layer sizes of every single-platform image (`collect --layers`): one BatchGetImage
    /// per 100 images, each a pull unless the collector role has ECR's pull-time update
    /// exclusion. Off by default; `--layers` / `--no-layers` override it.
    // Left out of the serialized form when off, so configurations written before the key
    // existed keep their hash (plans record it; apply compares it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub layers: bool,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            inspector: true,
            ecs: true,
            lambda: true,
            config_aggregator: None,
            layers: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// Where the Config aggregator lives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AggregatorConfig {
    /// Account holding the aggregator.
    pub account: String,
    /// Region of the aggregator.
    pub region: String,
    /// Aggregator name.
    pub name: String,
}
