//! The workload sources beyond ECS and Lambda, read again with the collector's own readers
//! (`ecrgc_collect::aws::workloads`): per account × region EKS clusters (an EKS token of the
//! executor role: it needs the same access entry as the collector role), AWS Batch job
//! definitions, App Runner services, SageMaker models and endpoint configurations and
//! CodeBuild projects; once per reading every kubeconfig context and declared-reference
//! location of the configuration.
//!
//! A reference counts when [`Named::is_live`] says so: a pod not finished, every Kubernetes
//! workload object, an App Runner service not `DELETED`, an `ACTIVE` Batch definition (an
//! `INACTIVE` one was judged by the plan against the rollback window with the history only
//! the plan reads), every SageMaker model and endpoint configuration, CodeBuild project and
//! declared reference. A declared reference naming a repository without a tag or digest
//! matches every image of it, as in the plan. Any part that cannot be read (a cluster that
//! refuses the token, a kind RBAC denies, an unreadable file) is a failure of the reading:
//! nothing is deleted while it holds one.

use ecrgc_aws::{AccountSession, Caller, Failure};
use ecrgc_collect::aws::Api;
use ecrgc_collect::aws::workloads::{self, PER_ACCOUNT, Reading};
use ecrgc_config::SourcesConfig;

use crate::checks::references::found::Found;

/// The cache place of a kubeconfig context: `kubernetes://<context>`.
pub const CONTEXT_PLACE: &str = "kubernetes://";
/// The cache place of a declared-reference location: `references:<location>`.
pub const REFERENCES_PLACE: &str = "references:";

/// Which workload sources are read again: those the configuration collects.
#[derive(Debug, Clone, Default)]
pub struct WorkloadSources {
    /// The per-account sources switched on, by name (`eks`, `batch`, …).
    pub per_account: Vec<&'static str>,
    /// The kubeconfig file of the contexts.
    pub kubeconfig: Option<String>,
    /// Places read once per reading: contexts and declared-reference locations.
    pub once: Vec<String>,
}

impl WorkloadSources {
    /// The sources `[sources]` collects.
    pub fn from_config(s: &SourcesConfig) -> Self {
        let on = [s.eks, s.batch, s.apprunner, s.sagemaker, s.codebuild];
        Self {
            per_account: PER_ACCOUNT
                .iter()
                .zip(on)
                .filter_map(|(name, on)| on.then_some(*name))
                .collect(),
            kubeconfig: s.kubernetes.kubeconfig.clone(),
            once: s
                .kubernetes
                .contexts
                .iter()
                .map(|c| format!("{CONTEXT_PLACE}{c}"))
                .chain(
                    s.references
                        .iter()
                        .map(|l| format!("{REFERENCES_PLACE}{l}")),
                )
                .collect(),
        }
    }

    /// Whether `place` is one of the places read once (not an account).
    pub fn is_once(place: &str) -> bool {
        place.starts_with(CONTEXT_PLACE) || place.starts_with(REFERENCES_PLACE)
    }
}

/// Reads the per-account sources of `account` and `region` into `found`.
pub(crate) async fn read_account(
    caller: &Caller,
    session: &AccountSession,
    (account, region): (&str, &str),
    sources: &WorkloadSources,
    fan_out: usize,
    found: &mut Found,
) {
    let config = session.in_region(region);
    for source in &sources.per_account {
        let api = Api::new(caller.clone(), account, region);
        let read = workloads::read_source(&api, source, &config, fan_out).await;
        absorb(found, &format!("{account}/{region} {source}"), read);
    }
}

/// Reads one context or declared-reference location into `found`.
pub(crate) async fn read_once(
    caller: &Caller,
    place: &str,
    sources: &WorkloadSources,
    found: &mut Found,
) {
    let read = if let Some(context) = place.strip_prefix(CONTEXT_PLACE) {
        let api = Api::new(caller.clone(), context, "");
        workloads::read_context(&api, sources.kubeconfig.as_deref()).await
    } else if let Some(location) = place.strip_prefix(REFERENCES_PLACE) {
        workloads::declared::read(location).await
    } else {
        Err(Failure::other(format!("unknown place {place}")))
    };
    absorb(found, place, read);
}

fn absorb(found: &mut Found, what: &str, read: Result<Reading, Failure>) {
    match read {
        Ok(reading) => {
            for n in reading.refs.iter().filter(|n| n.is_live()) {
                found.examined += 1;
                if n.names_whole_repository() {
                    found.add_repository(&n.image, &n.resource);
                } else {
                    found.add(&n.image, n.resolved_digest.as_deref(), &n.resource);
                }
            }
            found
                .failures
                .extend(reading.partial.iter().map(|f| format!("{what}: {f}")));
        }
        Err(f) => found.failures.push(format!("{what}: {f}")),
    }
}
