-- id: never_used
-- order: 30
-- summary: Pushed more than `unused_days` ago and never seen in use by Inspector.
--
-- ## What it flags
-- Images Inspector covers (a coverage row exists) whose `lastInUseAt` is empty and whose
-- `inUseCount` is zero, pushed before `params.unused_cutoff`.
--
-- ## Why
-- Every CI build pushes an image; most are never deployed. Inspector watches ECS tasks and
-- EKS pods across the organization, so an image it has covered since its push and never
-- seen running is a build nobody ran.
--
-- Images without a coverage row are *not* flagged here: no coverage is "unknown", never
-- "unused" (Inspector drops coverage after the rescan duration). Use is not everything:
-- Lambda functions and scaled-to-zero services never show in Inspector, which is why the
-- `live_reference` guard runs after every rule.
--
-- ## Evidence
-- Key columns only; the plan adds push date, pull date, Inspector fields and references.
--
-- ## Example
-- `team/api@sha256:aa…` pushed 2026-03-01, Inspector coverage with `lastInUseAt` null,
-- now 2026-11-21, unused_days 90 → flagged.
-- The same image pushed 2026-10-01 → not flagged (too recent to tell).
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
WHERE c.last_in_use_at IS NULL
  AND COALESCE(c.in_use_count, 0) = 0
  AND i.image_pushed_at < p.unused_cutoff
