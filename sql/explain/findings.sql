-- id: findings
-- summary: Every rule and guard that matches the explained image, switched on or not, with its detail.
--
-- Input: `target`, and `findings` (every rule's and guard's rows, each with `unit_kind`
-- and `unit_id`, assembled by the engine from the views `rule_<id>` and `guard_<id>`).
--
-- Columns: unit_kind (`rule` or `guard`), unit_id, detail.
SELECT f.unit_kind, f.unit_id, f.detail
FROM findings f
JOIN target t
  ON t.account_id = f.account_id AND t.region = f.region
 AND t.repository_name = f.repository_name AND t.image_digest = f.image_digest
