-- id: untagged_fallback
-- order: 40
-- summary: Untagged, pushed more than `unused_days` ago, and not monitored by Inspector.
--
-- ## What it does
-- Flags images with no tag, pushed before `params.unused_cutoff`, for which Inspector has
-- no `ACTIVE` coverage row: no row at all, or an `INACTIVE` one (Inspector stopped
-- monitoring the image, e.g. `SCAN_ELIGIBILITY_EXPIRED`; see `stale` for the sources).
--
-- ## Why
-- Without usage data an image's use is unknown, and ecrgc does not guess for tagged images.
-- An `INACTIVE` coverage row is no usage data either: AWS documents nothing about its usage
-- fields once Inspector stops monitoring the image, so `stale` and `never_used` leave it
-- alone and this rule treats it like a missing row. Evidence of use in such a row still
-- protects the image (`recent_use`).
-- An untagged image can only be pulled by digest, though, and every digest reference ecrgc
-- can see (task definitions, services, tasks, Lambda) is checked by the `live_reference`
-- guard (docs/pitfalls.md#p1). This is the classic "untagged and old" clean-up, made safe
-- by that guard and by index closure: the untagged children of a kept multi-arch index are
-- never deleted (docs/pitfalls.md#p4).
--
-- ## Evidence
-- Key columns only; the plan reports the coverage state `no_coverage` or `inactive`.
--
-- ## Example
-- Untagged image pushed 2026-01-10, no Inspector row → flagged.
-- The same image covered `INACTIVE` → flagged; covered `ACTIVE` → not flagged (that is
-- `stale` or `never_used`).
-- Same image with a tag `v1.2.0` → not flagged (tags may be pulled by anyone).
--
-- ## Options
-- - `rules.unused_days` (default `90`): read as `params.unused_cutoff`, that many days
--   before `now`; images pushed at or after it are not flagged.
--
-- ## References
-- docs/pitfalls.md#p1, docs/pitfalls.md#p4, docs/pitfalls.md#p6.
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    CAST(NULL AS VARCHAR) AS detail
FROM images i
CROSS JOIN params p
WHERE i.tag_count = 0
  AND i.image_pushed_at < p.unused_cutoff
  AND NOT EXISTS (
      SELECT 1
      FROM inspector_coverage c
      WHERE c.account_id = i.account_id
        AND c.region = i.region
        AND c.repository_name = i.repository_name
        AND c.image_digest = i.image_digest
        AND c.scan_status = 'ACTIVE'
  )
