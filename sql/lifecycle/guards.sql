-- id: guards
-- summary: The guards protecting each image, in precedence order.
--
-- Read by `ecrgc lifecycle suggest` (crates/ecrgc-plan/src/lifecycle.rs) after the plan's
-- rules and guards are installed.
--
-- Columns: account_id, region, repository_name, image_digest, guard_id.
SELECT account_id, region, repository_name, image_digest, guard_id
FROM protections ORDER BY guard_order, guard_id
