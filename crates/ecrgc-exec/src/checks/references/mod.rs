//! Every live workload reference that could name an image, read again by the executor.
//!
//! The plan's view of the workloads is as old as its snapshot, and the manifest is only as
//! trustworthy as the store it was recorded in: an item forged into a re-minted plan record
//! names an image the plan kept, and its reference may well have existed at the snapshot.
//! So the executor trusts nothing the snapshot says about references: before a repository's
//! first batch (and before every later one) it makes sure it holds a reading of **every**
//! reference in every configured account and region that is at most
//! `[apply] reference_max_age_seconds` old (default 300), and any reference to an image skips
//! it (`in_use_reference`), whether or not it existed at the snapshot.
//!
//! # What is read, per account × region
//!
//! ECS (when `sources.ecs` or a Config aggregator is on; the aggregator never sees services),
//! the approach of the collector (`ecrgc-collect`, `aws/ecs.rs`):
//!
//! * task definitions: ListTaskDefinitions `ACTIVE` and `INACTIVE` (botocore
//!   `ListTaskDefinitionsRequest.status`: `ACTIVE | INACTIVE | DELETE_IN_PROGRESS`), then
//!   DescribeTaskDefinition (one a call: the API takes one). ACTIVE ones always count. An
//!   INACTIVE one counts when it was deregistered at or after the snapshot time minus
//!   `rules.rollback_window_hours`, or when its `deregisteredAt` is unknown. That is the
//!   plan's own reading of "recently deregistered" (`sql/views/image_refs.sql`, `is_live`;
//!   DESIGN.md pitfall 3: "a task definition deregistered less than the rollback window ago
//!   still protects them"), counted from the snapshot rather than from now, which only
//!   widens the window; `rules.history_days` is not a deregistration window (the
//!   `history_use` guard counts only what was ACTIVE in a run of the history). Deregistered
//!   task definitions a service still runs count whatever their age, below.
//! * services: ListClusters, ListServices, DescribeServices (10 a call): the task definition
//!   of the service and of every deployment, of every task set (CODE_DEPLOY, EXTERNAL), in
//!   any status — "Existing services that reference an INACTIVE task definition can still
//!   scale up or down" (Amazon ECS API Reference, DeregisterTaskDefinition);
//! * the digests services pin: DescribeServices `currentServiceRevisions[].arn` →
//!   DescribeServiceRevisions (20 a call) `containerImages[].imageDigest` ("Amazon ECS uses
//!   the digest to start any other desired tasks, and for any future service and service
//!   revision updates": Amazon ECS API Reference, `ContainerImage`), and the source, target
//!   and rollback revisions of every deployment created inside the same window
//!   (ListServiceDeployments `createdAt.after`, DescribeServiceDeployments, 20 a call):
//!   rollback targets (Amazon ECS Developer Guide, "Amazon ECS service revisions");
//! * tasks: ListTasks (`RUNNING`, `STOPPED`) and DescribeTasks (100 a call): each container's
//!   image and the `imageDigest` it really runs; a STOPPED task counts when it stopped inside
//!   the window (or when its stop time is unknown), as in the plan.
//!
//! A service, cluster or revision gone between two calls (`MISSING` in a describe call's
//! `failures[]`, `ServiceNotFoundException`, `ClusterNotFoundException`) runs nothing and is
//! passed over, as the collector does; any other per-resource failure fails the reading.
//!
//! Lambda (when `sources.lambda` is on): ListFunctions (PackageType `Image`), then per
//! function ListVersionsByFunction (which lists `$LATEST` and every published version),
//! GetFunction with `Qualifier` for each version (`Code.ImageUri`, `Code.ResolvedImageUri`),
//! and ListAliases (`FunctionVersion` and `RoutingConfig.AdditionalVersionWeights`: an alias
//! only points at versions, so its image is its versions' image, reported under the alias'
//! ARN). A published version's code is immutable (AWS Lambda Developer Guide, "Manage Lambda
//! function versions"), so it keeps its image whatever `$LATEST` becomes. A function or
//! version deleted between the calls (`ResourceNotFoundException`) is passed over.
//!
//! Replicas are the replication gate's (see [`crate::checks::replication`]).
//!
//! # Matching
//!
//! A reference matches an image by digest, by the digest its service resolved (a task's or
//! a service revision's `imageDigest`, Lambda's `ResolvedImageUri`), or by a tag the image
//! carries (in the manifest or live) when it names no digest. Image strings are read by the
//! parser the collectors use (`ecrgc_model::image_ref`), so every ECR endpoint form
//! (dual-stack, FIPS, China, `:443`) names its registry here as in the plan. A string that
//! names an ECR registry but does not parse matches every image of that registry (of every
//! region of the account when it names no region): which image it means is unknown, as the
//! plan's `usage_coverage_gap` guard reads it.
//!
//! # Failures
//!
//! A source that cannot be read (role not assumed, an API failing after its retries, a
//! per-resource failure other than "gone") is recorded with its account and region, and
//! while any reading holds a failure nothing is deleted (`reference_check_failed`): missing
//! data is not absence of use. AWS documents no other failure reasons for these calls; an
//! unknown one is a failure.
//!
//! # The cache, and its age
//!
//! Each account × region is a [`Cache`] entry holding the instant its reading *started*.
//! [`Cache::view`] re-reads every entry older than the maximum age (one task reads, the
//! others wait for it) and hands out the readings; a repository takes a view before its
//! first batch and again before each later batch. A batch is therefore judged on references
//! at most `reference_max_age_seconds` old when its checks start; the checks, the journal
//! write and the final DescribeImages (see [`crate::deletion`]) come after.
//!
//! Task definition revisions are immutable (a change is a new revision: Amazon ECS Developer
//! Guide, "Updating an Amazon ECS task definition"), so a revision's images are described
//! once per run and kept; it is described again only when it is listed in another status
//! than the one it was described in (ACTIVE → INACTIVE gives it a `deregisteredAt`).
//!
//! # Cost
//!
//! Per account × region and reading, with `C` clusters, `S` services, `T` tasks, `D` task
//! definitions (ACTIVE and INACTIVE: INACTIVE ones stay listed indefinitely, so `D` grows
//! with the account's history), `F` image functions with `V` versions in all:
//! ⌈D/100⌉ ListTaskDefinitions pages + D DescribeTaskDefinition (first reading only, then
//! only the revisions deregistered since) + 1 ListClusters + C·(ListServices + 2 ListTasks
//! pages) + ⌈S/10⌉ DescribeServices + ⌈S/20⌉ DescribeServiceRevisions + S
//! ListServiceDeployments + ⌈T/100⌉ DescribeTasks + ⌈F/50⌉ ListFunctions + F·(1
//! ListVersionsByFunction + 1 ListAliases) + V GetFunction. The readings of an apply that
//! lasts `L` seconds are about `L / reference_max_age_seconds + 1`. At hundreds of accounts
//! this is the bulk of an apply's calls; every one goes through the shared [`Caller`] (per
//! account, region and API caps, backoff on throttling). DescribeTaskDefinition and
//! GetFunction have no batch form; they dominate the first reading of an account with a long
//! task definition history or many function versions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{CreatedAt, DesiredStatus, TaskDefinitionStatus};
use aws_sdk_lambda::types::PackageType;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ecrgc_aws::{AccountSession, CallStats, Caller, Failure};
use ecrgc_model::image_ref::parse_image_ref;
use ecrgc_model::time::Micros;
use futures::StreamExt;
use tokio::sync::Mutex;

