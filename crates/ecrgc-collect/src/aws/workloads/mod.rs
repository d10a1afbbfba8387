//! The workload sources beyond ECS and Lambda, as readers shared by `collect` and by the
//! executor's live re-check (`ecrgc-exec`, `checks/references`): each reads one account ×
//! region (a kubeconfig context, a declared-reference location) into a [`Reading`] of
//! [`Named`] references, which the collector records in `workload_refs` and the executor
//! matches against the images it is about to delete.
//!
//! | source | reader | kinds |
//! |---|---|---|
//! | `eks` | [`read_eks`] | `pod`, `deployment`, `statefulset`, `daemonset`, `replicaset`, `job`, `cronjob` |
//! | `kubernetes` | [`read_context`] | the same |
//! | `batch` | [`batch::read`] | `batch_job_definition` |
//! | `apprunner` | [`apprunner::read`] | `apprunner_service` |
//! | `sagemaker` | [`sagemaker::read`] | `sagemaker_model`, `sagemaker_endpoint_config` |
//! | `codebuild` | [`codebuild::read`] | `codebuild_project` |
//! | `references` | [`declared::read`] | `file`, `file_repository` |

pub mod apprunner;
pub mod batch;
pub mod codebuild;
pub mod declared;
mod kubernetes;
pub mod sagemaker;

use aws_types::SdkConfig;
use ecrgc_aws::Failure;

pub use kubernetes::{read_context, read_eks};

use super::sink::SinkClosed;
use super::unit::{Api, Unit};

/// The sources read per account × region, by name.
pub const PER_ACCOUNT: [&str; 5] = ["eks", "batch", "apprunner", "sagemaker", "codebuild"];

/// Reads one of the [`PER_ACCOUNT`] sources of `api`'s account and region; `config` is the
/// account's session in that region, `fan_out` the describe calls in flight.
pub async fn read_source(
    api: &Api,
    source: &str,
    config: &SdkConfig,
    fan_out: usize,
) -> Result<Reading, Failure> {
    match source {
        "eks" => read_eks(api, &aws_sdk_eks::Client::new(config), config).await,
        "batch" => batch::read(api, &aws_sdk_batch::Client::new(config)).await,
        "apprunner" => apprunner::read(api, &aws_sdk_apprunner::Client::new(config), fan_out).await,
        "sagemaker" => sagemaker::read(api, &aws_sdk_sagemaker::Client::new(config), fan_out).await,
        "codebuild" => codebuild::read(api, &aws_sdk_codebuild::Client::new(config)).await,
        other => Err(Failure::other(format!("unknown workload source {other}"))),
    }
}

/// One workload reference as a reader finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// `workload_refs.kind`.
    pub kind: &'static str,
    /// The workload naming the image (an ARN, a Kubernetes object, `<file>:<line>`).
    pub resource: String,
    /// The workload's status (`ACTIVE`; a pod's phase; a Batch definition's or an App
    /// Runner service's status).
    pub status: String,
    /// The container naming the image, where the source has containers.
    pub container: Option<String>,
    /// The image string as written.
    pub image: String,
    /// The digest the workload runs, where the source tells (a running pod's `imageID`).
    pub resolved_digest: Option<String>,
}

impl Named {
    /// Whether the reference protects its image when read live, just before a deletion: the
    /// plan's `is_live` (`sql/views/image_refs.sql`) without the history it needs for Batch.
    /// A pod that `Succeeded` or `Failed` and a `DELETED` App Runner service run nothing. An
    /// `INACTIVE` Batch definition does not count here: the plan already judged every one it
    /// saw against the rollback window, and one registered and deregistered since the
    /// snapshot was never the only use of an image the plan found unused.
    pub fn is_live(&self) -> bool {
        match self.kind {
            "pod" => !matches!(self.status.as_str(), "Succeeded" | "Failed"),
            "apprunner_service" => self.status != "DELETED",
            "batch_job_definition" => self.status == "ACTIVE",
            _ => true,
        }
    }

    /// Whether it names a repository without a tag or digest (a declared `file_repository`):
    /// every image of the repository.
    pub fn names_whole_repository(&self) -> bool {
        self.kind == "file_repository"
    }
}

/// What one reading of a source found.
#[derive(Debug, Default)]
pub struct Reading {
    /// Every reference, live or not.
    pub refs: Vec<Named>,
    /// Resources that disappeared between two calls: they run nothing any more.
    pub skipped: Vec<String>,
    /// Parts that could not be read (a cluster, a kind, a file): what they would have named
    /// is unknown.
    pub partial: Vec<Failure>,
}

/// Records a reading in the unit: its references in `workload_refs` (under the unit's
/// account and region), its skipped resources and partial failures in the unit's outcome.
pub(crate) async fn record(
    unit: &mut Unit,
    source: &'static str,
    reading: Reading,
) -> Result<(), SinkClosed> {
    let (account, region) = (unit.api.account.clone(), unit.api.region.clone());
    for n in &reading.refs {
        unit.tables.push_ref_in(
            &account,
            &region,
            source,
            super::unit::RefRecord {
                kind: n.kind,
                resource_arn: &n.resource,
                status: &n.status,
                status_at: None,
                container_name: n.container.as_deref(),
                image_uri: &n.image,
                resolved_digest: n.resolved_digest.as_deref(),
            },
        );
        unit.maybe_flush().await?;
    }
    unit.items += reading.refs.len() as u64;
    unit.ctx.progress.add_refs(reading.refs.len() as u64);
    unit.skipped.extend(reading.skipped);
    unit.partial.extend(reading.partial);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(kind: &'static str, status: &str) -> Named {
        Named {
            kind,
            resource: "r".into(),
            status: status.into(),
            container: None,
            image: "i".into(),
            resolved_digest: None,
        }
    }

    #[test]
    fn a_live_re_check_counts_what_still_runs_or_can_start() {
        assert!(named("pod", "Running").is_live());
        assert!(named("pod", "Pending").is_live());
        assert!(!named("pod", "Succeeded").is_live());
        assert!(named("replicaset", "ACTIVE").is_live());
        assert!(!named("apprunner_service", "DELETED").is_live());
        assert!(named("apprunner_service", "PAUSED").is_live());
        assert!(named("batch_job_definition", "ACTIVE").is_live());
        assert!(!named("batch_job_definition", "INACTIVE").is_live());
        assert!(named("sagemaker_model", "ACTIVE").is_live());
    }
}
