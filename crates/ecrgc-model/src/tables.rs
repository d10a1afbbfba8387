//! Every table of a snapshot run.
//!
//! Names follow the AWS API fields they come from, in snake_case. Identifiers of an image are
//! always the quadruple (`account_id`, `region`, `repository_name`, `image_digest`): a digest
//! alone is not unique across repositories.

use crate::column::TableDef;
use crate::table;

table! {
    /// One row per committed run: when it was taken, by what, and with which tool version.
    "runs" => RunRow, RunsBuilder {
        /// When the run started writing.
        started_at: Time,
        /// What produced the run: `collect` or `demo`.
        origin: Text,
        /// Version of ecrgc that wrote the run.
        tool_version: Text,
        /// SHA-256 of the configuration the run was taken with, if any.
        config_hash: OptText,
        /// Seed of the demo generator, for `demo` runs.
        demo_seed: OptInt,
    }
}

table! {
    /// One row per ECR repository (DescribeRepositories, GetLifecyclePolicy).
    "repositories" => RepositoryRow, RepositoriesBuilder {
        /// Registry account that owns the repository.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository name, e.g. `team/service`.
        repository_name: Text,
        /// Repository ARN.
        repository_arn: Text,
        /// When the repository was created.
        created_at: OptTime,
        /// `MUTABLE`, `IMMUTABLE` or one of the `*_WITH_EXCLUSION` variants.
        image_tag_mutability: Text,
        /// Lifecycle policy JSON, null when the repository has none.
        lifecycle_policy_text: OptText,
    }
}

table! {
    /// One row per resource tag of a repository (ListTagsForResource).
    "repository_tags" => RepositoryTagRow, RepositoryTagsBuilder {
        /// Registry account that owns the repository.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository name.
        repository_name: Text,
        /// Tag key.
        tag_key: Text,
        /// Tag value (empty string when the tag has none).
        tag_value: Text,
    }
}

table! {
    /// One row per grant of a repository policy that lets an account pull
    /// (`ecr:BatchGetImage`): who may pull, and how far that reaches. The registry's own
    /// account can always pull; the plan adds it (it has no row unless the policy names it).
    /// A repository without a policy has no rows. How a policy is read is in
    /// `crates/ecrgc-collect/src/aws/policy.rs`; every doubt reads as `*`.
    "repository_pullers" => RepositoryPullerRow, RepositoryPullersBuilder {
        /// Registry account that owns the repository.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository name.
        repository_name: Text,
        /// Account that may pull (12 digits), or `*` for accounts the policy does not list.
        puller_account_id: Text,
        /// How the grant reaches: `account` (an AWS principal naming the account, or `*`
        /// narrowed by `aws:PrincipalAccount`), `organization` (`*` narrowed by
        /// `aws:PrincipalOrgID` / `aws:PrincipalOrgPaths` to `principal_org_id`: any account
        /// of that organization), `public` (`*` without such a condition: any AWS account),
        /// `service` (a service principal: the account named by `aws:SourceAccount` /
        /// `aws:SourceArn`, else `*`) or `unknown` (a policy or statement ecrgc cannot
        /// narrow: unreadable, `NotPrincipal`, `NotAction`, federated principals; `*`).
        grant_kind: Text,
        /// The principal as the policy writes it (an ARN, an account id, `*`, a service
        /// name), or why the grant is `unknown`.
        principal: Text,
        /// For `organization` grants, the organization id (`o-…`) the condition names.
        principal_org_id: OptText,
    }
}

table! {
    /// One row per destination and repository filter of a replication rule of a registry
    /// (DescribeRegistry → `replicationConfiguration.rules[]`), read in every registry account
    /// and region. A rule with no repository filter replicates every repository and has one
    /// row per destination with a null `repository_filter`; a rule with filters has one row
    /// per destination × filter. Whether the configuration was read is in
    /// `collection_coverage` (source `ecr_replication`): a registry without an `ok` row there
    /// has replication settings of unknown effect.
    ///
    /// With `delete_replication`, deleting an image in the source (by digest, by lifecycle
    /// expiry, or by removing its last tag) deletes the same digest in the repository of the
    /// same name in every destination of the rule (ECR user guide, "Replicating image
    /// deletions in Amazon ECR"; "Private image replication in Amazon ECR": the repository
    /// name stays the same across Regions and accounts).
    "replication_rules" => ReplicationRuleRow, ReplicationRulesBuilder {
        /// Source registry account.
        account_id: Text,
        /// Source region.
        region: Text,
        /// Position of the rule in the registry's replication configuration, from 0.
        rule_index: Int,
        /// Destination registry account (`destinations[].registryId`).
        destination_account_id: Text,
        /// Destination region (`destinations[].region`).
        destination_region: Text,
        /// A repository filter of the rule (`repositoryFilters[].filter`), null when the rule
        /// has none and replicates every repository.
        repository_filter: OptText,
        /// The filter's type: `PREFIX_MATCH` (a repository whose name starts with the filter
        /// matches), null with the filter.
        filter_type: OptText,
        /// `deleteReplication.enabled`: image deletions and tag removals replicate too.
        delete_replication: Flag,
    }
}

