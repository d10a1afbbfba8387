//! The ECS references of one account × region: task definitions, services (their task
//! definitions, pinned digests and the revisions of recent deployments) and tasks. What is
//! read and why each counts is [`crate::checks::references`]'s documentation.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::types::{CreatedAt, DesiredStatus, TaskDefinitionStatus};
use ecrgc_aws::Failure;
use ecrgc_model::time::Micros;
use futures::StreamExt;

use crate::checks::references::call::Cx;
use crate::checks::references::found::Found;
use crate::timestamp::micros;

/// Services per DescribeServices call, tasks per DescribeTasks call, revisions and
/// deployments per describe call: the APIs' maximums (Amazon ECS API Reference).
const SERVICES_PER_CALL: usize = 10;
const TASKS_PER_CALL: usize = 100;
const REVISIONS_PER_CALL: usize = 20;
const DEPLOYMENTS_PER_CALL: usize = 20;

/// Whether an ECS failure says the service or cluster is gone.
fn ecs_gone(f: &Failure) -> bool {
    matches!(
        f.code.as_deref(),
        Some("ServiceNotFoundException" | "ClusterNotFoundException")
    )
}

/// The per-resource failures of an ECS describe call: `MISSING` (deleted since it was
/// listed) runs nothing; any other failure fails the reading.
fn only_missing(api: &str, failures: &[aws_sdk_ecs::types::Failure]) -> Result<(), Failure> {
    for f in failures {
        let reason = f.reason().unwrap_or("failed");
        if reason != "MISSING" {
            let detail = f.detail().map(|d| format!(" {d}")).unwrap_or_default();
            return Err(Failure::other(format!(
                "{api} {}: {reason}{detail}",
                f.arn().unwrap_or("?")
            )));
        }
    }
    Ok(())
}

/// Whether something last seen at `at` (unknown: `None`) is inside the window.
pub(super) fn recent(at: Option<Micros>, since: Micros) -> bool {
    at.is_none_or(|t| t >= since)
}

/// A task definition revision as described: its status, when it was deregistered, and the
/// images of its containers (immutable per revision).
#[derive(Debug)]
struct Definition {
    status: String,
    deregistered_at: Option<Micros>,
    images: Vec<String>,
}

/// Reads ECS, keeping the task definition revisions it described for the whole run.
pub(super) struct EcsReader {
    /// Deregistered task definitions, stopped tasks and deployments at or after this
    /// instant still count: the snapshot time minus `rules.rollback_window_hours`.
    pub(super) recent_since: Micros,
    /// Task definitions described so far, by ARN.
    definitions: Mutex<HashMap<String, Arc<Definition>>>,
}

impl EcsReader {
    /// A reader counting what was deregistered, stopped or deployed at or after
    /// `recent_since`.
    pub(super) fn new(recent_since: Micros) -> Self {
        Self {
            recent_since,
            definitions: Mutex::new(HashMap::new()),
        }
    }
}

