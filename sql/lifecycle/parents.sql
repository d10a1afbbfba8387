-- The parents of each image: the index that lists it, the subject it signs or attests.
--
-- Columns: account_id, region, repository_name, parent_digest, child_digest.
SELECT account_id, region, repository_name, parent_digest, child_digest FROM edges ORDER BY parent_digest