table! {
    /// One row per pull through cache rule of a registry (DescribePullThroughCacheRules).
    /// A repository whose name starts with `ecr_repository_prefix/` (every repository for the
    /// prefix `ROOT`) caches an upstream registry: what is deleted there can be pulled again
    /// from the upstream.
    "pull_through_cache_rules" => PullThroughCacheRuleRow, PullThroughCacheRulesBuilder {
        /// Registry account.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository prefix of the cache, e.g. `docker-hub`, or `ROOT`.
        ecr_repository_prefix: Text,
        /// The upstream registry's URL, e.g. `registry-1.docker.io`.
        upstream_registry_url: Text,
        /// The upstream registry kind, e.g. `docker-hub`, `ecr`, `quay`.
        upstream_registry: OptText,
        /// Repository prefix in the upstream registry, if any.
        upstream_repository_prefix: OptText,
        /// When the rule was created.
        created_at: OptTime,
    }
}

table! {
    /// One row per repository creation template of a registry
    /// (DescribeRepositoryCreationTemplates): the settings ECR gives a repository it creates
    /// for replication, pull through cache or create-on-push, among them a lifecycle policy.
    "repository_creation_templates" => RepositoryCreationTemplateRow, RepositoryCreationTemplatesBuilder {
        /// Registry account.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository name prefix the template applies to, or `ROOT` for every repository.
        prefix: Text,
        /// What the template is applied for: `REPLICATION`, `PULL_THROUGH_CACHE`,
        /// `CREATE_ON_PUSH`, comma-separated.
        applied_for: Text,
        /// Lifecycle policy JSON the template gives new repositories, null when none.
        lifecycle_policy_text: OptText,
        /// Tag mutability the template gives new repositories.
        image_tag_mutability: OptText,
        /// The template's description.
        description: OptText,
    }
}

table! {
    /// One row per image (DescribeImages). An image index and each of its children are
    /// separate rows.
    "images" => ImageRow, ImagesBuilder {
        /// Registry account that owns the image.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository name.
        repository_name: Text,
        /// Manifest digest, `sha256:…`.
        image_digest: Text,
        /// When the image was pushed.
        image_pushed_at: Time,
        /// Size ECR reports; for an image index this is its largest child, not a sum.
        image_size_bytes: Int,
        /// Media type of the manifest (image manifest or index).
        image_manifest_media_type: Text,
        /// Artifact media type, for non-image artifacts such as signatures.
        artifact_media_type: OptText,
        /// Last pull ECR recorded (refreshed at most about daily), null if never pulled.
        last_recorded_pull_time: OptTime,
        /// `ACTIVE`, `ARCHIVED` or `ACTIVATING`.
        image_status: Text,
        /// Digest of the subject this artifact refers to (OCI referrers), if any.
        subject_manifest_digest: OptText,
        /// Number of tags the image carries; 0 means untagged.
        tag_count: Int,
    }
}

table! {
    /// One row per tag of an image.
    "image_tags" => ImageTagRow, ImageTagsBuilder {
        /// Registry account that owns the image.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository name.
        repository_name: Text,
        /// Digest the tag points to.
        image_digest: Text,
        /// The tag.
        image_tag: Text,
    }
}

table! {
    /// One row per edge between two images of a repository where the child follows the
    /// parent: kept with it, deleted with it. Relations are `index_child` (an image index
    /// and a manifest it lists), `referrer` (an OCI referrer and its subject, through
    /// subjectManifestDigest) and `cosign_tag` (a `sha256-<digest>.sig/.att/.sbom` tag and
    /// the image it signs).
    "image_relations" => ImageRelationRow, ImageRelationsBuilder {
        /// Registry account that owns both images.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository name.
        repository_name: Text,
        /// The index, or the subject.
        parent_digest: Text,
        /// The child manifest, or the referrer/signature.
        child_digest: Text,
        /// `index_child`, `referrer` or `cosign_tag`.
        relation: Text,
    }
}

