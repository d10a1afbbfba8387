-- id: usage_coverage_gap
-- order: 60
-- summary: A usage source failed or is disabled for an account that can pull the image.
--
-- ## What it protects
-- Every image of a repository when, in this run, a usage source is not `ok`
-- (`collection_coverage.status` is `denied`, `error` or `disabled`) for:
--   * `inspector` in the registry's own account and region (its images' use is unknown);
--   * `config_aggregator` anywhere (task definitions of the whole organization are unknown);
--   * `ecs` or `lambda` in an account that can pull from the repository: the registry's
--     own account, the accounts its repository policy grants, or any account for `*`.
--
-- ## Why
-- Missing data is not absence of use (pitfall 6). If the collector could not read account
-- B's task definitions, an image that only B runs looks unused. Blocking exactly the
-- repositories B can pull from keeps the rest of the organization cleanable.
--
-- ## Evidence
-- `detail`: the (alphabetically first) failure, as `source status in account/region`.
--
-- ## Example
-- `ecs` denied in 444444444444/us-east-1; repository `sandbox/tool` grants 444444444444 →
-- all its images protected; `payments/api`, which does not, stays cleanable.
WITH failed AS (
    SELECT account_id, region, source, status
    FROM collection_coverage
    WHERE source IN ('inspector', 'config_aggregator', 'ecs', 'lambda')
      AND status <> 'ok'
),
pullers AS (
    SELECT account_id, region, repository_name, account_id AS puller_account_id
    FROM repositories
    UNION
    SELECT account_id, region, repository_name, puller_account_id
    FROM repository_pullers
),
blocked AS (
    SELECT r.account_id, r.region, r.repository_name,
           f.source || ' ' || f.status || ' in ' || f.account_id || '/' || f.region AS detail
    FROM repositories r
    JOIN failed f ON f.source = 'inspector' AND f.account_id = r.account_id AND f.region = r.region
    UNION ALL
    SELECT r.account_id, r.region, r.repository_name,
           f.source || ' ' || f.status || ' in ' || f.account_id || '/' || f.region AS detail
    FROM repositories r
    CROSS JOIN failed f
    WHERE f.source = 'config_aggregator'
    UNION ALL
    SELECT u.account_id, u.region, u.repository_name,
           f.source || ' ' || f.status || ' in ' || f.account_id || '/' || f.region AS detail
    FROM pullers u
    JOIN failed f ON f.account_id = u.puller_account_id
    WHERE f.source IN ('ecs', 'lambda')
    UNION ALL
    SELECT u.account_id, u.region, u.repository_name,
           f.source || ' ' || f.status || ' in ' || f.account_id || '/' || f.region AS detail
    FROM pullers u
    CROSS JOIN failed f
    WHERE f.source IN ('ecs', 'lambda') AND u.puller_account_id = '*'
),
blocked_repositories AS (
    SELECT account_id, region, repository_name, MIN(detail) AS detail
    FROM blocked
    GROUP BY account_id, region, repository_name
)
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    b.detail
FROM images i
JOIN blocked_repositories b
  ON b.account_id = i.account_id
 AND b.region = i.region
 AND b.repository_name = i.repository_name
