-- id: descendants
-- order: 5
-- summary: Every image below another through parent → child links, with the length of the path, up to params.relation_depth links.
--
-- A step of the decision: `decisions.sql` reads it three times (what a kept parent keeps,
-- what a deletable root takes along, and how deep each child sits), so the engine computes
-- the one walk over `edges` once per plan and holds it in memory. A chain longer than
-- `params.relation_depth` (8: deeper than any index → child → signature chain ECR builds)
-- is cut there, and a cycle of links ends at the same bound.
--
-- Columns: account_id, region, repository_name, ancestor_digest, image_digest (the
-- descendant), depth (links from the ancestor, 1 for a direct child); one row per path, so
-- an image reached along two paths is listed twice.
WITH RECURSIVE walk (account_id, region, repository_name, ancestor_digest, image_digest, depth) AS (
    SELECT account_id, region, repository_name, parent_digest, child_digest, 1
    FROM edges
    UNION ALL
    SELECT e.account_id, e.region, e.repository_name, w.ancestor_digest, e.child_digest, w.depth + 1
    FROM edges e
    JOIN walk w
      ON w.account_id = e.account_id AND w.region = e.region
     AND w.repository_name = e.repository_name AND w.image_digest = e.parent_digest
    CROSS JOIN params p
    WHERE w.depth < p.relation_depth
)
SELECT account_id, region, repository_name, ancestor_digest, image_digest, depth
FROM walk
