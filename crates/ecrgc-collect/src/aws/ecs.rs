//! ECS directly, in one account and region: task definitions (ACTIVE and INACTIVE, whether or
//! not a Config aggregator supplies them too: an aggregator source may be stale), services
//! with every deployment's task definition, their task sets, the digests their service
//! revisions pin, the revisions of their recent deployments (rollback targets), and RUNNING
//! and recently STOPPED tasks with the digest each container really runs.
//!
//! Every configured workload account × region is read whatever other sources are on: the
//! aggregator unit (`aggregator.rs`, `sql/aws/config_task_definitions.sql`) asks Config for
//! `AWS::ECS::TaskDefinition` alone, so services, task sets, revisions and tasks come from
//! ECS or from nowhere.
//!
//! | `kind` | from | `resource_arn` | live (see `sql/views/image_refs.sql`) |
//! |---|---|---|---|
//! | `task_definition` | ListTaskDefinitions + DescribeTaskDefinition | the task definition | ACTIVE, or deregistered inside the rollback window |
//! | `service` | DescribeServices `taskDefinition` and `deployments[]`, described even when INACTIVE | the service | always |
//! | `task_set` | DescribeServices `taskSets[]` (CODE_DEPLOY, EXTERNAL controllers) | the task set | always |
//! | `service_revision` | DescribeServices `currentServiceRevisions[]` → DescribeServiceRevisions `containerImages[]` | the service revision | always |
//! | `service_deployment` | ListServiceDeployments (`createdAt` inside the rollback window) → DescribeServiceDeployments target, source and rollback revisions → DescribeServiceRevisions | the service revision | `status_at` (the deployment's `createdAt`) inside the rollback window |
//! | `task` | ListTasks (RUNNING, STOPPED) + DescribeTasks | the task | not STOPPED, or stopped inside the rollback window |
//!
//! A task's `imageDigest` shows which digest a tag reference resolved to when the task
//! started, so it is kept as `resolved_digest`; so is a service revision's.
//!
//! **Stopped tasks are a bonus, not the rollback window.** "Recently stopped tasks might
//! appear in the returned results" of ListTasks, for about an hour ("stopped tasks appear in
//! the returned results for at least one hour", earlier editions of the Amazon ECS API
//! Reference, `ListTasks`): a task that stopped yesterday is not listed at all. So the
//! rollback window rests on what ECS keeps: INACTIVE task definitions with their
//! `deregisteredAt`, the services' current revisions and the revisions of the window's
//! deployments. A STOPPED task seen is one more live reference when it stopped inside the
//! window; its absence proves nothing.
//!
//! **Version consistency.** "To ensure that all tasks in a service use the same container
//! image, Amazon ECS resolves container image names and any image tags specified in the task
//! definition to container image digests. After the container image digest has been
//! established, Amazon ECS uses the digest to start any other desired tasks, and for any
//! future service and service revision updates" (Amazon ECS API Reference, `ContainerImage`;
//! Amazon ECS Developer Guide, "Container image resolution"). A service scaled to zero
//! therefore starts the pinned digest again, whatever its tag names now: the digest of every
//! current service revision is a live reference even when no tag names it any more.
//!
//! **Rollback targets.** "When you use the rollback option for a service deployment, Amazon
//! ECS automatically rolls back the service deployment to the last successfully deployed
//! service revision", and "doesn't create a new service revision for a rollback operation"
//! (Amazon ECS Developer Guide, "Amazon ECS service revisions"); a service deployment names
//! its source and target revisions (Developer Guide, "View service history using Amazon ECS
//! service deployments"). The revisions of every deployment created inside
//! `rules.rollback_window_hours` before the snapshot are read; ECS filters deployments on
//! `createdAt` only, so the window counts from a deployment's creation.
//!
//! **Gone mid-run.** A service, cluster or revision that disappears between two calls
//! (DescribeServices / DescribeServiceRevisions / DescribeServiceDeployments
//! `failures[].reason` `MISSING`, `ServiceNotFoundException`, `ClusterNotFoundException`) no
//! longer runs anything: it is counted in the unit's coverage message and skipped. Any other
//! failure, or a revision ECS cannot describe for another reason, fails the unit: the plan
//! then blocks what the account can pull (unknown is never unused). AWS documents no other
//! failure reasons for these calls.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{CreatedAt, DesiredStatus, TaskDefinitionStatus};
use ecrgc_aws::Failure;
use ecrgc_model::time::Micros;
use futures::StreamExt;

