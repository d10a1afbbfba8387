-- id: guarded
-- order: 2
-- summary: Every protected image once, with its guards in precedence order and their details.
--
-- A step of the decision (`decisions.sql` reads it, several times): the engine computes it
-- once per plan and holds it in memory, as it does `protections`.
--
-- Columns: account_id, region, repository_name, image_digest; `guards` (guard ids, comma
-- separated, in guard order) and `guard_detail` (`guard: detail`, separated by `; `).
SELECT account_id, region, repository_name, image_digest,
       STRING_AGG(guard_id, ',' ORDER BY guard_order, guard_id) AS guards,
       STRING_AGG(guard_id || ': ' || detail, '; ' ORDER BY guard_order, guard_id) AS guard_detail
FROM protections
GROUP BY account_id, region, repository_name, image_digest
