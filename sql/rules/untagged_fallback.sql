-- id: untagged_fallback
-- order: 40
-- summary: Untagged, pushed more than `unused_days` ago, and without any Inspector coverage.
--
-- ## What it flags
-- Images with no tag, pushed before `params.unused_cutoff`, for which Inspector has no
-- coverage row at all.
--
-- ## Why
-- Without usage data an image's use is unknown, and ecrgc does not guess for tagged images.
-- An untagged image can only be pulled by digest, though, and every digest reference ecrgc
-- can see (task definitions, services, tasks, Lambda) is checked by the `live_reference`
-- guard. This is the classic "untagged and old" clean-up, made safe by that guard and by
-- index closure: the untagged children of a kept multi-arch index are never deleted.
--
-- ## Evidence
-- Key columns only; the plan reports the coverage state `no_coverage`.
--
-- ## Example
-- Untagged image pushed 2026-01-10, no Inspector row → flagged.
-- Same image with a tag `v1.2.0` → not flagged (tags may be pulled by anyone).
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
  )