table! {
    /// One row per blob a single-platform image manifest lists: its config and each of its
    /// layers (BatchGetImage; only with `collect --layers`, and always in the demo). The
    /// table exists, empty, in every run. A repository's rows are written whole or not at
    /// all: an image of a repository that has rows has its own rows too, unless it is an
    /// index (whose bytes are its children's), not `ACTIVE` (archived images cannot be
    /// fetched) or of a manifest type other than Docker v2 schema 2 and OCI image manifest.
    /// Whether an account and region were read is in `collection_coverage` (source
    /// `ecr_layers`). A blob listed by many images of a repository is stored once, so the
    /// bytes that deleting images frees are those of the distinct `layer_digest`s no kept
    /// image of the same repository lists.
    "image_layers" => ImageLayerRow, ImageLayersBuilder {
        /// Registry account that owns the image.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository name.
        repository_name: Text,
        /// Manifest digest of the image listing the blob.
        image_digest: Text,
        /// Digest of the blob, `sha256:…`.
        layer_digest: Text,
        /// Size of the blob as the manifest states it (compressed, as stored).
        layer_size_bytes: Int,
        /// Media type of the blob, e.g. `application/vnd.oci.image.layer.v1.tar+gzip`.
        media_type: Text,
        /// `layer` (stored in the repository), `config` (the image configuration blob) or
        /// `foreign` (a non-distributable layer the manifest points elsewhere for, not
        /// stored by ECR).
        layer_kind: Text,
        /// Position in the manifest's `layers` list, from 0 (base) up; null for the config.
        layer_index: OptInt,
    }
}

table! {
    /// One row per image whose manifest the collector read with BatchGetImage.
    /// The read was tonight or in an earlier committed run of the same store (the row is
    /// carried forward while the image stays in its repository). ECR counts every
    /// BatchGetImage as a pull, so `last_recorded_pull_time` of such an image may be the
    /// collector's own read when `pull_time_exclusion` is not `ok`. Digests are immutable,
    /// so a manifest is read at most once per digest per store: later runs reuse the
    /// `image_relations` and `image_layers` an earlier run derived from it.
    "manifest_reads" => ManifestReadRow, ManifestReadsBuilder {
        /// Registry account that owns the image.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository name.
        repository_name: Text,
        /// Manifest digest of the image read.
        image_digest: Text,
        /// `index` (an image index, for its children) or `image` (a single-platform image
        /// manifest, for its layers with `collect --layers`).
        manifest_kind: Text,
        /// Snapshot time of the run whose collector read the manifest.
        read_at: Time,
        /// That run.
        read_run_id: Text,
        /// Status of that run's `pull_time_exclusion` unit for the registry account and
        /// region: `ok` (the read did not move the pull time), `not_excluded` (it did), or
        /// `denied`/`error` (unknown).
        pull_time_exclusion: Text,
    }
}

table! {
    /// One row per image Inspector covers (ListCoverage, AWS_ECR_CONTAINER_IMAGE). An image
    /// without a row is of unknown use, never "unused". The usage fields are evidence of
    /// non-use only while Inspector monitors the image (`scan_status` `ACTIVE`): once the
    /// rescan duration lapses the row stays, `INACTIVE` with reason
    /// `SCAN_ELIGIBILITY_EXPIRED`, and AWS documents nothing about the usage fields after
    /// that (the `stale` and `never_used` rules cite the sources).
    "inspector_coverage" => InspectorCoverageRow, InspectorCoverageBuilder {
        /// Registry account that owns the image.
        account_id: Text,
        /// Region of the registry.
        region: Text,
        /// Repository name.
        repository_name: Text,
        /// Manifest digest.
        image_digest: Text,
        /// Last time Inspector saw the image in use by an ECS task or EKS pod.
        last_in_use_at: OptTime,
        /// ECS tasks and EKS pods running the image when Inspector last looked.
        in_use_count: OptInt,
        /// Last pull Inspector knows of.
        image_pulled_at: OptTime,
        /// `scanStatus.statusCode`: `ACTIVE` (Inspector monitors the image) or `INACTIVE`.
        scan_status: Text,
        /// `scanStatus.reason`, e.g. `SUCCESSFUL`, `PENDING_INITIAL_SCAN` or, for an image
        /// whose rescan duration lapsed, `SCAN_ELIGIBILITY_EXPIRED`; null when Inspector
        /// gave none.
        scan_status_reason: OptText,
    }
}

