-- The guards protecting each image, in precedence order.
--
-- Columns: account_id, region, repository_name, image_digest, guard_id.
SELECT account_id, region, repository_name, image_digest, guard_id
FROM protections ORDER BY guard_order, guard_id