use crate::timestamp::micros;

/// A repository: account, region, name.
pub type RepoKey = (String, String, String);

/// An image reference found live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Tag named, if any.
    pub tag: Option<String>,
    /// Digest named, if any.
    pub digest: Option<String>,
    /// Digest the service resolved (a task's or service revision's `imageDigest`, Lambda's
    /// `ResolvedImageUri`).
    pub resolved_digest: Option<String>,
    /// The workload naming it.
    pub resource: String,
}

/// The references read in one account × region (or in several, merged).
#[derive(Debug, Default)]
pub struct Found {
    by_repo: HashMap<RepoKey, Vec<Reference>>,
    /// Unparsable references by the registry they name: account, and region when named.
    malformed: HashMap<(String, Option<String>), Vec<Reference>>,
    /// Sources that could not be read, as `account/region source: error`.
    pub failures: Vec<String>,
    /// Workload resources examined.
    pub examined: u64,
}

impl Found {
    /// The first reference naming the image `digest` (carrying `tags`) of `repo`. An
    /// unparsable reference to the registry of `repo` counts for every image of it.
    pub fn matching(&self, repo: &RepoKey, digest: &str, tags: &[&str]) -> Option<&Reference> {
        let exact = self.by_repo.get(repo).and_then(|refs| {
            refs.iter().find(|r| {
                r.digest.as_deref() == Some(digest)
                    || r.resolved_digest.as_deref() == Some(digest)
                    || (r.digest.is_none() && r.tag.as_deref().is_some_and(|t| tags.contains(&t)))
            })
        });
        exact.or_else(|| {
            [Some(repo.1.clone()), None]
                .into_iter()
                .find_map(|region| self.malformed.get(&(repo.0.clone(), region)))
                .and_then(|refs| refs.first())
        })
    }