table! {
    /// One row per registry account × region whose Inspector configuration was read
    /// (GetConfiguration, `ecrConfiguration.rescanDurationState`): how long Inspector keeps
    /// monitoring an image after its push and after its last use or pull. It says which
    /// images `inspector_coverage` can vouch for; the report shows it per account.
    "inspector_configuration" => InspectorConfigurationRow, InspectorConfigurationBuilder {
        /// Registry account.
        account_id: Text,
        /// Region.
        region: Text,
        /// `rescanDuration`: monitoring after the push, `LIFETIME` or `DAYS_n`.
        rescan_duration: OptText,
        /// `pullDateRescanDuration`: monitoring after the last use or pull, `DAYS_n`.
        pull_date_rescan_duration: OptText,
        /// `pullDateRescanMode`: what `pull_date_rescan_duration` counts from,
        /// `LAST_IN_USE_AT` or `LAST_PULL_DATE`.
        pull_date_rescan_mode: OptText,
        /// `status` of the last change to the setting: `SUCCESS`, `PENDING` or `FAILED`.
        status: OptText,
        /// `updatedAt`: when the setting last changed.
        updated_at: OptTime,
    }
}

table! {
    /// One row per image reference found in a workload: a container of a task definition,
    /// a service deployment, task set or revision, or a task, a Lambda function version or
    /// alias, a Kubernetes object's container, a Batch job definition, an App Runner service,
    /// a SageMaker model or endpoint configuration, a CodeBuild project, a line of a declared
    /// reference file. The raw image string is kept next to its parsed parts.
    "workload_refs" => WorkloadRefRow, WorkloadRefsBuilder {
        /// Account the workload runs in (for `kubernetes`, the kubeconfig context; for
        /// `references`, the configured location).
        account_id: Text,
        /// Region the workload runs in (empty for `kubernetes` and `references`).
        region: Text,
        /// Where the reference was read: `config_aggregator`, `ecs`, `lambda`, `eks`,
        /// `kubernetes`, `batch`, `apprunner`, `sagemaker`, `codebuild` or `references`.
        source: Text,
        /// `task_definition`, `service`, `task_set`, `service_revision` (a service's current
        /// revision), `service_deployment` (a revision a recent deployment named), `task`,
        /// `lambda_version`, `lambda_alias`; `pod`, `deployment`, `statefulset`, `daemonset`,
        /// `replicaset`, `job`, `cronjob`; `batch_job_definition`, `apprunner_service`,
        /// `sagemaker_model`, `sagemaker_endpoint_config`, `codebuild_project`; `file`, or
        /// `file_repository` (a declared repository without tag or digest).
        kind: Text,
        /// ARN of the workload resource (the service revision for `service_revision` and
        /// `service_deployment`); for a Kubernetes object `<cluster ARN or
        /// kubernetes://context>/namespaces/<ns>/<plural>/<name>`, for a declared reference
        /// `<file>:<line>`.
        resource_arn: Text,
        /// Resource status: `ACTIVE`/`INACTIVE` (task definitions, Batch job definitions),
        /// `RUNNING`/`STOPPED` (tasks), `ACTIVE` (services, Lambda, Kubernetes objects other
        /// than pods, SageMaker, CodeBuild, declared references), the task set's status
        /// (`PRIMARY`, `ACTIVE`, `DRAINING`), the service's (`service_revision`), the
        /// deployment's (`SUCCESSFUL`…), a pod's phase, an App Runner service's status.
        status: Text,
        /// When the status was last seen changing: deregistration, stop, Config capture time,
        /// or the creation of the deployment (`service_deployment`).
        status_at: OptTime,
        /// Container name inside the task definition, task, Kubernetes object or Batch job
        /// definition (the model, for a SageMaker endpoint configuration).
        container_name: OptText,
        /// The image string exactly as the workload names it.
        image_uri: Text,
        /// Whether the image string names an ECR repository.
        ref_is_ecr: Flag,
        /// Registry account parsed from the image string.
        ref_account_id: OptText,
        /// Registry region parsed from the image string.
        ref_region: OptText,
        /// Repository parsed from the image string.
        ref_repository: OptText,
        /// Tag parsed from the image string.
        ref_tag: OptText,
        /// Digest parsed from the image string.
        ref_digest: OptText,
        /// Digest the source itself resolved (a task container's imageDigest, a service
        /// revision's pinned imageDigest, Lambda's ResolvedImageUri).
        resolved_digest: OptText,
        /// Why an image string that names an ECR registry is not a valid reference to it
        /// (`ecrgc_model::image_ref`); null for ECR references and non-ECR images. Such a
        /// row has `ref_is_ecr` false and `ref_account_id` / `ref_region` when its host
        /// names them; the plan keeps that registry's images (`usage_coverage_gap`,
        /// `malformed_reference`) and reports the count per source.
        ref_parse_error: OptText,
    }
}

