-- id: decision
-- summary: The explained image's decision row, if a rule flags it or it follows a parent.
--
-- Input: `target`, and `decisions` (the decision step as a view).
--
-- Columns: status, rule, reason.
SELECT d.status, d.rule, d.reason
FROM decisions d
JOIN target t
  ON t.account_id = d.account_id AND t.region = d.region
 AND t.repository_name = d.repository_name AND t.image_digest = d.image_digest
