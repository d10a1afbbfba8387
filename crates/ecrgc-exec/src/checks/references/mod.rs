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
//!   `docs/pitfalls.md#p3`: "a task definition deregistered less than the rollback window
//!   ago still protects them"), counted from the snapshot rather than from now, which only
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
//! The other workload sources the configuration collects — EKS clusters, AWS Batch, App
//! Runner, SageMaker, CodeBuild, kubeconfig contexts and declared references — are read with
//! the collector's own readers (see `workloads`): EKS and the AWS services per account ×
//! region, contexts and declared-reference locations once per reading, as places of their
//! own in the cache.
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
//! this is the bulk of an apply's calls; every one goes through the shared
//! [`ecrgc_aws::Caller`] (per account, region and API caps, backoff on throttling).
//! DescribeTaskDefinition and GetFunction have no batch form; they dominate the first reading
//! of an account with a long task definition history or many function versions.

mod aws;
mod cache;
mod call;
mod ecs;
mod found;
mod lambda;
#[cfg(test)]
mod tests;
mod workloads;

pub use aws::AwsReader;
pub use cache::{Cache, Reader, View};
pub use found::{Found, Reference, RepositoryKey};
pub use workloads::WorkloadSources;

/// The live references through the AWS APIs.
pub type References = Cache<AwsReader>;
