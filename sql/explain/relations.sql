-- id: relations
-- summary: The explained image's parents and children (index children, referrers, signatures).
--
-- Input: `target`, and `image_relations` as collected (both images need not exist).
--
-- Columns: direction (`child of` or `parent of`), other (the other digest), relation.
SELECT 'child of' AS direction, r.parent_digest AS other, r.relation
FROM image_relations r
JOIN target t
  ON t.account_id = r.account_id AND t.region = r.region
 AND t.repository_name = r.repository_name AND t.image_digest = r.child_digest
UNION ALL
SELECT 'parent of' AS direction, r.child_digest AS other, r.relation
FROM image_relations r
JOIN target t
  ON t.account_id = r.account_id AND t.region = r.region
 AND t.repository_name = r.repository_name AND t.image_digest = r.parent_digest
ORDER BY 1, 2
