//! ECS directly, in one account and region: task definitions (ACTIVE; INACTIVE ones too when
//! no Config aggregator supplies them), services with every deployment's task definition,
//! and RUNNING and recently STOPPED tasks with the digest each container really runs.
//!
//! A task's `imageDigest` is the only place besides Inspector that shows which digest a
//! tag reference resolved to when the task started, so it is kept as `resolved_digest`.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{DesiredStatus, TaskDefinitionStatus};
use ecrgc_aws::Failure;
use futures::StreamExt;

use super::unit::{Api, RefRecord, Unit, UnitError, micros, paginate};

/// Services per DescribeServices call, tasks per DescribeTasks call (the APIs' maximums).
const SERVICES_PER_CALL: usize = 10;
const TASKS_PER_CALL: usize = 100;

struct Definition {
    arn: String,
    status: String,
    status_at: Option<i64>,
    containers: Vec<(Option<String>, String)>,
}

/// Collects the unit's ECS references. `inactive_definitions`: also read INACTIVE task
/// definitions (when no aggregator has them).
pub(crate) async fn collect(
    unit: &mut Unit,
    ecs: &Client,
    inactive_definitions: bool,
) -> Result<(), UnitError> {
    let mut statuses = vec![TaskDefinitionStatus::Active];
    if inactive_definitions {
        statuses.push(TaskDefinitionStatus::Inactive);
    }
    let mut arns = Vec::new();
    for status in statuses {
        arns.extend(list_task_definitions(&unit.api, ecs, status).await?);
    }
    let mut definitions: HashMap<String, Definition> = HashMap::new();
    let described = describe_definitions(&unit.api, ecs, arns.clone(), unit.ctx.fan_out).await?;
    for d in described {
        definitions.insert(d.arn.clone(), d);
    }
    for arn in &arns {
        let d = &definitions[arn];
        for (name, image) in &d.containers {
            unit.tables.push_ref(
                &unit.api,
                "ecs",
                RefRecord {
                    kind: "task_definition",
                    resource_arn: &d.arn,
                    status: &d.status,
                    status_at: d.status_at,
                    container_name: name.as_deref(),
                    image_uri: image,
                    resolved_digest: None,
                },
            );
            unit.items += 1;
        }
    }
    unit.ctx.progress.add_refs(unit.items);
    unit.maybe_flush().await?;

    let clusters = paginate(&unit.api, "ecs:ListClusters", |token| {
        let call = ecs.list_clusters().max_results(100).set_next_token(token);
        async move {
            call.send()
                .await
                .map(|o| (o.cluster_arns().to_vec(), o.next_token().map(str::to_owned)))
        }
    })
    .await?;
    for cluster in &clusters {
        services(unit, ecs, cluster, &mut definitions).await?;
        tasks(unit, ecs, cluster).await?;
        unit.maybe_flush().await?;
    }
    Ok(())
}

async fn services(
    unit: &mut Unit,
    ecs: &Client,
    cluster: &str,
    definitions: &mut HashMap<String, Definition>,
) -> Result<(), UnitError> {
    let arns = paginate(&unit.api, "ecs:ListServices", |token| {
        let call = ecs
            .list_services()
            .cluster(cluster)
            .max_results(100)
            .set_next_token(token);
        async move {
            call.send()
                .await
                .map(|o| (o.service_arns().to_vec(), o.next_token().map(str::to_owned)))
        }
    })
    .await?;
    let mut uses: Vec<(String, String, String)> = Vec::new();
    for chunk in arns.chunks(SERVICES_PER_CALL) {
        let out = unit
            .api
            .call("ecs:DescribeServices", || {
                ecs.describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.to_vec()))
                    .send()
            })
            .await?;
        if let Some(f) = out.failures().first() {
            return Err(Failure::other(format!(
                "ecs:DescribeServices {}: {}",
                f.arn().unwrap_or("?"),
                f.reason().unwrap_or("failed")
            ))
            .into());
        }
        for s in out.services() {
            let service_arn = s.service_arn().unwrap_or_default().to_owned();
            let status = s.status().unwrap_or("ACTIVE").to_owned();
            // Every deployment counts: during a rollout (or a stuck one) the old and the new
            // task definition both run.
            let mut tds: BTreeSet<&str> = s
                .deployments()
                .iter()
                .filter_map(|d| d.task_definition())
                .collect();
            tds.extend(s.task_definition());
            for td in tds {
                uses.push((service_arn.clone(), status.clone(), td.to_owned()));
            }
        }
    }
    let missing: Vec<String> = uses
        .iter()
        .map(|(_, _, td)| td.clone())
        .filter(|td| !definitions.contains_key(td))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for d in describe_definitions(&unit.api, ecs, missing, unit.ctx.fan_out).await? {
        definitions.insert(d.arn.clone(), d);
    }
    let before = unit.items;
    for (service_arn, status, td) in &uses {
        let Some(d) = definitions.get(td) else {
            continue;
        };
        for (name, image) in &d.containers {
            unit.tables.push_ref(
                &unit.api,
                "ecs",
                RefRecord {
                    kind: "service",
                    resource_arn: service_arn,
                    status,
                    status_at: None,
                    container_name: name.as_deref(),
                    image_uri: image,
                    resolved_digest: None,
                },
            );
            unit.items += 1;
        }
    }
    unit.ctx.progress.add_refs(unit.items - before);
    Ok(())
}

