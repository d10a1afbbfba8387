-- id: repositories
-- summary: Every repository of the run with its policy in place, exclusion, opt-in and usage coverage gap.
--
-- Read by `ecrgc lifecycle suggest` (crates/ecrgc-plan/src/lifecycle.rs) after the plan's
-- rules and guards are installed.
--
-- Every repository of the run as `ecrgc lifecycle suggest` sees it: the policy in place,
-- whether the configuration excludes it or opts it in, and the usage coverage gap that
-- leaves it without a suggestion.
--
-- Columns: account_id, region, repository_name; lifecycle_policy_text (the policy in place,
-- null without one); excluded (`key=value` of the exclude tag found, null when not
-- excluded); opted_in (`yes` when `opt_in_tag_key` is unset or the repository carries the
-- opt-in tag, else `no`); coverage_gap (the detail of a `usage_coverage_gap` protection of
-- any of its images, null without one). Opt-in reads the shared view `opted_in`
-- (sql/views/opted_in.sql).
WITH excluded AS (
    SELECT DISTINCT t.account_id, t.region, t.repository_name, t.tag_key || '=' || t.tag_value AS tag
    FROM repository_tags t CROSS JOIN params p
    WHERE t.tag_key = p.exclude_tag_key
      AND (p.exclude_tag_value IS NULL OR t.tag_value = p.exclude_tag_value)
),
gap AS (
    SELECT account_id, region, repository_name, MIN(detail) AS detail
    FROM protections WHERE guard_id = 'usage_coverage_gap'
    GROUP BY account_id, region, repository_name
)
SELECT r.account_id, r.region, r.repository_name, r.lifecycle_policy_text,
       e.tag AS excluded,
       CASE WHEN p.opt_in_tag_key IS NULL OR o.repository_name IS NOT NULL
            THEN 'yes' ELSE 'no' END AS opted_in,
       g.detail AS coverage_gap
FROM repositories r
CROSS JOIN params p
LEFT JOIN excluded e
  ON e.account_id = r.account_id AND e.region = r.region AND e.repository_name = r.repository_name
LEFT JOIN opted_in o
  ON o.account_id = r.account_id AND o.region = r.region AND o.repository_name = r.repository_name
LEFT JOIN gap g
  ON g.account_id = r.account_id AND g.region = r.region AND g.repository_name = r.repository_name
