-- id: inspector_coverage
-- summary: What Inspector's coverage can vouch for, one row per registry account and region.
--
-- Inputs: the view `inspector_coverage_summary` (`sql/views/inspector_coverage_summary.sql`),
-- whose columns this returns.
SELECT *
FROM inspector_coverage_summary
ORDER BY account_id, region
