-- id: scope_gaps
-- order: 20
-- summary: Who may pull from each repository without being collected: the accounts that make its use unknown.
--
-- One row per (repository, who). A repository policy is what lets another account pull
-- (Amazon ECR User Guide, "Private repository policies"); an account it lets pull whose
-- workloads the run did not read (`collection_scope` has no `workload` row for it) may run
-- any of the repository's images unseen. `who` is, per grant (`repository_pullers`, read by
-- `crates/ecrgc-collect/src/aws/policy.rs`):
--   * a named account (grant_kind `account`, or `service` narrowed by `aws:SourceAccount` /
--     `aws:SourceArn`) or the registry's own account, when not collected: the account id;
--   * an `organization` grant (`*` with `aws:PrincipalOrgID` / `aws:PrincipalOrgPaths`,
--     IAM User Guide, "AWS global condition context keys": any account of that
--     organization), unless the run listed that organization (`org.discover =
--     "organizations"`, `collection_scope.organization_id`) and collected every ACTIVE
--     account of it: `any account of o-… (organization not collected whole)`;
--   * any other `*` (`public`, `service` without an account condition, `unknown`): any AWS
--     account, which no collection covers: `any AWS account (<grant_kind> <principal>)`;
--   * an account collected in a run of the history window (`history_collection_scope`)
--     and missing now (it left the organization, was suspended or dropped from
--     `org.accounts`), for every repository its grants reached now or in those runs,
--     explicitly or through any `*`: `<account> (collected in an earlier run of the history
--     window, missing now)`. The block lasts until the last run that collected it leaves
--     the window (`rules.history_days`).
--
-- The guard `usage_coverage_gap` protects these repositories (`out_of_scope`); the plan's
-- report lists `who` with the repositories each reaches.
--
-- Columns: account_id, region, repository_name (the repository), who.
WITH collected AS (
    SELECT DISTINCT account_id
    FROM collection_scope
    WHERE workload
),
whole_organization AS (
    SELECT DISTINCT s.organization_id
    FROM collection_scope s
    WHERE s.organization_id IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM collection_scope m WHERE m.organization_member AND NOT m.workload
      )
),
vanished AS (
    SELECT DISTINCT h.account_id
    FROM history_collection_scope h
    WHERE h.workload
      AND h.account_id NOT IN (SELECT account_id FROM collected)
),
named AS (
    SELECT account_id, region, repository_name, account_id AS puller_account_id
    FROM repositories
    UNION
    SELECT account_id, region, repository_name, puller_account_id
    FROM repository_pullers
    WHERE puller_account_id <> '*'
),
gaps AS (
    SELECT u.account_id, u.region, u.repository_name,
           CASE WHEN v.account_id IS NULL THEN u.puller_account_id
                ELSE u.puller_account_id
                     || ' (collected in an earlier run of the history window, missing now)'
           END AS who
    FROM named u
    LEFT JOIN vanished v ON v.account_id = u.puller_account_id
    WHERE u.puller_account_id NOT IN (SELECT account_id FROM collected)
    UNION ALL
    SELECT p.account_id, p.region, p.repository_name,
           'any account of ' || COALESCE(p.principal_org_id, 'an organization')
           || ' (organization not collected whole)' AS who
    FROM repository_pullers p
    WHERE p.grant_kind = 'organization'
      AND (p.principal_org_id IS NULL
           OR p.principal_org_id NOT IN (SELECT organization_id FROM whole_organization))
    UNION ALL
    SELECT p.account_id, p.region, p.repository_name,
           'any AWS account (' || p.grant_kind || ' ' || p.principal || ')' AS who
    FROM repository_pullers p
    WHERE p.puller_account_id = '*'
      AND p.grant_kind <> 'organization'
    UNION ALL
    SELECT g.account_id, g.region, g.repository_name,
           v.account_id
           || ' (collected in an earlier run of the history window, missing now)' AS who
    FROM (
        SELECT account_id, region, repository_name, puller_account_id
        FROM repository_pullers
        UNION
        SELECT account_id, region, repository_name, puller_account_id
        FROM history_repository_pullers
    ) g
    JOIN vanished v ON g.puller_account_id = v.account_id OR g.puller_account_id = '*'
)
SELECT DISTINCT account_id, region, repository_name, who
FROM gaps
