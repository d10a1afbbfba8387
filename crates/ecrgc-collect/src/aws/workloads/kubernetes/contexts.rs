//! Clusters outside EKS, one unit per kubeconfig context (`[sources.kubernetes] contexts`).
//!
//! The kubeconfig is `sources.kubernetes.kubeconfig`, else the first file of `KUBECONFIG`,
//! else `~/.kube/config`; the context brings its cluster, CA and credentials (a token, a
//! client certificate or an exec plugin such as `aws eks get-token`), read by kube's own
//! kubeconfig loader. A kubeconfig or context that cannot be loaded fails the unit. Which
//! AWS account such a cluster pulls ECR images as is not known, so the unit's coverage row
//! carries the context's name in place of an account and an empty region, and a failed
//! context keeps every repository (`usage_coverage_gap`).

use ecrgc_aws::Failure;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::{Connect, Reading, read_cluster};
use crate::aws::unit::Api;

/// Reads the references of the context `api` is named after (its account).
pub async fn read(api: &Api, kubeconfig: Option<&str>) -> Result<Reading, Failure> {
    let context = api.account.clone();
    let file = match kubeconfig {
        Some(path) => Kubeconfig::read_from(expand_home(path))
            .map_err(|e| Failure::other(format!("kubeconfig {path}: {e}")))?,
        None => Kubeconfig::read().map_err(|e| Failure::other(format!("kubeconfig: {e}")))?,
    };
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(|e| Failure::other(format!("kubeconfig context {context}: {e}")))?;
    let mut reading = Reading::default();
    let id = format!("kubernetes://{context}");
    read_cluster(
        api,
        &id,
        &Connect::Kubeconfig(Box::new(config)),
        &mut reading,
    )
    .await;
    Ok(reading)
}

/// `~/…` under the home directory, as a shell would read it.
fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::Path::new(&home).join(rest),
        _ => std::path::PathBuf::from(path),
    }
}
