-- id: coverage
-- summary: Inspector's coverage row of the explained image, if any: last in use, in-use count, last pull.
--
-- No row means Inspector does not cover the image: its use is unknown, never "unused".
--
-- Input: `target`. Columns: last_in_use_at, in_use_count, image_pulled_at.
SELECT c.last_in_use_at, c.in_use_count, c.image_pulled_at
FROM inspector_coverage c
JOIN target t
  ON t.account_id = c.account_id AND t.region = c.region
 AND t.repository_name = c.repository_name AND t.image_digest = c.image_digest
