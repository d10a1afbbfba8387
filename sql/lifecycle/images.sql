-- id: images
-- summary: Every image of the run with its push time, size, status and the times it was last seen used.
--
-- Read by `ecrgc lifecycle suggest` (crates/ecrgc-plan/src/lifecycle.rs) after the plan's
-- rules and guards are installed.
--
-- Every image of the run with the times it was last seen used: ECR's last recorded pull and
-- Inspector's `lastInUseAt` and `imagePulledAt` (null without a coverage row).
--
-- Columns: account_id, region, repository_name, image_digest, image_pushed_at,
-- image_size_bytes, image_status, last_recorded_pull_time, last_in_use_at, image_pulled_at.
SELECT i.account_id, i.region, i.repository_name, i.image_digest, i.image_pushed_at,
       i.image_size_bytes, i.image_status, i.last_recorded_pull_time,
       c.last_in_use_at, c.image_pulled_at
FROM images i
LEFT JOIN inspector_coverage c
  ON c.account_id = i.account_id AND c.region = i.region
 AND c.repository_name = i.repository_name AND c.image_digest = i.image_digest
