-- id: never_used
-- order: 30
-- summary: Pushed more than `unused_days` ago, never seen in use by Inspector (coverage `ACTIVE`).
--
-- ## What it does
-- Flags images Inspector covers `ACTIVE` whose `lastInUseAt` is empty and whose
-- `inUseCount` is zero, pushed before `params.unused_cutoff`.
--
-- ## Why
-- Every CI build pushes an image; most are never deployed. Inspector watches ECS tasks and
-- EKS pods across the organization, so an image it still monitors and has never seen
-- running is a build nobody ran.
--
-- Images without a coverage row are *not* flagged here: no coverage is "unknown", never
-- "unused" (docs/pitfalls.md#p6). Use is not everything: Lambda functions and
-- scaled-to-zero services never show in Inspector, which is why the `live_reference` guard
-- runs after every rule (docs/pitfalls.md#p3).
--
-- ## How Inspector's fields are read
-- As in `stale`: the usage fields (Inspector API Reference, `EcrContainerImageMetadata`)
-- vouch for non-use only while Inspector monitors the image. Once neither the push nor the
-- last use (or pull) falls within the configured rescan durations, Inspector stops
-- monitoring, sets the scan status `INACTIVE` with reason `SCAN_ELIGIBILITY_EXPIRED` and
-- keeps the row (Inspector User Guide, "Configuring the Amazon ECR re-scan duration"; API
-- Reference, `ScanStatus`). AWS documents nothing about the usage fields after that, so an
-- `INACTIVE` row's empty `lastInUseAt` says nothing: not flagged. With AWS's default of 14
-- days an image older than that and never used is `INACTIVE`; this rule sees old images
-- only under a push rescan duration of `LIFETIME` (or one of at least the image's age).
--
-- ## Evidence
-- Key columns only; the plan adds push date, pull date, Inspector fields, the coverage
-- state and references.
--
-- ## Example
-- `team/api@sha256:aa…` pushed 2026-03-01, coverage `ACTIVE` with `lastInUseAt` null,
-- now 2026-11-21, unused_days 90 → flagged.
-- The same image pushed 2026-10-01 → not flagged (too recent to tell).
-- The same image covered `INACTIVE` (`SCAN_ELIGIBILITY_EXPIRED`) → not flagged (use
-- unknown since Inspector stopped monitoring it).
--
-- ## Options
-- - `rules.unused_days` (default `90`): read as `params.unused_cutoff`, that many days
--   before `now`; images pushed at or after it are not flagged.
--
-- ## References
-- Inspector API Reference, `EcrContainerImageMetadata` and `ScanStatus`; Inspector User
-- Guide, "Configuring the Amazon ECR re-scan duration"; docs/pitfalls.md#p3,
-- docs/pitfalls.md#p6.
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
WHERE c.scan_status = 'ACTIVE'
  AND c.last_in_use_at IS NULL
  AND COALESCE(c.in_use_count, 0) = 0
  AND i.image_pushed_at < p.unused_cutoff
