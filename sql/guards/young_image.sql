-- id: young_image
-- order: 50
-- summary: Pushed less than `min_age_days` ago.
--
-- ## What it does
-- Protects images pushed at or after `params.young_cutoff`.
--
-- ## Why
-- A fresh image has had no time to be deployed, scanned or pulled, so the absence of
-- evidence says nothing yet. A floor on age keeps a lowered `unused_days` or a custom rule
-- from cleaning up this morning's release candidate.
--
-- ## Evidence
-- `detail` is empty; the push date is in the plan's evidence.
--
-- ## Example
-- Pushed 2026-11-15, now 2026-11-21, min_age_days 14 → protected.
--
-- ## Options
-- - `rules.min_age_days` (default `14`): read as `params.young_cutoff`, that many days
--   before `now`.
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    CAST(NULL AS VARCHAR) AS detail
FROM images i
CROSS JOIN params p
WHERE i.image_pushed_at >= p.young_cutoff
