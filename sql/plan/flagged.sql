-- id: flagged
-- order: 1
-- summary: Every flagged image once, with its rules in precedence order and their details.
--
-- A step of the decision (`decisions.sql` reads it, several times): the engine computes it
-- once per plan and holds it in memory, as it does `candidates`. DataFusion would otherwise
-- recompute a CTE at every reference.
--
-- Columns: account_id, region, repository_name, image_digest; `rules` (rule ids, comma
-- separated, in rule order) and `rule_detail` (`rule: detail` for the rules that give one,
-- separated by `; `).
SELECT account_id, region, repository_name, image_digest,
       STRING_AGG(rule_id, ',' ORDER BY rule_order, rule_id) AS rules,
       STRING_AGG(rule_id || ': ' || detail, '; ' ORDER BY rule_order, rule_id) AS rule_detail
FROM candidates
GROUP BY account_id, region, repository_name, image_digest
