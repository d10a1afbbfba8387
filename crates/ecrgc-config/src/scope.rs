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
    // The sources below are left out of the serialized form at their defaults, so
    // configurations written before they existed keep their hash.
    /// EKS clusters of every workload account × region: ListClusters, DescribeCluster, then
    /// each cluster's Kubernetes API with an EKS token of the collector role (pods,
    /// deployments, stateful sets, daemon sets, replica sets, jobs, cron jobs). A cluster that
    /// cannot be read is an `eks` coverage gap for what its account can pull.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub eks: bool,
    /// AWS Batch job definitions (ACTIVE, and INACTIVE inside the rollback window).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub batch: bool,
    /// App Runner services whose source is an image repository.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub apprunner: bool,
    /// SageMaker models (primary container and containers) and the endpoint configurations
    /// that use them.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub sagemaker: bool,
    /// CodeBuild projects (`environment.image`).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub codebuild: bool,
    /// Kubernetes clusters outside EKS, read through kubeconfig contexts.
    #[serde(default, skip_serializing_if = "KubernetesConfig::is_empty")]
    pub kubernetes: KubernetesConfig,
    /// Declared references: local files (glob patterns) or S3 prefixes (`s3://bucket/prefix/`)
    /// whose text is scanned for ECR image URIs; every match is a live reference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

/// `[sources.kubernetes]`: clusters read through a kubeconfig.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Contexts of the kubeconfig to read, each a cluster and its credentials.
    #[serde(default)]
    pub contexts: Vec<String>,
    /// The kubeconfig file; else `KUBECONFIG`, else `~/.kube/config`.
    pub kubeconfig: Option<String>,
}

impl KubernetesConfig {
    fn is_empty(&self) -> bool {
        self.contexts.is_empty() && self.kubeconfig.is_none()
    }
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            inspector: true,
            ecs: true,
            lambda: true,
            config_aggregator: None,
            layers: false,
            eks: true,
            batch: true,
            apprunner: true,
            sagemaker: true,
            codebuild: true,
            kubernetes: KubernetesConfig::default(),
            references: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
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
