//! Kubernetes workloads: EKS clusters of every workload account × region (`eks`), and
//! clusters outside EKS through kubeconfig contexts (`kubernetes`).
//!
//! Each cluster's API is listed for every kind that runs or can start a pod — pods,
//! Deployments, StatefulSets, DaemonSets, ReplicaSets (a Deployment's old ReplicaSets,
//! scaled to zero, are what `kubectl rollout undo` goes back to), Jobs and CronJobs — across
//! all namespaces. Every container of every object is a workload reference (source `eks` or
//! `kubernetes`, kind `pod`, `deployment`, `statefulset`, `daemonset`, `replicaset`, `job`,
//! `cronjob`) whose resource is `<cluster>/namespaces/<namespace>/<plural>/<name>`, the
//! cluster being the EKS cluster's ARN or `kubernetes://<context>`. A running pod's status
//! adds the digest it really runs (`resolved_digest`; see [`objects`]).
//!
//! A kind that cannot be listed (token refused, endpoint unreachable, RBAC denies the kind)
//! is a partial failure of the unit: the unit is `error` in `collection_coverage`, and the
//! `usage_coverage_gap` guard keeps every repository the account can pull (for a kubeconfig
//! context, whose pulling account is unknown, every repository). The other kinds and
//! clusters are still read, so their references protect too. After a `401` the cluster's
//! remaining kinds are not tried: the token is refused for all of them.
//!
//! The collector needs `list` on these resources in every namespace; on EKS an access entry
//! for the collector role with the `AmazonEKSViewPolicy` access policy at cluster scope
//! grants it (Amazon EKS User Guide, "Associate access policies with access entries"; the
//! policy's rules include `list` on pods, deployments, replicasets, statefulsets,
//! daemonsets, jobs and cronjobs).

mod contexts;
mod eks;
mod list;
pub(crate) mod objects;
mod token;

use std::time::{Duration, SystemTime};

use aws_types::SdkConfig;
use ecrgc_aws::{Failure, FailureKind};
use http::HeaderValue;
use http::header::AUTHORIZATION;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use serde::de::DeserializeOwned;

pub use contexts::read as read_context;
pub use eks::read as read_eks;

use super::{Named, Reading};
use crate::aws::unit::Api;
use objects::Kind;

/// How to reach a cluster's API. A client is made per kind, so that every listing starts
/// with a fresh EKS token.
pub(crate) enum Connect {
    /// An EKS cluster: its endpoint and CA, and the session signing its tokens.
    Eks(Box<EksCluster>),
    /// A kubeconfig context, with its own credentials.
    Kubeconfig(Box<kube::Config>),
}

/// How an EKS cluster's API is reached.
pub(crate) struct EksCluster {
    pub config: SdkConfig,
    pub region: String,
    pub name: String,
    pub endpoint: http::Uri,
    pub certificates: Vec<Vec<u8>>,
}

/// Time allowed to connect to a cluster's API, and to read one answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(120);

impl Connect {
    async fn client(&self) -> Result<kube::Client, Failure> {
        // kube builds its TLS configuration from the process' default provider, which rustls
        // cannot choose by itself when both of its providers are compiled in. An error only
        // says one is installed already.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let config = match self {
            Self::Kubeconfig(config) => (**config).clone(),
            Self::Eks(eks) => {
                let EksCluster {
                    config,
                    region,
                    name,
                    endpoint,
                    certificates,
                } = &**eks;
                let token = token::eks_token(config, region, name, SystemTime::now()).await?;
                let mut k = kube::Config::new(endpoint.clone());
                k.root_cert = Some(certificates.clone());
                k.connect_timeout = Some(CONNECT_TIMEOUT);
                k.read_timeout = Some(READ_TIMEOUT);
                let mut bearer = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|e| Failure::other(format!("EKS token: {e}")))?;
                bearer.set_sensitive(true);
                k.headers.push((AUTHORIZATION, bearer));
                k
            }
        };
        kube::Client::try_from(config).map_err(|e| list::classify(&e))
    }
}

/// Reads every kind of the cluster `id` (its ARN, or `kubernetes://<context>`) into
/// `reading`.
pub(crate) async fn read_cluster(api: &Api, id: &str, connect: &Connect, reading: &mut Reading) {
    if read_kind::<Pod>(api, id, connect, reading).await {
        return;
    }
    read_kind::<Deployment>(api, id, connect, reading).await;
    read_kind::<StatefulSet>(api, id, connect, reading).await;
    read_kind::<DaemonSet>(api, id, connect, reading).await;
    read_kind::<ReplicaSet>(api, id, connect, reading).await;
    read_kind::<Job>(api, id, connect, reading).await;
    read_kind::<CronJob>(api, id, connect, reading).await;
}

/// Lists one kind into `reading`; whether the cluster refused the credentials (`401`).
async fn read_kind<K>(api: &Api, id: &str, connect: &Connect, reading: &mut Reading) -> bool
where
    K: kube::Resource<Scope = NamespaceResourceScope>
        + Kind
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let listed = match connect.client().await {
        Ok(client) => list::list_all::<K>(client, &api.stats, api.caller.totals()).await,
        Err(f) => Err(f),
    };
    let objects = match listed {
        Ok(objects) => objects,
        Err(f) => {
            let refused = f.kind == FailureKind::Denied
                && matches!(f.code.as_deref(), Some("Unauthorized" | "401"));
            reading.partial.push(f.context(format!("cluster {id}")));
            return refused;
        }
    };
    for object in &objects {
        let w = object.workload();
        let resource = format!("{id}/namespaces/{}/{}/{}", w.namespace, K::PLURAL, w.name);
        reading.refs.extend(w.images.into_iter().map(|n| Named {
            kind: K::KIND,
            resource: resource.clone(),
            status: w.status.clone(),
            container: Some(n.container),
            image: n.image,
            resolved_digest: n.resolved_digest,
        }));
    }
    false
}