use super::unit::{Api, RefRecord, Unit, UnitError, micros, paginate};

/// Services per DescribeServices call, tasks per DescribeTasks call (the APIs' maximums).
const SERVICES_PER_CALL: usize = 10;
const TASKS_PER_CALL: usize = 100;
/// ARNs per DescribeServiceRevisions and per DescribeServiceDeployments call: "You can
/// specify a maximum of 20 ARNs" (Amazon ECS API Reference).
const REVISIONS_PER_CALL: usize = 20;
const DEPLOYMENTS_PER_CALL: usize = 20;
/// ListServiceDeployments' largest page ("between 1 and 100").
const DEPLOYMENTS_PAGE: i32 = 100;

/// What the ECS unit reads besides the account and region.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EcsScope {
    /// Also read INACTIVE task definitions.
    pub inactive_definitions: bool,
    /// Deployments created at or after this time are rollback targets: the snapshot time
    /// minus `rules.rollback_window_hours`.
    pub rollback_since: Micros,
}

struct Definition {
    arn: String,
    status: String,
    status_at: Option<i64>,
    containers: Vec<(Option<String>, String)>,
}

/// A container image of a service revision: name, image string, pinned digest.
type RevisionImage = (Option<String>, String, Option<String>);

/// Whether a failure says the resource is gone (deleted while the run was reading it).
fn gone(f: &Failure) -> bool {
    matches!(
        f.code.as_deref(),
        Some("ServiceNotFoundException" | "ClusterNotFoundException")
    )
}

/// The per-resource failures of an ECS describe call: a `MISSING` resource (deleted since it
/// was listed) runs nothing and is counted as skipped; any other failure fails the unit.
fn skip_missing(
    unit: &mut Unit,
    what: &str,
    api: &str,
    failures: &[aws_sdk_ecs::types::Failure],
) -> Result<(), UnitError> {
    for f in failures {
        let arn = f.arn().unwrap_or("?");
        let reason = f.reason().unwrap_or("failed");
        if reason == "MISSING" {
            unit.skipped.push(format!("{what} {arn}: MISSING"));
        } else {
            let detail = f.detail().map(|d| format!(" {d}")).unwrap_or_default();
            return Err(Failure::other(format!("{api} {arn}: {reason}{detail}")).into());
        }
    }
    Ok(())
}

/// Collects the unit's ECS references.
pub(crate) async fn collect(
    unit: &mut Unit,
    ecs: &Client,
    scope: EcsScope,
) -> Result<(), UnitError> {
    let mut statuses = vec![TaskDefinitionStatus::Active];
    if scope.inactive_definitions {
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
        services(unit, ecs, cluster, &mut definitions, scope.rollback_since).await?;
        tasks(unit, ecs, cluster).await?;
        unit.maybe_flush().await?;
    }
    Ok(())
}

/// A task definition a service runs: `kind` `service` (its deployments) or `task_set`.
struct DefinitionUse {
    kind: &'static str,
    resource_arn: String,
    status: String,
    task_definition: String,
}