    /// Records `image` (as a workload names it), with the digest the service resolved it
    /// to, for `resource`.
    pub(crate) fn add(&mut self, image: &str, resolved_digest: Option<&str>, resource: &str) {
        let parsed = parse_image_ref(image);
        if parsed.is_malformed_ecr() {
            // Without an account it names no registry this sweep could protect.
            if let Some(account) = parsed.account_id {
                self.malformed
                    .entry((account, parsed.region))
                    .or_default()
                    .push(Reference {
                        tag: None,
                        digest: None,
                        resolved_digest: None,
                        resource: format!(
                            "{resource} (unparsable reference {image:?}: {})",
                            parsed.parse_error.unwrap_or_default()
                        ),
                    });
            }
            return;
        }
        let (Some(account), Some(region)) = (parsed.account_id, parsed.region) else {
            return;
        };
        if !parsed.is_ecr {
            return;
        }
        self.by_repo
            .entry((account, region, parsed.repository))
            .or_default()
            .push(Reference {
                tag: parsed.tag,
                digest: parsed.digest,
                resolved_digest: resolved_digest
                    .filter(|d| d.starts_with("sha256:"))
                    .map(str::to_owned),
                resource: resource.to_owned(),
            });
    }
}

/// Reads the references of one account × region.
pub trait Reader: Send + Sync {
    /// Every reference in `account`/`region`, or the failures that kept some unread.
    fn read(&self, account: &str, region: &str) -> impl Future<Output = Found> + Send;
}

/// One account × region's reading and the instant it started.
#[derive(Debug)]
struct Reading {
    found: Found,
    read_at: Instant,
}

/// The readings of every account × region, each re-read when older than the maximum age.
pub struct Cache<R> {
    reader: R,
    places: Vec<(String, String)>,
    max_age: Duration,
    parallel: usize,
    readings: Mutex<HashMap<(String, String), Arc<Reading>>>,
}

/// The readings a batch is judged on.
#[derive(Debug, Clone, Default)]
pub struct View {
    readings: Vec<Arc<Reading>>,
}

impl View {
    /// The first reference naming the image, in any account and region.
    pub fn matching(&self, repo: &RepoKey, digest: &str, tags: &[&str]) -> Option<&Reference> {
        self.readings
            .iter()
            .find_map(|r| r.found.matching(repo, digest, tags))
    }

    /// Why nothing may be deleted on this view: the sources that could not be read.
    pub fn blocked(&self) -> Option<String> {
        let mut failures: Vec<&str> = self
            .readings
            .iter()
            .flat_map(|r| r.found.failures.iter().map(String::as_str))
            .collect();
        failures.sort_unstable();
        (!failures.is_empty()).then(|| {
            format!(
                "the live references could not be read: {}",
                failures.join("; ")
            )
        })
    }

    /// Workload resources examined by the readings.
    pub fn examined(&self) -> u64 {
        self.readings.iter().map(|r| r.found.examined).sum()
    }
}

impl<R: Reader> Cache<R> {
    /// Readings of `places` (account, region) by `reader`, `parallel` at once, each re-read
    /// when older than `max_age`. Nothing is read before the first view.
    pub fn new(
        reader: R,
        places: Vec<(String, String)>,
        max_age: Duration,
        parallel: usize,
    ) -> Self {
        Self {
            reader,
            places,
            max_age,
            parallel: parallel.max(1),
            readings: Mutex::new(HashMap::new()),
        }
    }

    /// Every place's reading, none older than the maximum age now.
    pub async fn view(&self) -> View {
        self.view_at(Instant::now()).await
    }