table! {
    /// One row per account × region × source a run tried to read, with the outcome. A
    /// usage source that is not `ok` makes the images its account can pull undeletable.
    "collection_coverage" => CollectionCoverageRow, CollectionCoverageBuilder {
        /// Account read.
        account_id: Text,
        /// Region read.
        region: Text,
        /// `ecr`, `ecr_replication` (the registry settings: replication rules, pull through
        /// cache rules, creation templates), `inspector`, `inspector_configuration` (its
        /// rescan settings; informative, never a gap), `config_aggregator`, `ecs` or
        /// `lambda`; with `collect --layers`
        /// also `ecr_layers` (the `image_layers` of the registry) and `pull_time_exclusion`
        /// (whether ECR leaves the collector's pulls out of `lastRecordedPullTime` there).
        source: Text,
        /// `ok`, `denied`, `error` or `disabled`; for `pull_time_exclusion` also
        /// `not_excluded`: the collector's BatchGetImage calls moved pull times there.
        status: Text,
        /// The error message when not `ok`.
        error: OptText,
        /// Rows collected.
        items: Int,
        /// API calls made.
        api_calls: Int,
        /// Throttling responses met.
        throttles: Int,
        /// Wall time spent, in milliseconds.
        duration_ms: Int,
    }
}

table! {
    /// One row per account a run set out to collect: the scope the plan compares
    /// repository policies against. An account a policy lets pull that has no `workload`
    /// row here is outside the collected scope, so what it runs is unknown
    /// (`usage_coverage_gap`, `out_of_scope`). Whether each read succeeded is in
    /// `collection_coverage`.
    "collection_scope" => CollectionScopeRow, CollectionScopeBuilder {
        /// The account.
        account_id: Text,
        /// Its workloads (ECS, Lambda) are read: listed in `org.accounts` or discovered.
        workload: Flag,
        /// Its registries (ECR, Inspector) are read (`org.registry_accounts`, default all).
        registry: Flag,
        /// With `org.discover = "organizations"`, the organization listed (`o-…`); null when
        /// the run did not list an organization. Every row of a run carries the same value.
        organization_id: OptText,
        /// Listed as an ACTIVE member of `organization_id` by Organizations ListAccounts.
        organization_member: Flag,
    }
}

/// Every table of a run, in the order they are documented.
pub fn all_tables() -> Vec<TableDef> {
    vec![
        RunsBuilder::def(),
        RepositoriesBuilder::def(),
        RepositoryTagsBuilder::def(),
        RepositoryPullersBuilder::def(),
        ReplicationRulesBuilder::def(),
        PullThroughCacheRulesBuilder::def(),
        RepositoryCreationTemplatesBuilder::def(),
        ImagesBuilder::def(),
        ImageTagsBuilder::def(),
        ImageRelationsBuilder::def(),
        ImageLayersBuilder::def(),
        ManifestReadsBuilder::def(),
        InspectorCoverageBuilder::def(),
        InspectorConfigurationBuilder::def(),
        WorkloadRefsBuilder::def(),
        CollectionCoverageBuilder::def(),
        CollectionScopeBuilder::def(),
    ]
}

/// Looks a table up by name.
pub fn table_def(name: &str) -> Option<TableDef> {
    all_tables().into_iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_starts_with_run_id_and_snapshot_time() {
        for t in all_tables() {
            assert_eq!(t.columns[0].name, "run_id", "{}", t.name);
            assert_eq!(t.columns[1].name, "snapshot_time", "{}", t.name);
            for c in &t.columns {
                assert!(!c.doc.is_empty(), "{}.{} has no doc", t.name, c.name);
            }
        }
    }

    #[test]
    fn builder_produces_batches_of_the_declared_schema() {
        let mut b = ImageTagsBuilder::new("r1", 0, 4);
        b.append(ImageTagRow {
            account_id: "111111111111",
            region: "eu-west-1",
            repository_name: "app",
            image_digest: "sha256:aa",
            image_tag: "v1",
        });
        assert_eq!(b.len(), 1);
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), ImageTagsBuilder::def().schema());
        assert!(b.is_empty());
    }
}
