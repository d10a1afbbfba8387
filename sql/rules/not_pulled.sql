-- id: not_pulled
-- order: 35
-- default: off
-- summary: Not pulled (ECR or Inspector) for `recent_pull_days`, or never, and older than that.
--
-- Off by default: enable it with `[rules] enable = ["not_pulled"]`.
--
-- ## What it does
-- Flags images pushed before `params.pull_cutoff` whose `lastRecordedPullTime` is empty or
-- before the cut-off, and for which Inspector recorded no pull at or after it either.
--
-- ## Why
-- Every ECS task start, EKS pod start and `docker pull` moves ECR's pull time, so an image
-- nobody pulled for months is a strong candidate even where Inspector has no coverage. It
-- is weaker evidence than Inspector's, which is why it is opt-in: ECR refreshes the pull
-- time at most about daily, a task started a year ago and still running pulled only once,
-- and Lambda caches its image. The reference guards keep those (running tasks, services,
-- functions), and `recent_use` keeps what Inspector sees running. The collector never
-- moves the pull time itself (docs/pitfalls.md#p11).
--
-- ## Evidence
-- Key columns only; the plan reports `last_recorded_pull_time`.
--
-- ## Example
-- Pushed 2025-12-01, last pulled 2026-02-01, now 2026-11-21, recent_pull_days 90 → flagged.
-- Pulled 2026-11-01 → not flagged.
--
-- ## Options
-- - `rules.recent_pull_days` (default `90`): read as `params.pull_cutoff`, that many days
--   before `now`; a push or a pull (ECR or Inspector) at or after it keeps the image out.
--
-- ## References
-- docs/pitfalls.md#p3, docs/pitfalls.md#p11.
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    CAST(NULL AS VARCHAR) AS detail
FROM images i
CROSS JOIN params p
WHERE i.image_pushed_at < p.pull_cutoff
  AND (i.last_recorded_pull_time IS NULL OR i.last_recorded_pull_time < p.pull_cutoff)
  AND NOT EXISTS (
      SELECT 1
      FROM inspector_coverage c
      WHERE c.account_id = i.account_id
        AND c.region = i.region
        AND c.repository_name = i.repository_name
        AND c.image_digest = i.image_digest
        AND c.image_pulled_at >= p.pull_cutoff
  )
