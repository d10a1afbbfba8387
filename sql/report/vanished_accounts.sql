-- id: vanished_accounts
-- summary: Workload accounts a run of the history window collected that this run did not.
--
-- An account that left the collection may still run images: the summary names it.
--
-- Inputs: `collection_scope`, `history_collection_scope`.
--
-- Columns: account_id.
SELECT DISTINCT account_id
FROM history_collection_scope
WHERE workload
  AND account_id NOT IN (SELECT account_id FROM collection_scope WHERE workload)
ORDER BY account_id
