-- id: history_use
-- order: 35
-- summary: Showed use in any committed run of the history window (`history_days`).
--
-- ## What it does
-- Protects images that, in any committed run of the last `history_days` days (the
-- `history_*` tables; the planned run included), had Inspector use (`inUseCount` > 0, or
-- `lastInUseAt` at or after `params.unused_cutoff`) or were named by a workload that was
-- live in that run: an ACTIVE task definition or Batch job definition, a RUNNING task, a
-- service, a Lambda version or alias, a Kubernetes workload or a pod not finished, an App
-- Runner service not deleted, a SageMaker model, a CodeBuild project, a declared reference
-- — by digest, by resolved digest, or by a tag as it resolved in that same run.
--
-- ## Why
-- An image counts as unused only if it was unused in every run of the window. Evidence
-- comes and goes: Inspector stops monitoring an image after its rescan duration (the row
-- turns `INACTIVE`, and a row may also vanish with its image or scan configuration), a
-- batch service is deleted and recreated every week, a task definition is deregistered on
-- Friday and re-registered on Monday. One night without a signal must not be enough to
-- delete (docs/pitfalls.md#p3, docs/pitfalls.md#p6).
--
-- ## Evidence
-- `detail`: the (alphabetically first) evidence, e.g. `inspector use in run <id>`.
--
-- ## Example
-- Last night Inspector had `inUseCount` 1 for the image; tonight its coverage row is
-- gone → protected until the window has passed without a signal.
--
-- ## Options
-- - `rules.unused_days` (default `90`): read as `params.unused_cutoff`, that many days
--   before `now`; a `lastInUseAt` at or after it in any run of the window protects.
-- - `rules.history_days` (default `14`): not a `params` column; the engine fills the
--   `history_*` tables with the committed runs of that many days before `now`.
--
-- ## References
-- docs/pitfalls.md#p3, docs/pitfalls.md#p6.
WITH refs AS (
    SELECT w.run_id, w.kind, w.ref_account_id, w.ref_region, w.ref_repository,
           w.ref_tag, w.ref_digest, w.resolved_digest
    FROM history_workload_refs w
    WHERE w.ref_is_ecr
      AND CASE
              WHEN w.kind IN ('task_definition', 'task', 'batch_job_definition')
                  THEN w.status IN ('ACTIVE', 'RUNNING')
              WHEN w.kind = 'pod' THEN w.status NOT IN ('Succeeded', 'Failed')
              WHEN w.kind = 'apprunner_service' THEN w.status <> 'DELETED'
              -- names no tag: `image_refs` matches its whole repository while declared
              WHEN w.kind = 'file_repository' THEN FALSE
              ELSE TRUE
          END
),
evidence AS (
    SELECT c.account_id, c.region, c.repository_name, c.image_digest,
           'inspector use in run ' || c.run_id AS detail
    FROM history_inspector_coverage c
    CROSS JOIN params p
    WHERE COALESCE(c.in_use_count, 0) > 0 OR c.last_in_use_at >= p.unused_cutoff
    UNION ALL
    SELECT ref_account_id, ref_region, ref_repository, ref_digest,
           kind || ' in run ' || run_id
    FROM refs
    WHERE ref_digest IS NOT NULL
    UNION ALL
    SELECT ref_account_id, ref_region, ref_repository, resolved_digest,
           kind || ' in run ' || run_id
    FROM refs
    WHERE resolved_digest IS NOT NULL
    UNION ALL
    SELECT t.account_id, t.region, t.repository_name, t.image_digest,
           f.kind || ' by tag in run ' || f.run_id
    FROM refs f
    JOIN history_image_tags t
      ON t.run_id = f.run_id
     AND t.account_id = f.ref_account_id
     AND t.region = f.ref_region
     AND t.repository_name = f.ref_repository
     AND t.image_tag = f.ref_tag
    WHERE f.ref_digest IS NULL
)
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    MIN(e.detail) AS detail
FROM images i
JOIN evidence e
  ON e.account_id = i.account_id
 AND e.region = i.region
 AND e.repository_name = i.repository_name
 AND e.image_digest = i.image_digest
GROUP BY i.account_id, i.region, i.repository_name, i.image_digest
