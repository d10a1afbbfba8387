//! AWS Batch job definitions of one account and region: every image a job submitted from
//! them would pull.
//!
//! DescribeJobDefinitions is read twice, with `status` `ACTIVE` and `INACTIVE` (botocore
//! `DescribeJobDefinitionsRequest.status`; paginator `nextToken` / `maxResults`). An image is
//! named in `containerProperties.image`, in each node range of a multi-node definition
//! (`nodeProperties.nodeRangeProperties[].container` / `.ecsProperties` / `.eksProperties`),
//! in `ecsProperties.taskProperties[].containers[].image` and in
//! `eksProperties.podProperties.containers[]` / `.initContainers[]` (botocore
//! `JobDefinition`). Each becomes a `batch_job_definition` reference with the definition's
//! ARN and status.
//!
//! A deregistered definition is `INACTIVE` and "permanently deleted after 180 days" (AWS
//! Batch API Reference, DeregisterJobDefinition); until then a job can still be submitted
//! with its ARN by a pipeline that pinned the revision. Batch records no deregistration
//! time, so the plan reads the history instead: an `INACTIVE` definition protects its images
//! unless a committed run from before the rollback window already saw it `INACTIVE`
//! (`sql/views/image_refs.sql`). On the first run every `INACTIVE` definition protects:
//! unknown is kept.

use aws_sdk_batch::Client;
use aws_sdk_batch::types::{ContainerProperties, EcsProperties, EksProperties, JobDefinition};

use ecrgc_aws::Failure;

use super::{Named, Reading};
use crate::aws::unit::{Api, paginate};

/// Largest page DescribeJobDefinitions answers (botocore: `maxResults` up to 100).
const PAGE: i32 = 100;

/// Reads the Batch references of `api`'s account and region.
pub async fn read(api: &Api, batch: &Client) -> Result<Reading, Failure> {
    let mut reading = Reading::default();
    for status in ["ACTIVE", "INACTIVE"] {
        let definitions = paginate(api, "batch:DescribeJobDefinitions", |token| {
            let call = batch
                .describe_job_definitions()
                .status(status)
                .max_results(PAGE)
                .set_next_token(token);
            async move {
                call.send().await.map(|o| {
                    let defs = o.job_definitions().to_vec();
                    (defs, o.next_token().map(str::to_owned))
                })
            }
        })
        .await?;
        for definition in &definitions {
            let Some(arn) = definition.job_definition_arn() else {
                continue;
            };
            let status = definition.status().unwrap_or(status);
            for (container, image) in images(definition) {
                reading.refs.push(Named {
                    kind: "batch_job_definition",
                    resource: arn.to_owned(),
                    status: status.to_owned(),
                    container: container.map(str::to_owned),
                    image: image.to_owned(),
                    resolved_digest: None,
                });
            }
        }
    }
    Ok(reading)
}

/// Every (container name, image) a job definition names.
fn images(d: &JobDefinition) -> Vec<(Option<&str>, &str)> {
    let mut out = Vec::new();
    container(d.container_properties(), &mut out);
    ecs(d.ecs_properties(), &mut out);
    eks(d.eks_properties(), &mut out);
    if let Some(nodes) = d.node_properties() {
        for range in nodes.node_range_properties() {
            container(range.container(), &mut out);
            ecs(range.ecs_properties(), &mut out);
            eks(range.eks_properties(), &mut out);
        }
    }
    out
}

fn container<'a>(c: Option<&'a ContainerProperties>, out: &mut Vec<(Option<&'a str>, &'a str)>) {
    if let Some(image) = c.and_then(ContainerProperties::image) {
        out.push((None, image));
    }
}

fn ecs<'a>(p: Option<&'a EcsProperties>, out: &mut Vec<(Option<&'a str>, &'a str)>) {
    for task in p.map(EcsProperties::task_properties).unwrap_or_default() {
        for c in task.containers() {
            if let Some(image) = c.image() {
                out.push((c.name(), image));
            }
        }
    }
}

fn eks<'a>(p: Option<&'a EksProperties>, out: &mut Vec<(Option<&'a str>, &'a str)>) {
    if let Some(pod) = p.and_then(EksProperties::pod_properties) {
        for c in pod.containers().iter().chain(pod.init_containers()) {
            if let Some(image) = c.image() {
                out.push((c.name(), image));
            }
        }
    }
}
