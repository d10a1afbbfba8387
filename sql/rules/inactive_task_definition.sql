-- id: inactive_task_definition
-- order: 10
-- summary: Referenced only by task definitions deregistered longer ago than the rollback window.
--
-- ## What it does
-- Flags images older than `min_age_days` whose every workload reference is an INACTIVE ECS
-- task definition deregistered before `params.rollback_cutoff` (the `image_refs` view marks
-- such a reference not live).
--
-- ## Why
-- Deregistering a task definition is how a team says "this revision is done". Once the
-- rollback window has passed, an image that only such revisions name is a leftover, even
-- when Inspector has no coverage for it. Anything else that names the image (an ACTIVE
-- revision, a service, a task, a Lambda version) makes it a non-match here and a
-- protection in the `live_reference` guard; recent Inspector use is kept by `recent_use`.
-- A revision deregistered within the window still protects its image: it is the one a
-- rollback would start (docs/pitfalls.md#p3).
--
-- ## Evidence
-- `detail`: the (alphabetically first) deregistered task definition that names the image.
--
-- ## Example
-- `payments:41` deregistered 2026-10-01 names `payments@sha256:aa…`, nothing else does,
-- now 2026-11-21 → flagged. If `payments:42` (ACTIVE) names it too → not flagged.
--
-- ## Options
-- - `rules.min_age_days` (default `14`): read as `params.young_cutoff`, that many days before
--   `now`; younger images are not flagged.
-- - `rules.rollback_window_hours` (default `24`): read through the `image_refs` view as
--   `params.rollback_cutoff`, that many hours before `now`; a task definition deregistered
--   at or after it is still live.
--
-- ## References
-- docs/pitfalls.md#p3.
SELECT
    r.account_id,
    r.region,
    r.repository_name,
    r.image_digest,
    MIN(r.resource_arn) AS detail
FROM image_refs r
JOIN images i
  ON i.account_id = r.account_id
 AND i.region = r.region
 AND i.repository_name = r.repository_name
 AND i.image_digest = r.image_digest
CROSS JOIN params p
WHERE i.image_pushed_at < p.young_cutoff
GROUP BY r.account_id, r.region, r.repository_name, r.image_digest
HAVING BOOL_AND(r.kind = 'task_definition' AND NOT r.is_live)
