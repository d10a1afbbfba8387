-- id: out_of_scope
-- summary: Who may pull without being collected, and from how many repositories of the run.
--
-- Inputs: the view `scope_gaps` (`sql/views/scope_gaps.sql`), `repositories`.
--
-- Columns: who, repositories.
SELECT g.who, COUNT(*) AS repositories
FROM scope_gaps g
JOIN repositories r
  ON r.account_id = g.account_id AND r.region = g.region
 AND r.repository_name = g.repository_name
GROUP BY g.who
ORDER BY g.who
