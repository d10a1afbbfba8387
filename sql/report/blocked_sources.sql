-- id: blocked_sources
-- summary: Usage sources that failed or were switched off, per account and region: what blocked deletion in this run.
--
-- Pitfall 6: missing data is not absence of use. A usage source
-- (`ecrgc_model::vocabulary::USAGE_SOURCES`) that did not answer `ok` hides use, so the
-- `usage_coverage_gap` guard keeps what it could have seen; the summary lists each one with
-- its error.
--
-- Inputs: `collection_coverage`.
--
-- Columns: account_id, region, source, status, error.
SELECT account_id, region, source, status, error
FROM collection_coverage
WHERE source IN ('inspector', 'config_aggregator', 'aggregator_source', 'ecs', 'lambda',
                 'eks', 'batch', 'apprunner', 'sagemaker', 'codebuild', 'kubernetes',
                 'references')
  AND status <> 'ok'
ORDER BY account_id, region, source
