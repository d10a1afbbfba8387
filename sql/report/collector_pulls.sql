-- id: collector_pulls
-- summary: Images whose pull time may be the collector's own read, per registry account and region.
--
-- BatchGetImage counts as a pull and moves `lastRecordedPullTime` (docs/pitfalls.md#p11). An
-- image's pull time may be the collector's own when the collector read its manifest (tonight
-- or in an earlier run, `manifest_reads`) while its role had no pull-time update exclusion in
-- that registry and region (`pull_time_exclusion` other than `ok`), and ECR recorded a pull
-- no earlier than that read. `ecrgc explain` prints the same condition for one image
-- (`collector_read_note` in crates/ecrgc-report/src/explain.rs).
--
-- Inputs: `images`, `manifest_reads`.
--
-- Columns: account_id, region, images.
SELECT i.account_id, i.region, COUNT(*) AS images
FROM images i
JOIN manifest_reads m
  ON m.account_id = i.account_id AND m.region = i.region
 AND m.repository_name = i.repository_name AND m.image_digest = i.image_digest
WHERE m.pull_time_exclusion <> 'ok'
  AND i.last_recorded_pull_time >= m.read_at
GROUP BY i.account_id, i.region
ORDER BY i.account_id, i.region