async fn services(
    unit: &mut Unit,
    ecs: &Client,
    cluster: &str,
    definitions: &mut HashMap<String, Definition>,
    rollback_since: Micros,
) -> Result<(), UnitError> {
    let listed = paginate(&unit.api, "ecs:ListServices", |token| {
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
    .await;
    let arns = match listed {
        Ok(arns) => arns,
        Err(f) if gone(&f) => {
            unit.skipped
                .push(format!("cluster {cluster}: {}", f.message));
            return Ok(());
        }
        Err(f) => return Err(f.into()),
    };
    let mut uses: Vec<DefinitionUse> = Vec::new();
    // (service ARN, service status, current revision ARN)
    let mut current: Vec<(String, String, String)> = Vec::new();
    let mut described: Vec<String> = Vec::new();
    for chunk in arns.chunks(SERVICES_PER_CALL) {
        let out = unit
            .api
            .call("ecs:DescribeServices", || {
                ecs.describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.to_vec()))
                    .send()
            })
            .await;
        let out = match out {
            Ok(out) => out,
            Err(f) if gone(&f) => {
                unit.skipped
                    .push(format!("cluster {cluster}: {}", f.message));
                return Ok(());
            }
            Err(f) => return Err(f.into()),
        };
        // A service deleted between ListServices and DescribeServices runs nothing.
        skip_missing(unit, "service", "ecs:DescribeServices", out.failures())?;
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
                uses.push(DefinitionUse {
                    kind: "service",
                    resource_arn: service_arn.clone(),
                    status: status.clone(),
                    task_definition: td.to_owned(),
                });
            }
            // CODE_DEPLOY and EXTERNAL deployment controllers run task sets, each on its own
            // task definition (the service's own may be absent).
            for ts in s.task_sets() {
                let Some(td) = ts.task_definition() else {
                    continue;
                };
                uses.push(DefinitionUse {
                    kind: "task_set",
                    resource_arn: ts
                        .task_set_arn()
                        .map(str::to_owned)
                        .unwrap_or_else(|| service_arn.clone()),
                    status: ts.status().unwrap_or("ACTIVE").to_owned(),
                    task_definition: td.to_owned(),
                });
            }
            for r in s.current_service_revisions() {
                if let Some(arn) = r.arn() {
                    current.push((service_arn.clone(), status.clone(), arn.to_owned()));
                }
            }
            described.push(service_arn);
        }
    }
    // A service may run a task definition that is INACTIVE (deregistered): it can still
    // scale, so its definition is described whatever its status.
    let missing: Vec<String> = uses
        .iter()
        .map(|u| u.task_definition.clone())
        .filter(|td| !definitions.contains_key(td))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for d in describe_definitions(&unit.api, ecs, missing, unit.ctx.fan_out).await? {
        definitions.insert(d.arn.clone(), d);
    }
    let before = unit.items;
    for u in &uses {
        let Some(d) = definitions.get(&u.task_definition) else {
            continue;
        };
        for (name, image) in &d.containers {
            unit.tables.push_ref(
                &unit.api,
                "ecs",
                RefRecord {
                    kind: u.kind,
                    resource_arn: &u.resource_arn,
                    status: &u.status,
                    status_at: None,
                    container_name: name.as_deref(),
                    image_uri: image,
                    resolved_digest: None,
                },
            );
            unit.items += 1;
        }
    }

    // Rollback targets: every revision of the deployments created inside the window.
    let deployed = deployment_revisions(unit, ecs, cluster, &described, rollback_since).await?;

    let mut wanted: BTreeSet<String> = current.iter().map(|c| c.2.clone()).collect();
    wanted.extend(deployed.keys().cloned());
    let revisions = describe_revisions(unit, ecs, wanted.into_iter().collect()).await?;
    for (_service, status, arn) in &current {
        let Some(images) = revisions.get(arn) else {
            continue;
        };
        for (name, image, digest) in images {
            unit.tables.push_ref(
                &unit.api,
                "ecs",
                RefRecord {
                    kind: "service_revision",
                    resource_arn: arn,
                    status,
                    status_at: None,
                    container_name: name.as_deref(),
                    image_uri: image,
                    resolved_digest: digest.as_deref(),
                },
            );
            unit.items += 1;
        }
    }
    for (arn, (status, created_at)) in &deployed {
        let Some(images) = revisions.get(arn) else {
            continue;
        };
        for (name, image, digest) in images {
            unit.tables.push_ref(
                &unit.api,
                "ecs",
                RefRecord {
                    kind: "service_deployment",
                    resource_arn: arn,
                    status,
                    status_at: *created_at,
                    container_name: name.as_deref(),
                    image_uri: image,
                    resolved_digest: digest.as_deref(),
                },
            );
            unit.items += 1;
        }
    }
    unit.ctx.progress.add_refs(unit.items - before);
    Ok(())
}

