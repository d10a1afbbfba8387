-- id: stale
-- order: 20
-- summary: Last seen in use by Inspector more than `unused_days` ago.
--
-- ## What it flags
-- Images whose Inspector coverage shows a `lastInUseAt` before `params.unused_cutoff` and
-- no task or pod running them now (`inUseCount` zero).
--
-- ## Why
-- Workloads move on: the release deployed last spring is replaced by newer ones, but its
-- image stays and is billed every month. An image nobody has run for `unused_days` is a
-- candidate; rollback targets that still matter are kept by the reference guards.
--
-- ## Evidence
-- Key columns only; the plan adds `last_in_use_at` and the other evidence columns.
--
-- ## Example
-- Last in use 2026-05-02, now 2026-11-21, unused_days 90 → flagged.
-- Last in use 2026-11-01 → not flagged.
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    CAST(NULL AS VARCHAR) AS detail
FROM images i
JOIN inspector_coverage c
  ON c.account_id = i.account_id
 AND c.region = i.region
 AND c.repository_name = i.repository_name
 AND c.image_digest = i.image_digest
CROSS JOIN params p
WHERE c.last_in_use_at < p.unused_cutoff
  AND COALESCE(c.in_use_count, 0) = 0