    /// [`Cache::view`] at the instant `now`: the places never read, or read more than the
    /// maximum age before `now`, are read (again) first.
    pub(crate) async fn view_at(&self, now: Instant) -> View {
        let mut readings = self.readings.lock().await;
        let stale: Vec<(String, String)> = self
            .places
            .iter()
            .filter(|p| {
                readings
                    .get(*p)
                    .is_none_or(|r| now.saturating_duration_since(r.read_at) > self.max_age)
            })
            .cloned()
            .collect();
        let fresh: Vec<((String, String), Found)> = futures::stream::iter(stale)
            .map(|(account, region)| async move {
                let found = self.reader.read(&account, &region).await;
                ((account, region), found)
            })
            .buffer_unordered(self.parallel)
            .collect()
            .await;
        for (place, found) in fresh {
            readings.insert(
                place,
                Arc::new(Reading {
                    found,
                    read_at: now,
                }),
            );
        }
        View {
            readings: self
                .places
                .iter()
                .filter_map(|p| readings.get(p).cloned())
                .collect(),
        }
    }
}

/// The live references through the AWS APIs.
pub type References = Cache<AwsReader>;

/// A task definition revision as described: its status, when it was deregistered, and the
/// images of its containers (immutable per revision).
#[derive(Debug)]
struct Definition {
    status: String,
    deregistered_at: Option<Micros>,
    images: Vec<String>,
}

/// Reads ECS and Lambda through the shared call gates.
pub struct AwsReader {
    /// The shared call gates.
    pub caller: Caller,
    /// A session per account (or why there is none).
    pub sessions: HashMap<String, Result<AccountSession, Failure>>,
    /// Whether to read ECS.
    pub ecs: bool,
    /// Whether to read Lambda.
    pub lambda: bool,
    /// Deregistered task definitions, stopped tasks and deployments at or after this
    /// instant still count: the snapshot time minus `rules.rollback_window_hours`.
    pub recent_since: Micros,
    /// Describe calls in flight per reading.
    pub fan_out: usize,
    /// Task definitions described so far, by ARN.
    definitions: std::sync::Mutex<HashMap<String, Arc<Definition>>>,
}

impl AwsReader {
    /// A reader of these sessions.
    pub fn new(
        caller: Caller,
        sessions: HashMap<String, Result<AccountSession, Failure>>,
        (ecs, lambda): (bool, bool),
        recent_since: Micros,
        fan_out: usize,
    ) -> Self {
        Self {
            caller,
            sessions,
            ecs,
            lambda,
            recent_since,
            fan_out: fan_out.max(1),
            definitions: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl Reader for AwsReader {
    async fn read(&self, account: &str, region: &str) -> Found {
        let mut found = Found::default();
        let session = match self.sessions.get(account) {
            Some(Ok(s)) => s,
            Some(Err(f)) => {
                found.failures.push(format!("{account}: {f}"));
                return found;
            }
            None => {
                found
                    .failures
                    .push(format!("{account}: no session for the account"));
                return found;
            }
        };
        let stats = CallStats::default();
        let cx = Cx {
            caller: &self.caller,
            account,
            region,
            stats: &stats,
        };
        if self.ecs
            && let Err(f) = self.ecs(&cx, &session.ecs(region), &mut found).await
        {
            found.failures.push(format!("{account}/{region} ecs: {f}"));
        }
        if self.lambda
            && let Err(f) = self.lambda(&cx, &session.lambda(region), &mut found).await
        {
            found
                .failures
                .push(format!("{account}/{region} lambda: {f}"));
        }
        found
    }
}

/// One reading's place and counters.
struct Cx<'a> {
    caller: &'a Caller,
    account: &'a str,
    region: &'a str,
    stats: &'a CallStats,
}

impl Cx<'_> {
    async fn call<T, E, F, Fut>(&self, api: &str, f: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.caller
            .call(self.account, self.region, api, self.stats, f)
            .await
    }

    async fn paginate<T, E, F, Fut>(&self, api: &str, page: F) -> Result<Vec<T>, Failure>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, Option<String>), SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.caller
            .paginate(self.account, self.region, api, self.stats, page)
            .await
    }
}

