-- id: recent_pull
-- order: 40
-- summary: ECR or Inspector recorded a pull within `recent_pull_days`.
--
-- ## What it does
-- Protects images whose `lastRecordedPullTime` (ECR) or `imagePulledAt` (Inspector) is at
-- or after `params.pull_cutoff`.
--
-- ## Why
-- A pull is use that Inspector cannot see: a developer's laptop, a CI job, another cloud, a
-- Lambda cold start. ECR refreshes the pull time at most about daily, so this is coarse,
-- but it errs on the side of keeping. Collectors must not pull images themselves (ECR
-- counts BatchGetImage as a pull), see the collector notes in the README and
-- docs/pitfalls.md#p11.
--
-- ## Evidence
-- `detail`: `ecr_pull` or `inspector_pull`, whichever is recent.
--
-- ## Example
-- `lastRecordedPullTime` 2026-11-10, now 2026-11-21, recent_pull_days 90 → protected.
--
-- ## Options
-- - `rules.recent_pull_days` (default `90`): read as `params.pull_cutoff`, that many days
--   before `now`.
--
-- ## References
-- docs/pitfalls.md#p11.
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    CASE
        WHEN i.last_recorded_pull_time >= p.pull_cutoff THEN 'ecr_pull'
        ELSE 'inspector_pull'
    END AS detail
FROM images i
CROSS JOIN params p
LEFT JOIN inspector_coverage c
  ON c.account_id = i.account_id
 AND c.region = i.region
 AND c.repository_name = i.repository_name
 AND c.image_digest = i.image_digest
WHERE i.last_recorded_pull_time >= p.pull_cutoff
   OR c.image_pulled_at >= p.pull_cutoff
