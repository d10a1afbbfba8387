-- id: edges
-- order: 3
-- summary: Parent → child links between images of the snapshot (index children, referrers, signatures).
--
-- A step of the decision (`decisions.sql` reads it in every recursive walk): the engine
-- computes it once per plan and holds it in memory. A relation counts only when both images
-- exist in the snapshot, in the same repository, and are not the same image.
--
-- Columns: account_id, region, repository_name, parent_digest, child_digest; one row per
-- distinct link.
SELECT DISTINCT r.account_id, r.region, r.repository_name, r.parent_digest, r.child_digest
FROM image_relations r
JOIN images p
  ON p.account_id = r.account_id AND p.region = r.region
 AND p.repository_name = r.repository_name AND p.image_digest = r.parent_digest
JOIN images c
  ON c.account_id = r.account_id AND c.region = r.region
 AND c.repository_name = r.repository_name AND c.image_digest = r.child_digest
WHERE r.parent_digest <> r.child_digest