/// Services per DescribeServices call, tasks per DescribeTasks call, revisions and
/// deployments per describe call: the APIs' maximums (Amazon ECS API Reference).
const SERVICES_PER_CALL: usize = 10;
const TASKS_PER_CALL: usize = 100;
const REVISIONS_PER_CALL: usize = 20;
const DEPLOYMENTS_PER_CALL: usize = 20;
/// Lambda's largest list page.
const LAMBDA_PAGE: i32 = 50;

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
fn recent(at: Option<Micros>, since: Micros) -> bool {
    at.is_none_or(|t| t >= since)
}

impl AwsReader {
    async fn ecs(
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
            .buffered(self.fan_out);
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
            .buffered(self.fan_out);
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

    async fn lambda(
        &self,
        cx: &Cx<'_>,
        client: &aws_sdk_lambda::Client,
        found: &mut Found,
    ) -> Result<(), Failure> {
        let functions = cx
            .paginate("lambda:ListFunctions", |marker| {
                let call = client
                    .list_functions()
                    .max_items(LAMBDA_PAGE)
                    .set_marker(marker);
                async move {
                    call.send().await.map(|o| {
                        let names = o
                            .functions()
                            .iter()
                            .filter(|f| f.package_type() == Some(&PackageType::Image))
                            .filter_map(|f| f.function_name().map(str::to_owned))
                            .collect::<Vec<_>>();
                        (names, o.next_marker().map(str::to_owned))
                    })
                }
            })
            .await?;
        for name in functions {
            match self.function(cx, client, &name).await {
                Ok(refs) => {
                    found.examined += 1;
                    for r in refs {
                        found.add(&r.image, r.resolved_digest.as_deref(), &r.resource);
                    }
                }
                // Deleted since it was listed: it runs nothing.
                Err(f) if f.code.as_deref() == Some("ResourceNotFoundException") => {}
                Err(f) => return Err(f),
            }
        }
        Ok(())
    }

    /// The images of one function's versions (`$LATEST` included) and aliases.
    async fn function(
        &self,
        cx: &Cx<'_>,
        client: &aws_sdk_lambda::Client,
        name: &str,
    ) -> Result<Vec<FunctionRef>, Failure> {
        let listed = cx
            .paginate("lambda:ListVersionsByFunction", |marker| {
                let call = client
                    .list_versions_by_function()
                    .function_name(name)
                    .max_items(LAMBDA_PAGE)
                    .set_marker(marker);
                async move {
                    call.send().await.map(|o| {
                        let versions = o
                            .versions()
                            .iter()
                            .filter_map(|v| {
                                Some((v.version()?.to_owned(), v.function_arn()?.to_owned()))
                            })
                            .collect::<Vec<_>>();
                        (versions, o.next_marker().map(str::to_owned))
                    })
                }
            })
            .await?;
        let mut reads = futures::stream::iter(listed)
            .map(|(version, arn)| async move {
                let out = match cx
                    .call("lambda:GetFunction", || {
                        client
                            .get_function()
                            .function_name(name)
                            .qualifier(&version)
                            .send()
                    })
                    .await
                {
                    Ok(out) => out,
                    // This version was deleted after it was listed.
                    Err(f) if f.code.as_deref() == Some("ResourceNotFoundException") => {
                        return Ok(None);
                    }
                    Err(f) => return Err(f),
                };
                let code = out.code();
                Ok::<_, Failure>(Some(VersionImage {
                    version,
                    arn,
                    image: code.and_then(|c| c.image_uri()).map(str::to_owned),
                    resolved_digest: code
                        .and_then(|c| c.resolved_image_uri())
                        .and_then(|u| u.split_once('@'))
                        .map(|(_, d)| d.to_owned()),
                }))
            })
            .buffered(self.fan_out);
        let mut versions = Vec::new();
        while let Some(v) = reads.next().await {
            versions.extend(v?);
        }
        drop(reads);
        let aliases = cx
            .paginate("lambda:ListAliases", |marker| {
                let call = client
                    .list_aliases()
                    .function_name(name)
                    .max_items(LAMBDA_PAGE)
                    .set_marker(marker);
                async move {
                    call.send().await.map(|o| {
                        let aliases = o
                            .aliases()
                            .iter()
                            .filter_map(|a| {
                                let mut targets: Vec<String> = a
                                    .function_version()
                                    .map(str::to_owned)
                                    .into_iter()
                                    .collect();
                                if let Some(weights) = a
                                    .routing_config()
                                    .and_then(|rc| rc.additional_version_weights())
                                {
                                    targets.extend(weights.keys().cloned());
                                }
                                Some((a.alias_arn()?.to_owned(), targets))
                            })
                            .collect::<Vec<_>>();
                        (aliases, o.next_marker().map(str::to_owned))
                    })
                }
            })
            .await?;
        Ok(function_references(&versions, &aliases))
    }
}

/// One Lambda version's image as GetFunction gives it.
#[derive(Debug, Clone, PartialEq)]
struct VersionImage {
    version: String,
    arn: String,
    image: Option<String>,
    resolved_digest: Option<String>,
}

/// An image a function names, and where.
#[derive(Debug, Clone, PartialEq)]
struct FunctionRef {
    image: String,
    resolved_digest: Option<String>,
    resource: String,
}

/// The references of a function: each version's image under the version's ARN, and each
/// alias' versions' images under the alias' ARN. An alias naming a version that was not
/// read names nothing more than the versions already do.
fn function_references(
    versions: &[VersionImage],
    aliases: &[(String, Vec<String>)],
) -> Vec<FunctionRef> {
    let by_version: BTreeMap<&str, &VersionImage> =
        versions.iter().map(|v| (v.version.as_str(), v)).collect();
    let mut out = Vec::new();
    let targets = versions
        .iter()
        .map(|v| (v.arn.clone(), v))
        .chain(aliases.iter().flat_map(|(alias, names)| {
            names
                .iter()
                .filter_map(|n| by_version.get(n.as_str()))
                .map(move |v| (format!("{alias} (version {})", v.version), *v))
        }));
    for (resource, v) in targets {
        if let Some(image) = &v.image {
            out.push(FunctionRef {
                image: image.clone(),
                resolved_digest: v.resolved_digest.clone(),
                resource,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    const HOST: &str = "111111111111.dkr.ecr.eu-west-1.amazonaws.com";

    fn app() -> RepoKey {
        ("111111111111".into(), "eu-west-1".into(), "app".into())
    }

    #[test]
    fn references_match_by_digest_or_by_a_tag_the_image_carries() {
        let mut s = Found::default();
        let (a, b, c, dd) = (d('a'), d('b'), d('c'), d('d'));
        s.add(&format!("{HOST}/app@{a}"), None, "td:1");
        s.add(&format!("{HOST}/app:v2"), None, "td:2");
        s.add(&format!("{HOST}/app:v3"), Some(&c), "fn");
        s.add("docker.io/library/app:v2", None, "td:3");
        let repo = app();
        assert_eq!(
            s.matching(&repo, &a, &[]).expect("by digest").resource,
            "td:1"
        );
        assert_eq!(
            s.matching(&repo, &b, &["v2"]).expect("by tag").resource,
            "td:2"
        );
        assert_eq!(s.matching(&repo, &c, &[]).expect("resolved").resource, "fn");
        assert!(s.matching(&repo, &dd, &["v9"]).is_none());
        let other = ("111111111111".into(), "eu-west-1".into(), "other".into());
        assert!(s.matching(&other, &a, &["v2"]).is_none());
    }

    #[test]
    fn a_service_pin_names_its_digest_after_the_tag_moved_on() {
        // The revision names `:live` and pins `a`; the tag now names `b`.
        let mut s = Found::default();
        let (a, b) = (d('a'), d('b'));
        s.add(&format!("{HOST}/app:live"), Some(&a), "revision/1");
        let repo = app();
        let pinned = s
            .matching(&repo, &a, &[])
            .expect("the pinned digest, untagged");
        assert_eq!(pinned.resource, "revision/1");
        assert!(
            s.matching(&repo, &b, &["live"]).is_some(),
            "the tag's image too"
        );
        assert!(s.matching(&repo, &b, &["other"]).is_none());
        // A digest reference never resolves through its tag.
        let mut s = Found::default();
        s.add(&format!("{HOST}/app:live@{a}"), Some(&a), "revision/2");
        assert!(s.matching(&repo, &b, &["live"]).is_none());
        // Something that is no digest is not taken for one.
        let mut s = Found::default();
        s.add(&format!("{HOST}/app:v1"), Some("latest"), "task");
        assert_eq!(
            s.matching(&repo, &b, &["v1"])
                .expect("by tag")
                .resolved_digest,
            None
        );
    }

    #[test]
    fn every_endpoint_form_names_the_same_registry() {
        let mut s = Found::default();
        let a = d('a');
        s.add(
            &format!("111111111111.dkr-ecr.eu-west-1.on.aws/app@{a}"),
            None,
            "dual",
        );
        s.add(
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com:443/app:v2",
            None,
            "port",
        );
        s.add(
            "111111111111.dkr.ecr-fips.us-east-1.amazonaws.com/app:v3",
            None,
            "fips",
        );
        s.add(
            "111111111111.dkr.ecr.cn-north-1.amazonaws.com.cn/app:v4",
            None,
            "china",
        );
        let repo = |r: &str| ("111111111111".to_owned(), r.to_owned(), "app".to_owned());
        let found = |r: &str, digest: &str, tags: &[&str]| {
            s.matching(&repo(r), digest, tags)
                .map(|n| n.resource.clone())
        };
        assert_eq!(found("eu-west-1", &a, &[]).as_deref(), Some("dual"));
        assert_eq!(
            found("eu-west-1", &d('b'), &["v2"]).as_deref(),
            Some("port")
        );
        assert_eq!(
            found("us-east-1", &d('b'), &["v3"]).as_deref(),
            Some("fips")
        );
        assert_eq!(
            found("cn-north-1", &d('b'), &["v4"]).as_deref(),
            Some("china")
        );
        assert_eq!(found("us-east-1", &a, &["v2"]), None);
    }

    #[test]
    fn an_unparsable_reference_keeps_its_whole_registry() {
        let mut s = Found::default();
        s.add(
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com:5000/app:v1",
            None,
            "td:1",
        );
        s.add(
            "222222222222.dkr.ecr.eu-west.amazonaws.com/svc:v1",
            None,
            "td:2",
        );
        s.add("dkr.ecr.us-east-1.amazonaws.com/app:v1", None, "td:3");
        let key = |a: &str, r: &str, n: &str| (a.to_owned(), r.to_owned(), n.to_owned());
        let hit = s
            .matching(&key("111111111111", "eu-west-1", "other"), &d('e'), &[])
            .expect("same registry, any repository");
        assert!(
            hit.resource.starts_with("td:1 (unparsable"),
            "{}",
            hit.resource
        );
        assert!(
            s.matching(&key("111111111111", "us-east-1", "app"), &d('e'), &["v1"])
                .is_none()
        );
        // No region named: every region of the account.
        for region in ["eu-west-1", "us-east-1"] {
            assert!(
                s.matching(&key("222222222222", region, "svc"), &d('e'), &[])
                    .is_some()
            );
        }
        // No account named: nothing to protect.
        assert!(
            s.matching(&key("333333333333", "us-east-1", "app"), &d('e'), &["v1"])
                .is_none()
        );
    }

    fn version(v: &str, image: Option<String>, resolved: Option<String>) -> VersionImage {
        VersionImage {
            version: v.into(),
            arn: format!("arn:aws:lambda:eu-west-1:333333333333:function:f:{v}"),
            image,
            resolved_digest: resolved,
        }
    }

    #[test]
    fn a_published_version_and_its_alias_keep_the_digest_latest_moved_away_from() {
        let (a, b, c) = (d('a'), d('b'), d('c'));
        let versions = vec![
            // $LATEST now names `b` by tag; version 1 was published on `a`.
            version("$LATEST", Some(format!("{HOST}/app:v2")), Some(b.clone())),
            version("1", Some(format!("{HOST}/app@{a}")), Some(a.clone())),
            version("2", Some(format!("{HOST}/app:old")), Some(c.clone())),
            version("3", None, None),
        ];
        let aliases = vec![
            ("arn:alias:live".to_owned(), vec!["1".to_owned()]),
            // A weighted alias: its second version counts too; one not read adds nothing.
            (
                "arn:alias:canary".to_owned(),
                vec!["2".to_owned(), "9".to_owned()],
            ),
        ];
        let refs = function_references(&versions, &aliases);
        let mut s = Found::default();
        for r in &refs {
            s.add(&r.image, r.resolved_digest.as_deref(), &r.resource);
        }
        let repo = app();
        let by = |digest: &str, tags: &[&str]| {
            s.by_repo[&repo]
                .iter()
                .filter(|r| {
                    r.digest.as_deref() == Some(digest)
                        || r.resolved_digest.as_deref() == Some(digest)
                        || (r.digest.is_none()
                            && r.tag.as_deref().is_some_and(|t| tags.contains(&t)))
                })
                .map(|r| r.resource.clone())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(
            by(&a, &[]),
            BTreeSet::from([
                "arn:aws:lambda:eu-west-1:333333333333:function:f:1".to_owned(),
                "arn:alias:live (version 1)".to_owned(),
            ])
        );
        // Version 2 named a tag that moved on: the digest it resolved stays in use.
        assert_eq!(
            by(&c, &[]),
            BTreeSet::from([
                "arn:aws:lambda:eu-west-1:333333333333:function:f:2".to_owned(),
                "arn:alias:canary (version 2)".to_owned(),
            ])
        );
        assert!(s.matching(&repo, &b, &[]).is_some(), "$LATEST's digest");
        assert!(s.matching(&repo, &d('e'), &["v9"]).is_none());
        assert_eq!(refs.len(), 5, "{refs:?}");
    }

    #[test]
    fn inside_the_window_means_at_or_after_its_start_or_unknown() {
        assert!(recent(None, 100));
        assert!(recent(Some(100), 100));
        assert!(recent(Some(150), 100));
        assert!(!recent(Some(99), 100));
    }

    /// A reader that counts its readings and names, in each, the image `app@a` by a resource
    /// carrying the reading's number; a place in `failing` fails.
    struct Counting {
        reads: AtomicU64,
        failing: Vec<(String, String)>,
    }

    impl Reader for Counting {
        async fn read(&self, account: &str, region: &str) -> Found {
            let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
            let mut found = Found::default();
            if self
                .failing
                .iter()
                .any(|(a, r)| a == account && r == region)
            {
                found
                    .failures
                    .push(format!("{account}/{region} ecs: denied"));
                return found;
            }
            found.add(
                &format!("{HOST}/app@{}", d('a')),
                None,
                &format!("{account}/{region} reading {n}"),
            );
            found
        }
    }

    fn places() -> Vec<(String, String)> {
        vec![
            ("111111111111".into(), "eu-west-1".into()),
            ("222222222222".into(), "us-east-1".into()),
        ]
    }

    #[tokio::test]
    async fn readings_are_kept_until_older_than_the_maximum_age_then_read_again() {
        let cache = Cache::new(
            Counting {
                reads: AtomicU64::new(0),
                failing: vec![],
            },
            places(),
            Duration::from_secs(300),
            4,
        );
        let t0 = Instant::now();
        let view = cache.view_at(t0).await;
        assert_eq!(
            cache.reader.reads.load(Ordering::SeqCst),
            2,
            "one per place"
        );
        assert!(view.blocked().is_none());
        assert!(view.matching(&app(), &d('a'), &[]).is_some());
        assert_eq!(view.readings.len(), 2);
        // Young enough: nothing is read.
        cache.view_at(t0 + Duration::from_secs(300)).await;
        assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 2);
        // Older than the maximum age: every place is read again.
        let later = cache.view_at(t0 + Duration::from_secs(301)).await;
        assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 4);
        let first = later.matching(&app(), &d('a'), &[]).expect("found");
        assert!(
            first.resource.ends_with("reading 3") || first.resource.ends_with("reading 4"),
            "the new reading is the one used: {}",
            first.resource
        );
        // The age counts from the new reading.
        cache.view_at(t0 + Duration::from_secs(601)).await;
        assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 4);
        cache.view_at(t0 + Duration::from_secs(602)).await;
        assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 6);
    }

    #[tokio::test]
    async fn a_failed_reading_blocks_until_a_new_one_succeeds() {
        let cache = Cache::new(
            Counting {
                reads: AtomicU64::new(0),
                failing: vec![("222222222222".into(), "us-east-1".into())],
            },
            places(),
            Duration::from_secs(60),
            1,
        );
        let t0 = Instant::now();
        let why = cache.view_at(t0).await.blocked().expect("blocked");
        assert!(why.contains("222222222222/us-east-1 ecs: denied"), "{why}");
        // A failure is a reading too: it is kept for the maximum age, then read again.
        assert!(
            cache
                .view_at(t0 + Duration::from_secs(30))
                .await
                .blocked()
                .is_some()
        );
        assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 2);
        cache.view_at(t0 + Duration::from_secs(61)).await;
        assert_eq!(cache.reader.reads.load(Ordering::SeqCst), 4);
    }
}
