-- id: resolve
-- summary: The images an `ecrgc explain` argument names: a digest anywhere, or an image URI's repository and digest or tag.
--
-- Input: `target`, one row parsed from the argument by the parser the collectors use: a
-- bare digest sets only `image_digest` (every repository holding it); a URI sets
-- `account_id`, `region` and `repository_name`, and its digest (`@sha256:…`) or else
-- its `image_tag`.
--
-- Columns: account_id, region, repository_name, image_digest.
SELECT i.account_id, i.region, i.repository_name, i.image_digest
FROM images i
CROSS JOIN target t
WHERE t.image_digest IS NOT NULL
  AND i.image_digest = t.image_digest
  AND (t.account_id IS NULL
       OR (i.account_id = t.account_id AND i.region = t.region
           AND i.repository_name = t.repository_name))
UNION ALL
SELECT g.account_id, g.region, g.repository_name, g.image_digest
FROM image_tags g
CROSS JOIN target t
WHERE t.image_digest IS NULL
  AND g.account_id = t.account_id AND g.region = t.region
  AND g.repository_name = t.repository_name AND g.image_tag = t.image_tag
ORDER BY 1, 2, 3, 4
