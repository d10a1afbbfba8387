-- id: opted_in
-- order: 30
-- summary: Repositories carrying the opt-in tag: the only ones a manifest may take images from when one is configured.
--
-- One row per repository whose tags include `params.opt_in_tag_key` with the value
-- `params.opt_in_tag_value` (any value when that is null). With no opt-in tag configured
-- (`opt_in_tag_key` null) the view is empty and every repository may enter the manifest:
-- readers check `p.opt_in_tag_key IS NOT NULL` before they hold a repository back
-- (`sql/plan/decisions.sql`, status `not_opted_in`).
--
-- Columns: account_id, region, repository_name.
SELECT DISTINCT t.account_id, t.region, t.repository_name
FROM repository_tags t
CROSS JOIN params p
WHERE t.tag_key = p.opt_in_tag_key
  AND (p.opt_in_tag_value IS NULL OR t.tag_value = p.opt_in_tag_value)
