-- id: parents
-- summary: The parents of each image: the index that lists it, the subject it signs or attests.
--
-- Read by `ecrgc lifecycle suggest` (crates/ecrgc-plan/src/lifecycle.rs) after the plan's
-- rules and guards are installed.
--
-- Columns: account_id, region, repository_name, parent_digest, child_digest.
SELECT account_id, region, repository_name, parent_digest, child_digest FROM edges ORDER BY parent_digest
