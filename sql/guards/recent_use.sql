-- id: recent_use
-- order: 30
-- summary: Inspector saw the image in use within `unused_days`, or sees it running now.
--
-- ## What it does
-- Protects images whose Inspector coverage shows `lastInUseAt` at or after
-- `params.unused_cutoff`, or a non-zero `inUseCount`, whatever the row's scan status: an
-- `INACTIVE` row is no evidence of non-use (see `stale`), but the use it does show still
-- happened.
--
-- ## Why
-- Recent use is the strongest evidence there is. Rules already look for unused images;
-- this guard makes the protection explicit, so that a custom or mistuned rule can never
-- reach an image that something ran last week (docs/pitfalls.md#p3).
--
-- ## Evidence
-- `detail`: `in_use_count=N` when tasks or pods run it now, else `recently_used`.
--
-- ## Example
-- `lastInUseAt` 2026-11-01, now 2026-11-21, unused_days 90 → protected.
-- The same with coverage `INACTIVE` → protected.
--
-- ## Options
-- - `rules.unused_days` (default `90`): read as `params.unused_cutoff`, that many days
--   before `now`.
--
-- ## References
-- docs/pitfalls.md#p3.
SELECT
    c.account_id,
    c.region,
    c.repository_name,
    c.image_digest,
    CASE
        WHEN COALESCE(c.in_use_count, 0) > 0
            THEN 'in_use_count=' || CAST(c.in_use_count AS VARCHAR)
        ELSE 'recently_used'
    END AS detail
FROM inspector_coverage c
CROSS JOIN params p
WHERE c.last_in_use_at >= p.unused_cutoff
   OR COALESCE(c.in_use_count, 0) > 0
