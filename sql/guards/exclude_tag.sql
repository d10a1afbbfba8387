-- id: exclude_tag
-- order: 10
-- summary: The repository carries the exclude tag (`safety.exclude_tag`): left out entirely.
--
-- ## What it does
-- Protects every image of a repository tagged with `params.exclude_tag_key` =
-- `params.exclude_tag_value` (default `unusd=true`). A selector naming the key alone
-- (`exclude_tag = "do-not-delete"`) has a null `exclude_tag_value` and matches the key
-- with any value.
--
-- ## Why
-- Some repositories must never be touched by automation: base images, compliance archives,
-- images pulled by systems ecrgc cannot see (on-premises, other clouds). The owners opt out
-- with one repository tag, without asking the platform team for a config change.
--
-- ## Evidence
-- `detail`: the selector that matched, as `key=value`, or `key` alone for any value.
--
-- ## Example
-- Repository `platform/base` tagged `unusd=true` → all its images protected.
--
-- ## Options
-- - `safety.exclude_tag` (default `unusd=true`): `key=value`, or a key alone for any value;
--   read as `params.exclude_tag_key` and `params.exclude_tag_value` (null for a key alone).
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    CASE
        WHEN p.exclude_tag_value IS NULL THEN p.exclude_tag_key
        ELSE p.exclude_tag_key || '=' || p.exclude_tag_value
    END AS detail
FROM images i
CROSS JOIN params p
WHERE EXISTS (
    SELECT 1
    FROM repository_tags t
    WHERE t.account_id = i.account_id
      AND t.region = i.region
      AND t.repository_name = i.repository_name
      AND t.tag_key = p.exclude_tag_key
      AND (p.exclude_tag_value IS NULL OR t.tag_value = p.exclude_tag_value)
)
