-- id: live_reference
-- order: 20
-- summary: A live workload in any account names the image, by tag or by digest.
--
-- ## What it does
-- Protects images with at least one live reference in `image_refs`: an ACTIVE task
-- definition, one deregistered within the rollback window, a service (also scaled to zero)
-- and its task sets, the digest a service revision pins, a running or recently stopped
-- task, a Lambda function version or alias, a Kubernetes workload (EKS or a kubeconfig
-- context: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, and a pod not
-- finished, also by the digest it runs), an AWS Batch job definition (ACTIVE, or INACTIVE
-- inside the rollback window), an App Runner service, a SageMaker model or endpoint
-- configuration, a CodeBuild project, or a declared reference in a file. References count
-- from every account and region, not only the registry's own.
--
-- ## Why
-- "Not running now" is not "unused". A service scaled to zero, a Lambda function called
-- once a quarter and a rollback target all need their image the moment they start, and an
-- image pinned by digest is needed even when it has no tag left (docs/pitfalls.md#p1,
-- docs/pitfalls.md#p3). One referenced tag protects the whole image, whatever its other
-- tags (docs/pitfalls.md#p2), and a deploy by digest protects without any tag
-- (docs/pitfalls.md#p8).
--
-- ## Evidence
-- `detail`: the kind and ARN of the (alphabetically first) live reference.
--
-- ## Example
-- Task definition `web:7` (ACTIVE, account 222222222222) names `…/web:v7` → the image
-- behind tag `v7` is protected, with all its other tags.
--
-- ## Options
-- - `rules.rollback_window_hours` (default `24`): read through the `image_refs` view as
--   `params.rollback_cutoff`, that many hours before `now`; a task definition deregistered,
--   a task stopped or a deployment created at or after it is still live.
--
-- ## References
-- docs/pitfalls.md#p1, docs/pitfalls.md#p2, docs/pitfalls.md#p3, docs/pitfalls.md#p8.
SELECT
    account_id,
    region,
    repository_name,
    image_digest,
    MIN(kind || ' ' || resource_arn) AS detail
FROM image_refs
WHERE is_live
GROUP BY account_id, region, repository_name, image_digest