impl EcsReader {
    /// Every ECS reference of the reading's place into `found`.
    pub(super) async fn read(
        &self,
        cx: &Cx<'_>,
        client: &aws_sdk_ecs::Client,
        found: &mut Found,
    ) -> Result<(), Failure> {
        let mut listed = Vec::new();
        for status in [TaskDefinitionStatus::Active, TaskDefinitionStatus::Inactive] {
            let arns = cx
                .paginate("ecs:ListTaskDefinitions", |token| {
                    let call = client
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
                .await?;
            listed.extend(
                arns.into_iter()
                    .map(|a| (a, Some(status.as_str().to_owned()))),
            );
        }
        let definitions = self.definitions(cx, client, listed.clone()).await?;
        for (arn, _) in &listed {
            let d = &definitions[arn];
            found.examined += 1;
            let live = d.status == "ACTIVE"
                || (d.status == "INACTIVE" && recent(d.deregistered_at, self.recent_since));
            if live {
                for image in &d.images {
                    found.add(image, None, arn);
                }
            }
        }
        let clusters = cx
            .paginate("ecs:ListClusters", |token| {
                let call = client
                    .list_clusters()
                    .max_results(100)
                    .set_next_token(token);
                async move {
                    call.send()
                        .await
                        .map(|o| (o.cluster_arns().to_vec(), o.next_token().map(str::to_owned)))
                }
            })
            .await?;
        for cluster in &clusters {
            self.services(cx, client, cluster, found).await?;
            self.tasks(cx, client, cluster, found).await?;
        }
        Ok(())
    }

    /// Describes the task definitions `arns` (with the status they were listed in, if
    /// listed), from the run's cache when described before in that status.
    async fn definitions(
        &self,
        cx: &Cx<'_>,
        client: &aws_sdk_ecs::Client,
        arns: Vec<(String, Option<String>)>,
    ) -> Result<HashMap<String, Arc<Definition>>, Failure> {
        let mut out = HashMap::new();
        let mut wanted = Vec::new();
        {
            let cache = self.definitions.lock().expect("definitions lock");
            for (arn, status) in arns {
                match cache.get(&arn) {
                    Some(d) if status.as_ref().is_none_or(|s| *s == d.status) => {
                        out.insert(arn, d.clone());
                    }
                    _ => wanted.push(arn),
                }
            }
        }
        let mut reads = futures::stream::iter(wanted)
            .map(|arn| async move {
                let described = cx
                    .call("ecs:DescribeTaskDefinition", || {
                        client
                            .describe_task_definition()
                            .task_definition(&arn)
                            .send()
                    })
                    .await?;
                let td = described.task_definition().ok_or_else(|| {
                    Failure::other(format!("ecs:DescribeTaskDefinition {arn}: no definition"))
                })?;
                let d = Definition {
                    // An unknown status is read as ACTIVE: it counts.
                    status: td
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "ACTIVE".to_owned()),
                    deregistered_at: td.deregistered_at().map(micros),
                    images: td
                        .container_definitions()
                        .iter()
                        .filter_map(|c| c.image().map(str::to_owned))
                        .collect(),
                };
                Ok::<_, Failure>((arn, Arc::new(d)))
            })
            .buffered(cx.fan_out);
        let mut described = Vec::new();
        while let Some(d) = reads.next().await {
            described.push(d?);
        }
        let mut cache = self.definitions.lock().expect("definitions lock");
        for (arn, d) in described {
            cache.insert(arn.clone(), d.clone());
            out.insert(arn, d);
        }
        Ok(out)
    }

    async fn services(
        &self,
        cx: &Cx<'_>,
        client: &aws_sdk_ecs::Client,
        cluster: &str,
        found: &mut Found,
    ) -> Result<(), Failure> {
        let listed = cx
            .paginate("ecs:ListServices", |token| {
                let call = client
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
            Err(f) if ecs_gone(&f) => return Ok(()),
            Err(f) => return Err(f),
        };
        // (resource, task definition) of every service, deployment and task set.
        let mut uses: Vec<(String, String)> = Vec::new();
        let mut current: BTreeSet<String> = BTreeSet::new();
        let mut described: Vec<String> = Vec::new();
        for chunk in arns.chunks(SERVICES_PER_CALL) {
            let out = match cx
                .call("ecs:DescribeServices", || {
                    client
                        .describe_services()
                        .cluster(cluster)
                        .set_services(Some(chunk.to_vec()))
                        .send()
                })
                .await
            {
                Ok(out) => out,
                Err(f) if ecs_gone(&f) => return Ok(()),
                Err(f) => return Err(f),
            };
            only_missing("ecs:DescribeServices", out.failures())?;
            for s in out.services() {
                let service = s.service_arn().unwrap_or_default().to_owned();
                found.examined += 1;
                let mut tds: BTreeSet<&str> = s
                    .deployments()
                    .iter()
                    .filter_map(|d| d.task_definition())
                    .collect();
                tds.extend(s.task_definition());
                uses.extend(tds.into_iter().map(|td| (service.clone(), td.to_owned())));
                for ts in s.task_sets() {
                    if let Some(td) = ts.task_definition() {
                        let resource = ts.task_set_arn().unwrap_or(&service).to_owned();
                        uses.push((resource, td.to_owned()));
                    }
                }
                current.extend(
                    s.current_service_revisions()
                        .iter()
                        .filter_map(|r| r.arn().map(str::to_owned)),
                );
                described.push(service);
            }
        }
        let wanted: BTreeSet<String> = uses.iter().map(|u| u.1.clone()).collect();
        let definitions = self
            .definitions(cx, client, wanted.into_iter().map(|a| (a, None)).collect())
            .await?;
        for (resource, td) in &uses {
            for image in definitions
                .get(td)
                .map(|d| d.images.as_slice())
                .unwrap_or(&[])
            {
                found.add(image, None, &format!("{resource} (task definition {td})"));
            }
        }
        let mut revisions = current;
        revisions.extend(self.deployed(cx, client, cluster, &described).await?);
        self.revisions(cx, client, revisions.into_iter().collect(), found)
            .await
    }

    /// The revisions named by the deployments of `services` created inside the window.
    async fn deployed(
        &self,
        cx: &Cx<'_>,
        client: &aws_sdk_ecs::Client,
        cluster: &str,
        services: &[String],
    ) -> Result<BTreeSet<String>, Failure> {
        let after = aws_smithy_types::DateTime::from_millis(self.recent_since.div_euclid(1000));
        let mut lists = futures::stream::iter(services.iter().cloned())
            .map(|service| async move {
                cx.paginate("ecs:ListServiceDeployments", |token| {
                    let call = client
                        .list_service_deployments()
                        .cluster(cluster)
                        .service(&service)
                        .created_at(CreatedAt::builder().after(after).build())
                        .max_results(100)
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
                .await
            })
            .buffered(cx.fan_out);
        let mut arns = Vec::new();
        while let Some(listed) = lists.next().await {
            match listed {
                Ok(found) => arns.extend(found),
                Err(f) if ecs_gone(&f) => {}
                Err(f) => return Err(f),
            }
        }
        drop(lists);
        let mut revisions = BTreeSet::new();
        for chunk in arns.chunks(DEPLOYMENTS_PER_CALL) {
            let out = match cx
                .call("ecs:DescribeServiceDeployments", || {
                    client
                        .describe_service_deployments()
                        .set_service_deployment_arns(Some(chunk.to_vec()))
                        .send()
                })
                .await
            {
                Ok(out) => out,
                Err(f) if ecs_gone(&f) => continue,
                Err(f) => return Err(f),
            };
            only_missing("ecs:DescribeServiceDeployments", out.failures())?;
            for d in out.service_deployments() {
                revisions.extend(
                    d.source_service_revisions()
                        .iter()
                        .filter_map(|r| r.arn().map(str::to_owned)),
                );
                revisions.extend(
                    d.target_service_revision()
                        .and_then(|r| r.arn())
                        .map(str::to_owned),
                );
                revisions.extend(
                    d.rollback()
                        .and_then(|r| r.service_revision_arn())
                        .map(str::to_owned),
                );
            }
        }
        Ok(revisions)
    }

    /// Describes service revisions, 20 a call, and records the images and digests they pin.
    async fn revisions(
        &self,
        cx: &Cx<'_>,
        client: &aws_sdk_ecs::Client,
        arns: Vec<String>,
        found: &mut Found,
    ) -> Result<(), Failure> {
        let mut queue: Vec<Vec<String>> = arns
            .chunks(REVISIONS_PER_CALL)
            .map(<[String]>::to_vec)
            .collect();
        while let Some(chunk) = queue.pop() {
            let answer = match cx
                .call("ecs:DescribeServiceRevisions", || {
                    client
                        .describe_service_revisions()
                        .set_service_revision_arns(Some(chunk.clone()))
                        .send()
                })
                .await
            {
                Ok(a) => a,
                // One revision's service is gone and the whole call failed: one by one.
                Err(f) if ecs_gone(&f) && chunk.len() > 1 => {
                    queue.extend(chunk.iter().map(|a| vec![a.clone()]));
                    continue;
                }
                Err(f) if ecs_gone(&f) => continue,
                Err(f) => return Err(f),
            };
            only_missing("ecs:DescribeServiceRevisions", answer.failures())?;
            for r in answer.service_revisions() {
                let arn = r.service_revision_arn().unwrap_or_default();
                found.examined += 1;
                for c in r.container_images() {
                    if let Some(image) = c.image() {
                        found.add(image, c.image_digest(), arn);
                    }
                }
            }
        }
        Ok(())
    }

    async fn tasks(
        &self,
        cx: &Cx<'_>,
        client: &aws_sdk_ecs::Client,
        cluster: &str,
        found: &mut Found,
    ) -> Result<(), Failure> {
        for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let listed = cx
                .paginate("ecs:ListTasks", |token| {
                    let call = client
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
                .await;
            let arns = match listed {
                Ok(arns) => arns,
                Err(f) if ecs_gone(&f) => return Ok(()),
                Err(f) => return Err(f),
            };
            for chunk in arns.chunks(TASKS_PER_CALL) {
                let out = cx
                    .call("ecs:DescribeTasks", || {
                        client
                            .describe_tasks()
                            .cluster(cluster)
                            .set_tasks(Some(chunk.to_vec()))
                            .send()
                    })
                    .await?;
                only_missing("ecs:DescribeTasks", out.failures())?;
                for t in out.tasks() {
                    found.examined += 1;
                    let stopped = t.last_status() == Some("STOPPED");
                    if stopped && !recent(t.stopped_at().map(micros), self.recent_since) {
                        continue;
                    }
                    let arn = t.task_arn().unwrap_or_default();
                    for c in t.containers() {
                        if let Some(image) = c.image() {
                            found.add(image, c.image_digest(), arn);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
