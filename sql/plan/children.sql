-- id: children
-- order: 4
-- summary: Every image that has a parent in `edges`, with its parents.
--
-- A step of the decision (`decisions.sql` reads it several times): the engine computes it
-- once per plan and holds it in memory.
--
-- Columns: account_id, region, repository_name, image_digest (the child) and
-- `parent_digests` (its parents' digests, sorted, comma separated).
SELECT account_id, region, repository_name, child_digest AS image_digest,
       STRING_AGG(parent_digest, ',' ORDER BY parent_digest) AS parent_digests
FROM edges
GROUP BY account_id, region, repository_name, child_digest
