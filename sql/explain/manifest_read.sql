-- id: manifest_read
-- summary: The collector's read of the explained image's manifest, if any: when, in which run, and whether its role was excluded from pull-time updates.
--
-- BatchGetImage counts as a pull (docs/pitfalls.md#p11); see `sql/report/collector_pulls.sql`.
--
-- Input: `target`. Columns: read_at, read_run_id, pull_time_exclusion.
SELECT m.read_at, m.read_run_id, m.pull_time_exclusion
FROM manifest_reads m
JOIN target t
  ON t.account_id = m.account_id AND t.region = m.region
 AND t.repository_name = m.repository_name AND t.image_digest = m.image_digest