/// The revisions named by the deployments of `services` created at or after `since`: revision
/// ARN → (status, `createdAt`) of the newest deployment naming it.
async fn deployment_revisions(
    unit: &mut Unit,
    ecs: &Client,
    cluster: &str,
    services: &[String],
    since: Micros,
) -> Result<BTreeMap<String, (String, Option<Micros>)>, UnitError> {
    let after = aws_smithy_types::DateTime::from_millis(since.div_euclid(1000));
    let api = &unit.api;
    let mut lists = futures::stream::iter(services.iter().cloned())
        .map(move |service| async move {
            let listed = paginate(api, "ecs:ListServiceDeployments", |token| {
                let call = ecs
                    .list_service_deployments()
                    .cluster(cluster)
                    .service(&service)
                    .created_at(CreatedAt::builder().after(after).build())
                    .max_results(DEPLOYMENTS_PAGE)
                    .set_next_token(token);
                async move {
                    call.send().await.map(|o| {
                        (
                            o.service_deployments()
                                .iter()
                                .filter_map(|d| d.service_deployment_arn().map(str::to_owned))
                                .collect::<Vec<_>>(),
                            o.next_token().map(str::to_owned),
                        )
                    })
                }
            })
            .await;
            (service, listed)
        })
        .buffered(unit.ctx.fan_out);
    let mut arns = Vec::new();
    let mut skipped = Vec::new();
    while let Some((service, listed)) = lists.next().await {
        match listed {
            Ok(found) => arns.extend(found),
            Err(f) if gone(&f) => skipped.push(format!("service {service}: {}", f.message)),
            Err(f) => return Err(f.into()),
        }
    }
    drop(lists);
    unit.skipped.append(&mut skipped);

    let mut revisions: BTreeMap<String, (String, Option<Micros>)> = BTreeMap::new();
    for chunk in arns.chunks(DEPLOYMENTS_PER_CALL) {
        let out = unit
            .api
            .call("ecs:DescribeServiceDeployments", || {
                ecs.describe_service_deployments()
                    .set_service_deployment_arns(Some(chunk.to_vec()))
                    .send()
            })
            .await;
        let out = match out {
            Ok(out) => out,
            Err(f) if gone(&f) => {
                unit.skipped.push(format!(
                    "deployments of a service in {cluster}: {}",
                    f.message
                ));
                continue;
            }
            Err(f) => return Err(f.into()),
        };
        skip_missing(
            unit,
            "service deployment",
            "ecs:DescribeServiceDeployments",
            out.failures(),
        )?;
        for d in out.service_deployments() {
            let status = d
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "UNKNOWN".to_owned());
            let created_at = d.created_at().map(micros);
            let mut named: Vec<&str> = d
                .source_service_revisions()
                .iter()
                .filter_map(|r| r.arn())
                .collect();
            named.extend(d.target_service_revision().and_then(|r| r.arn()));
            named.extend(d.rollback().and_then(|r| r.service_revision_arn()));
            for arn in named {
                let entry = revisions
                    .entry(arn.to_owned())
                    .or_insert_with(|| (status.clone(), created_at));
                // The newest deployment naming a revision decides how long it stays live; an
                // unknown creation time (None) is the safe reading and wins.
                if entry.1.is_some() && created_at.is_none_or(|c| Some(c) > entry.1) {
                    *entry = (status.clone(), created_at);
                }
            }
        }
    }
    Ok(revisions)
}

/// Describes service revisions, 20 a call: revision ARN → its container images. Revisions
/// gone with their service are counted as skipped; any other failure fails the unit.
async fn describe_revisions(
    unit: &mut Unit,
    ecs: &Client,
    arns: Vec<String>,
) -> Result<HashMap<String, Vec<RevisionImage>>, UnitError> {
    let mut out: HashMap<String, Vec<RevisionImage>> = HashMap::new();
    let mut queue: Vec<Vec<String>> = arns
        .chunks(REVISIONS_PER_CALL)
        .map(<[String]>::to_vec)
        .collect();
    while let Some(chunk) = queue.pop() {
        let answer = unit
            .api
            .call("ecs:DescribeServiceRevisions", || {
                ecs.describe_service_revisions()
                    .set_service_revision_arns(Some(chunk.clone()))
                    .send()
            })
            .await;
        let answer = match answer {
            Ok(a) => a,
            // One revision's service is gone and the whole call failed: ask one by one, so
            // that only the gone ones are skipped.
            Err(f) if gone(&f) && chunk.len() > 1 => {
                queue.extend(chunk.iter().map(|a| vec![a.clone()]));
                continue;
            }
            Err(f) if gone(&f) => {
                unit.skipped
                    .push(format!("service revision {}: {}", chunk[0], f.message));
                continue;
            }
            Err(f) => return Err(f.into()),
        };
        skip_missing(
            unit,
            "service revision",
            "ecs:DescribeServiceRevisions",
            answer.failures(),
        )?;
        for r in answer.service_revisions() {
            let Some(arn) = r.service_revision_arn() else {
                continue;
            };
            out.insert(
                arn.to_owned(),
                r.container_images()
                    .iter()
                    .filter_map(|c| {
                        Some((
                            c.container_name().map(str::to_owned),
                            c.image()?.to_owned(),
                            c.image_digest().map(str::to_owned),
                        ))
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
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
