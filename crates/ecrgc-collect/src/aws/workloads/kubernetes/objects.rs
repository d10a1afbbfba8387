//! The images a Kubernetes object names, by kind.
//!
//! Every workload kind carries a pod template (`spec.template.spec`; a CronJob one level
//! deeper, `spec.jobTemplate.spec.template.spec`), and a pod its own spec. A pod spec names
//! images in `containers[]`, `initContainers[]` and `ephemeralContainers[]` (Kubernetes API
//! reference, `PodSpec`). A pod's status says which digest each container really runs:
//! `containerStatuses[].imageID` (and the init and ephemeral statuses) is the image's
//! repository digest as the runtime resolved it, `…/repo@sha256:…`, possibly with a
//! `docker-pullable://` prefix. Only the digest after `@` is used: a bare `sha256:…` there
//! is the image's local id (its configuration digest with some runtimes), not a manifest
//! digest, and matches no ECR image.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// One image an object names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    /// The container's name.
    pub container: String,
    /// The image string as written.
    pub image: String,
    /// The digest the container runs, from a pod's status.
    pub resolved_digest: Option<String>,
}

/// What one object contributes: where it is, its status and its images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Workload {
    pub namespace: String,
    pub name: String,
    /// A pod's phase (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`); `ACTIVE` for
    /// the other kinds, which are deployments whatever their replica count.
    pub status: String,
    pub images: Vec<Named>,
}

/// A kind the collector lists, with how its objects name images.
pub(crate) trait Kind {
    /// The `workload_refs.kind`, e.g. `deployment`.
    const KIND: &'static str;
    /// The resource's plural, as in the API path and in RBAC rules.
    const PLURAL: &'static str;
    /// The object's workload.
    fn workload(&self) -> Workload;
}

fn spec_images(spec: Option<&PodSpec>) -> Vec<Named> {
    let Some(spec) = spec else {
        return Vec::new();
    };
    let plain = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| (c.name.clone(), c.image.clone()));
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| (c.name.clone(), c.image.clone()));
    plain
        .chain(ephemeral)
        .filter_map(|(container, image)| {
            Some(Named {
                container,
                image: image?,
                resolved_digest: None,
            })
        })
        .collect()
}

/// The manifest digest of a container status' `imageID`, when it names one.
pub(crate) fn digest_of_image_id(image_id: &str) -> Option<&str> {
    let (_, digest) = image_id.rsplit_once('@')?;
    (digest.starts_with("sha256:") && digest.len() == 71).then_some(digest)
}

fn meta(m: &ObjectMeta) -> (String, String) {
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

fn active(m: &ObjectMeta, images: Vec<Named>) -> Workload {
    let (namespace, name) = meta(m);
    Workload {
        namespace,
        name,
        status: "ACTIVE".to_owned(),
        images,
    }
}

impl Kind for Pod {
    const KIND: &'static str = "pod";
    const PLURAL: &'static str = "pods";
    fn workload(&self) -> Workload {
        let mut images = spec_images(self.spec.as_ref());
        let status = self.status.as_ref();
        let statuses: Vec<&ContainerStatus> = status
            .into_iter()
            .flat_map(|s| {
                s.container_statuses
                    .iter()
                    .flatten()
                    .chain(s.init_container_statuses.iter().flatten())
                    .chain(s.ephemeral_container_statuses.iter().flatten())
            })
            .collect();
        for named in &mut images {
            named.resolved_digest = statuses
                .iter()
                .find(|s| s.name == named.container)
                .and_then(|s| digest_of_image_id(&s.image_id))
                .map(str::to_owned);
        }
        let (namespace, name) = meta(&self.metadata);
        Workload {
            namespace,
            name,
            status: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".to_owned()),
            images,
        }
    }
}

macro_rules! templated {
    ($ty:ty, $kind:literal, $plural:literal) => {
        impl Kind for $ty {
            const KIND: &'static str = $kind;
            const PLURAL: &'static str = $plural;
            fn workload(&self) -> Workload {
                active(
                    &self.metadata,
                    spec_images(self.spec.template.spec.as_ref()),
                )
            }
        }
    };
}

templated!(Deployment, "deployment", "deployments");
templated!(StatefulSet, "statefulset", "statefulsets");
templated!(DaemonSet, "daemonset", "daemonsets");

impl Kind for Job {
    const KIND: &'static str = "job";
    const PLURAL: &'static str = "jobs";
    fn workload(&self) -> Workload {
        let spec = self.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        active(&self.metadata, spec_images(spec))
    }
}

impl Kind for ReplicaSet {
    const KIND: &'static str = "replicaset";
    const PLURAL: &'static str = "replicasets";
    fn workload(&self) -> Workload {
        // A ReplicaSet's template is optional in the API (`ReplicaSetSpec.template`).
        let spec = self.spec.template.as_ref().and_then(|t| t.spec.as_ref());
        active(&self.metadata, spec_images(spec))
    }
}

impl Kind for CronJob {
    const KIND: &'static str = "cronjob";
    const PLURAL: &'static str = "cronjobs";
    fn workload(&self) -> Workload {
        let spec = self
            .spec
            .job_template
            .spec
            .as_ref()
            .and_then(|j| j.template.spec.as_ref());
        active(&self.metadata, spec_images(spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_names_every_container_and_the_digest_it_runs() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "shop"},
            "spec": {
                "containers": [{"name": "app", "image": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/web:v1"}],
                "initContainers": [{"name": "init", "image": "busybox"}],
                "ephemeralContainers": [{"name": "debug", "image": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/tools:1"}]
            },
            "status": {
                "phase": "Running",
                "containerStatuses": [{
                    "name": "app", "image": "x", "ready": true, "restartCount": 0,
                    "imageID": format!("docker-pullable://111111111111.dkr.ecr.eu-west-1.amazonaws.com/web@{digest}")
                }],
                "initContainerStatuses": [{
                    "name": "init", "image": "busybox", "ready": true, "restartCount": 0,
                    "imageID": "sha256:0123"
                }]
            }
        }))
        .expect("pod");
        let w = pod.workload();
        assert_eq!((w.namespace.as_str(), w.name.as_str()), ("shop", "web-1"));
        assert_eq!(w.status, "Running");
        let got: Vec<_> = w
            .images
            .iter()
            .map(|n| (n.container.as_str(), n.resolved_digest.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("app", Some(digest.as_str())),
                ("init", None),
                ("debug", None)
            ]
        );
    }

    #[test]
    fn a_cron_job_names_its_job_templates_images() {
        let cron: CronJob = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "nightly", "namespace": "ops"},
            "spec": {"schedule": "0 0 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "run", "image": "repo:1"}]
            }}}}}
        }))
        .expect("cronjob");
        let w = cron.workload();
        assert_eq!(w.status, "ACTIVE");
        assert_eq!(w.images.len(), 1);
        assert_eq!(w.images[0].image, "repo:1");
    }

    #[test]
    fn only_a_repository_digest_is_a_resolved_digest() {
        let d = format!("sha256:{}", "b".repeat(64));
        assert_eq!(digest_of_image_id(&format!("repo@{d}")), Some(d.as_str()));
        assert_eq!(digest_of_image_id(&d), None);
        assert_eq!(digest_of_image_id("repo@sha256:short"), None);
    }
}