async fn tasks(unit: &mut Unit, ecs: &Client, cluster: &str) -> Result<(), UnitError> {
    let before = unit.items;
    for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let arns = paginate(&unit.api, "ecs:ListTasks", |token| {
            let call = ecs
                .list_tasks()
                .cluster(cluster)
                .desired_status(desired.clone())
                .max_results(100)
                .set_next_token(token);
            async move {
                call.send()
                    .await
                    .map(|o| (o.task_arns().to_vec(), o.next_token().map(str::to_owned)))
            }
        })
        .await?;
        for chunk in arns.chunks(TASKS_PER_CALL) {
            let out = unit
                .api
                .call("ecs:DescribeTasks", || {
                    ecs.describe_tasks()
                        .cluster(cluster)
                        .set_tasks(Some(chunk.to_vec()))
                        .send()
                })
                .await?;
            for t in out.tasks() {
                let task_arn = t.task_arn().unwrap_or_default();
                let status = t.last_status().unwrap_or("RUNNING");
                let stopped_at = t.stopped_at().map(micros);
                for c in t.containers() {
                    let Some(image) = c.image() else { continue };
                    unit.tables.push_ref(
                        &unit.api,
                        "ecs",
                        RefRecord {
                            kind: "task",
                            resource_arn: task_arn,
                            status,
                            status_at: stopped_at,
                            container_name: c.name(),
                            image_uri: image,
                            resolved_digest: c.image_digest(),
                        },
                    );
                    unit.items += 1;
                }
            }
        }
    }
    unit.ctx.progress.add_refs(unit.items - before);
    Ok(())
}

async fn list_task_definitions(
    api: &Api,
    ecs: &Client,
    status: TaskDefinitionStatus,
) -> Result<Vec<String>, Failure> {
    paginate(api, "ecs:ListTaskDefinitions", |token| {
        let call = ecs
            .list_task_definitions()
            .status(status.clone())
            .max_results(100)
            .set_next_token(token);
        async move {
            call.send().await.map(|o| {
                (
                    o.task_definition_arns().to_vec(),
                    o.next_token().map(str::to_owned),
                )
            })
        }
    })
    .await
}

async fn describe_definitions(
    api: &Api,
    ecs: &Client,
    arns: Vec<String>,
    fan_out: usize,
) -> Result<Vec<Definition>, Failure> {
    let mut reads = futures::stream::iter(arns)
        .map(|arn| async move {
            let out = api
                .call("ecs:DescribeTaskDefinition", || {
                    ecs.describe_task_definition().task_definition(&arn).send()
                })
                .await?;
            let td = out.task_definition().ok_or_else(|| {
                Failure::other(format!("ecs:DescribeTaskDefinition {arn}: no definition"))
            })?;
            let status = td
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "ACTIVE".to_owned());
            Ok::<_, Failure>(Definition {
                status_at: if status == "INACTIVE" {
                    td.deregistered_at().map(micros)
                } else {
                    td.registered_at().map(micros)
                },
                status,
                containers: td
                    .container_definitions()
                    .iter()
                    .filter_map(|c| Some((c.name().map(str::to_owned), c.image()?.to_owned())))
                    .collect(),
                arn,
            })
        })
        .buffered(fan_out);
    let mut out = Vec::new();
    while let Some(d) = reads.next().await {
        out.push(d?);
    }
    Ok(out)
}
