-- id: usage_coverage_gap
-- order: 60
-- summary: Use of the image cannot be known: a usage source failed or is disabled, an account outside the collected scope may pull it, or a reference to its registry does not parse.
--
-- ## What it does
-- Protects every image of a repository when, in this run, the use of that repository is
-- not fully seen. Three causes; the `detail` says which:
--
-- 1. A usage source is not `ok` (`collection_coverage.status` is `denied`, `error` or
--    `disabled`) for:
--      * `inspector` in the registry's own account and region (its images' use is unknown);
--      * `config_aggregator` anywhere (task definitions of the whole organization are
--        unknown);
--      * `ecs`, `lambda`, `eks`, `batch`, `apprunner`, `sagemaker`, `codebuild` or
--        `aggregator_source` in an account that can pull from the repository: the
--        registry's own account, the accounts its repository policy grants, or any account
--        for `*` (an EKS cluster that refuses the collector's token, or whose RBAC denies a
--        kind, fails its account's `eks` unit);
--      * `kubernetes` (a kubeconfig context) or `references` (a declared-reference
--        location) anywhere: which account such a cluster pulls as, or which images such
--        files name, is unknown, so every repository is kept. An `aggregator_source` row is one source account × region
--        of the Config aggregator: `stale_source` when Config reports it `FAILED` or
--        `OUTDATED`, `error` when its task definition rows carry no images;
--      * `aggregator_source` `not_recorded` (derived here, not collected): ECS shows
--        workloads in an account and region (`workload_refs` from `ecs`) where the
--        aggregator, read without error, holds no task definition: its recorder does not
--        record `AWS::ECS::TaskDefinition` there.
-- 2. `out_of_scope`: an account the repository policy lets pull is not collected
--    (`collection_scope` has no `workload` row for it), so what it runs is unknown (the
--    view `scope_gaps`, `sql/views/scope_gaps.sql`, lists who, per repository):
--      * an account the policy names (`repository_pullers.grant_kind` `account`, or
--        `service` with `aws:SourceAccount` / `aws:SourceArn`), or the registry's own
--        account;
--      * an `organization` grant (`*` with `aws:PrincipalOrgID` / `aws:PrincipalOrgPaths`),
--        unless the run listed that organization (`org.discover = "organizations"`) and
--        collected every ACTIVE account of it;
--      * any other `*` (`public`, `service` without an account condition, `unknown`): any
--        AWS account may pull, which no collection covers;
--      * an account collected in a run of the history window (`history_collection_scope`,
--        `rules.history_days`) and missing now (it left the organization, was suspended or
--        was dropped from `org.accounts`): the repositories its grants reached, now or in
--        those runs (explicitly or through any `*`), stay blocked until that run leaves the
--        window.
-- 3. `malformed_reference`: a workload names the repository's registry with an image
--    string that does not parse (`workload_refs.ref_parse_error`, e.g. another port, an
--    unknown endpoint form, an invalid tag or digest): which image it means is unknown, so
--    every repository of that registry (of every region of the account when the string
--    names no region) is kept.
--
-- ## Why
-- Missing data is not absence of use (docs/pitfalls.md#p6). If the collector could not read account
-- B's task definitions, an image that only B runs looks unused. Blocking exactly the
-- repositories B can pull from keeps the rest of the organization cleanable. An account
-- outside the collected scope is the same gap, permanently: a repository policy is what lets
-- it pull (cross-account pulls need the repository's grant), so the repositories that grant
-- it are exactly those whose use is unknown. An image string that names a registry but
-- does not parse may mean any of its images.
--
-- ## Evidence
-- `detail`: the (alphabetically first) cause of the repository:
--   * `source status in account/region` for a failed source; `kubernetes status reading
--     <context>` and `references status reading <location>` for the sources read once;
--   * `malformed_reference: N unparsable reference(s) to account/region, e.g. <source kind
--     arn: image>`;
--   * `out_of_scope: not collected but may pull: <who>, …`, where each `who` is an account
--     id, `account (collected in an earlier run of the history window, missing now)`,
--     `any account of o-… (organization not collected whole)` or `any AWS account
--     (<grant_kind> <principal>)`.
--
-- ## Example
-- The aggregator's source 222222222222/eu-west-1 is `OUTDATED` → every repository
-- 222222222222 can pull keeps its images (`aggregator_source stale_source in
-- 222222222222/eu-west-1`), even where ECS was read: a task definition deregistered there an
-- hour ago may be a rollback target the aggregator never saw.
-- `ecs` denied in 444444444444/us-east-1; repository `sandbox/tool` grants 444444444444 →
-- all its images protected; `payments/api`, which does not, stays cleanable. Repository
-- `shared/base` grants `arn:aws:iam::999999999999:root`, an account of a partner outside
-- `org.accounts` → `out_of_scope: not collected but may pull: 999999999999`.
--
-- ## Options
-- - `rules.history_days` (default `14`): not a `params` column; an account collected in a
--   committed run of that many days before `now` and missing tonight keeps blocking what
--   it could pull (through the `scope_gaps` view and `history_collection_scope`).
--
-- ## References
-- Amazon ECR User Guide, "Private repository policies" and "Private repository policy
-- examples" (a repository policy is what grants other accounts pulls); IAM User Guide, "AWS
-- global condition context keys" (`aws:PrincipalOrgID`, `aws:PrincipalOrgPaths`: any
-- account of the organization or organizational unit); AWS Config API Reference,
-- `AggregatedSourceStatus` (`FAILED`: errors while moving data; `OUTDATED`: the data is not
-- the most recent); AWS Config Developer Guide, "Recording AWS Resources" (an aggregator
-- holds only the resource types the source's recorder records); AWS Organizations User Guide
-- (ListAccounts lists every account of the organization, with its status). How policies
-- are read: `crates/ecrgc-collect/src/aws/policy.rs`; image strings:
-- `crates/ecrgc-model/src/image_ref.rs`; docs/pitfalls.md#p6.
WITH aggregated AS (
    SELECT DISTINCT account_id, region
    FROM workload_refs
    WHERE source = 'config_aggregator' AND kind = 'task_definition'
),
not_recorded AS (
    SELECT DISTINCT w.account_id, w.region,
           'aggregator_source' AS source, 'not_recorded' AS status
    FROM workload_refs w
    JOIN collection_coverage c ON c.source = 'config_aggregator' AND c.status = 'ok'
    LEFT JOIN aggregated a ON a.account_id = w.account_id AND a.region = w.region
    WHERE w.source = 'ecs' AND a.account_id IS NULL
),
failed AS (
    SELECT account_id, region, source, status
    FROM collection_coverage
    WHERE source IN ('inspector', 'config_aggregator', 'aggregator_source', 'ecs', 'lambda',
                     'eks', 'batch', 'apprunner', 'sagemaker', 'codebuild', 'kubernetes',
                     'references')
      AND status <> 'ok'
    UNION ALL
    SELECT account_id, region, source, status
    FROM not_recorded
),
pullers AS (
    SELECT account_id, region, repository_name, account_id AS puller_account_id
    FROM repositories
    UNION
    SELECT account_id, region, repository_name, puller_account_id
    FROM repository_pullers
),
out_of_scope AS (
    SELECT account_id, region, repository_name,
           'out_of_scope: not collected but may pull: '
           || STRING_AGG(who, ', ' ORDER BY who) AS detail
    FROM scope_gaps
    GROUP BY account_id, region, repository_name
),
malformed AS (
    SELECT ref_account_id, ref_region,
           COUNT(*) AS refs,
           MIN(source || ' ' || kind || ' ' || resource_arn || ': ' || image_uri) AS example
    FROM workload_refs
    WHERE ref_parse_error IS NOT NULL
      AND ref_account_id IS NOT NULL
    GROUP BY ref_account_id, ref_region
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
    SELECT r.account_id, r.region, r.repository_name,
           f.source || ' ' || f.status || ' reading ' || f.account_id AS detail
    FROM repositories r
    CROSS JOIN failed f
    WHERE f.source IN ('kubernetes', 'references')
    UNION ALL
    SELECT u.account_id, u.region, u.repository_name,
           f.source || ' ' || f.status || ' in ' || f.account_id || '/' || f.region AS detail
    FROM pullers u
    JOIN failed f ON f.account_id = u.puller_account_id
    WHERE f.source IN ('ecs', 'lambda', 'eks', 'batch', 'apprunner', 'sagemaker', 'codebuild',
                       'aggregator_source')
    UNION ALL
    SELECT u.account_id, u.region, u.repository_name,
           f.source || ' ' || f.status || ' in ' || f.account_id || '/' || f.region AS detail
    FROM pullers u
    CROSS JOIN failed f
    WHERE f.source IN ('ecs', 'lambda', 'eks', 'batch', 'apprunner', 'sagemaker', 'codebuild',
                       'aggregator_source')
      AND u.puller_account_id = '*'
    UNION ALL
    SELECT account_id, region, repository_name, detail
    FROM out_of_scope
    UNION ALL
    SELECT r.account_id, r.region, r.repository_name,
           'malformed_reference: ' || CAST(m.refs AS VARCHAR) || ' unparsable reference(s) to '
           || m.ref_account_id || '/' || COALESCE(m.ref_region, '(any region)')
           || ', e.g. ' || m.example AS detail
    FROM repositories r
    JOIN malformed m
      ON m.ref_account_id = r.account_id
     AND (m.ref_region IS NULL OR m.ref_region = r.region)
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
