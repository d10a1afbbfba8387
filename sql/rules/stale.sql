-- id: stale
-- order: 20
-- summary: Last seen in use by Inspector more than `unused_days` ago (coverage `ACTIVE`).
--
-- ## What it does
-- Flags images whose Inspector coverage is `ACTIVE`, shows a `lastInUseAt` before
-- `params.unused_cutoff` and no task or pod running them now (`inUseCount` zero).
--
-- ## Why
-- Workloads move on: the release deployed last spring is replaced by newer ones, but its
-- image stays and is billed every month. An image nobody has run for `unused_days` is a
-- candidate; rollback targets that still matter are kept by the reference guards
-- (docs/pitfalls.md#p3).
--
-- ## How Inspector's fields are read
-- `lastInUseAt` is "the last time an Amazon ECR image was used in an Amazon ECS task or
-- Amazon EKS pod" and `inUseCount` "the number of Amazon ECS tasks or Amazon EKS pods where
-- the Amazon ECR container image is in use" (Inspector API Reference,
-- `EcrContainerImageMetadata`). Inspector monitors an image while it was pushed within the
-- push rescan duration or last used (in `LAST_PULL_DATE` mode: pulled) within the pull-date
-- rescan duration; after that it stops monitoring it and sets the scan status to `INACTIVE`
-- with reason `SCAN_ELIGIBILITY_EXPIRED`, and the coverage row stays (Inspector User Guide,
-- "Configuring the Amazon ECR re-scan duration"; API Reference, `ScanStatus`). AWS
-- documents nothing about the usage fields of an image it no longer monitors, so an
-- `INACTIVE` row (whatever its reason) is no evidence of non-use: the image's use is
-- unknown and this rule does not flag it (docs/pitfalls.md#p6). Only rules that need no
-- usage data may (`untagged_fallback`, `not_pulled`, `inactive_task_definition`). As
-- evidence of *use* every row counts (`recent_use`, `history_use`).
--
-- For this rule to see an image unused for `unused_days`, Inspector must still monitor it:
-- a push rescan duration of `LIFETIME`, or a pull-date rescan duration in `LAST_IN_USE_AT`
-- mode of at least `unused_days`. The report shows each account's settings and how many of
-- its images are covered `ACTIVE`, `INACTIVE` and not at all.
--
-- ## Evidence
-- Key columns only; the plan adds `last_in_use_at`, the coverage state and the other
-- evidence columns.
--
-- ## Example
-- Last in use 2026-05-02, now 2026-11-21, unused_days 90, coverage `ACTIVE` → flagged.
-- Last in use 2026-11-01 → not flagged.
-- Last in use 2026-05-02 but coverage `INACTIVE` (`SCAN_ELIGIBILITY_EXPIRED`) → not
-- flagged: nobody has watched the image since Inspector stopped monitoring it.
--
-- ## Options
-- - `rules.unused_days` (default `90`): read as `params.unused_cutoff`, that many days
--   before `now`; a `lastInUseAt` at or after it is not stale.
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
  AND c.last_in_use_at < p.unused_cutoff
  AND COALESCE(c.in_use_count, 0) = 0
