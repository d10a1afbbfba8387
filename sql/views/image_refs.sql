-- id: image_refs
-- order: 10
-- summary: Every workload reference resolved to the image it names, with whether it still protects.
--
-- One row per (workload reference, image). A reference names an image by digest
-- (`repo@sha256:…`, `repo:tag@sha256:…`), by the digest its source resolved (a task
-- container's imageDigest, Lambda's ResolvedImageUri), or by tag alone, which resolves to
-- whatever digest the tag names in the same snapshot. A reference with a digest never
-- resolves through its tag: the digest is what runs. A tag reference whose source resolved
-- another digest (the tag moved since the task started) names both images: the running
-- one, and the one the next deployment would pull.
--
-- `is_live` says whether the reference still protects the image:
--   * task definitions: ACTIVE, or deregistered less than the rollback window ago;
--   * tasks: not STOPPED, or stopped less than the rollback window ago;
--   * service deployments (`service_deployment`: the source, target and rollback revisions
--     of a deployment, with the digests they pin): created less than the rollback window
--     ago. ECS rolls a deployment back to "the last successfully deployed service revision"
--     and creates no new revision for it (Amazon ECS Developer Guide, "Amazon ECS service
--     revisions"), so those digests must stay pullable for the window;
--   * services, their task sets (`task_set`), their current service revisions
--     (`service_revision`), Lambda versions and aliases: always, since a scaled-to-zero
--     service or an idle function is still a deployment. With version consistency a
--     revision's `resolved_digest` is what the service starts again, whatever its tag
--     names now ("Amazon ECS uses the digest to start any other desired tasks": Amazon ECS
--     API Reference, `ContainerImage`; Developer Guide, "Container image resolution").
--   * Kubernetes pods (`pod`, sources `eks` and `kubernetes`): not `Succeeded` or `Failed`
--     (a finished pod restarts nothing; its Job or CronJob is a reference of its own).
--     Deployments, StatefulSets, DaemonSets, ReplicaSets (old ones are rollback targets of
--     `kubectl rollout undo`), Jobs and CronJobs: always;
--   * AWS Batch job definitions (`batch_job_definition`): `ACTIVE`, or `INACTIVE` unless a
--     committed run from before the rollback cutoff already saw that definition `INACTIVE`
--     (`history_workload_refs`): Batch records no deregistration time (AWS Batch API
--     Reference, `JobDefinition` has none) and keeps a deregistered definition for 180
--     days (DeregisterJobDefinition), so the first run that sees it `INACTIVE` bounds when
--     it was deregistered. Without such a run it is kept: unknown is recent;
--   * App Runner services: any status but `DELETED` (botocore `ServiceStatus`; a `PAUSED`
--     service resumes with its image: AWS App Runner API Reference, PauseService and
--     ResumeService);
--   * SageMaker models and endpoint configurations, CodeBuild projects and declared
--     references (source `references`): always.
-- A missing `status_at` counts as recent: the safe reading of an unknown time.
--
-- A declared reference that names a repository without a tag or digest (kind
-- `file_repository`: Helm values give the tag on another line) names every image of the
-- repository (`matched_by` `repository`).
--
-- Columns: account_id, region, repository_name, image_digest (the image), workload_account_id,
-- workload_region, source, kind, resource_arn, status, status_at, image_uri, matched_by
-- (`digest`, `resolved_digest`, `tag` or `repository`), is_live.
WITH resolved AS (
    SELECT w.*, w.ref_digest AS image_digest, 'digest' AS matched_by
    FROM workload_refs w
    WHERE w.ref_is_ecr AND w.ref_digest IS NOT NULL
    UNION ALL
    SELECT w.*, w.resolved_digest AS image_digest, 'resolved_digest' AS matched_by
    FROM workload_refs w
    WHERE w.ref_is_ecr AND w.resolved_digest IS NOT NULL
      AND (w.ref_digest IS NULL OR w.resolved_digest <> w.ref_digest)
    UNION ALL
    SELECT w.*, t.image_digest AS image_digest, 'tag' AS matched_by
    FROM workload_refs w
    JOIN image_tags t
      ON t.account_id = w.ref_account_id
     AND t.region = w.ref_region
     AND t.repository_name = w.ref_repository
     AND t.image_tag = w.ref_tag
    WHERE w.ref_is_ecr AND w.ref_digest IS NULL AND w.kind <> 'file_repository'
      -- the digest the source resolved is matched above; a tag naming it adds no row
      AND (w.resolved_digest IS NULL OR t.image_digest <> w.resolved_digest)
    UNION ALL
    SELECT w.*, i.image_digest AS image_digest, 'repository' AS matched_by
    FROM workload_refs w
    JOIN images i
      ON i.account_id = w.ref_account_id
     AND i.region = w.ref_region
     AND i.repository_name = w.ref_repository
    WHERE w.ref_is_ecr AND w.kind = 'file_repository'
),
inactive_before_cutoff AS (
    SELECT DISTINCT h.resource_arn
    FROM history_workload_refs h
    CROSS JOIN params p
    WHERE h.kind = 'batch_job_definition'
      AND h.status = 'INACTIVE'
      AND h.snapshot_time < p.rollback_cutoff
)
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    r.account_id AS workload_account_id,
    r.region AS workload_region,
    r.source,
    r.kind,
    r.resource_arn,
    r.status,
    r.status_at,
    r.image_uri,
    r.matched_by,
    CASE
        WHEN r.kind = 'task_definition'
            THEN r.status = 'ACTIVE' OR r.status_at IS NULL OR r.status_at >= p.rollback_cutoff
        WHEN r.kind = 'task'
            THEN r.status <> 'STOPPED' OR r.status_at IS NULL OR r.status_at >= p.rollback_cutoff
        WHEN r.kind = 'service_deployment'
            THEN r.status_at IS NULL OR r.status_at >= p.rollback_cutoff
        WHEN r.kind = 'pod'
            THEN r.status NOT IN ('Succeeded', 'Failed')
        WHEN r.kind = 'batch_job_definition'
            THEN r.status = 'ACTIVE' OR x.resource_arn IS NULL
        WHEN r.kind = 'apprunner_service'
            THEN r.status <> 'DELETED'
        ELSE TRUE
    END AS is_live
FROM resolved r
LEFT JOIN inactive_before_cutoff x ON x.resource_arn = r.resource_arn
JOIN images i
  ON i.account_id = r.ref_account_id
 AND i.region = r.ref_region
 AND i.repository_name = r.ref_repository
 AND i.image_digest = r.image_digest
CROSS JOIN params p
