-- id: replicas_kept
-- order: 20
-- summary: After a decision round: every replica a source's deletion would take along that the plan does not delete.
--
-- The step after `decisions`: the engine runs it on the decision rows of a round and makes
-- its rows the `replica_holds` of the next round, which the `replica_kept` guard reads (see
-- `sql/guards/replica_kept.sql`), until they stop growing. A replica is kept when its own
-- decision is anything but `delete` (`protected`, `kept_with_parent`, `not_opted_in`), or
-- when it has no decision row at all: no rule flags it, so nothing says it is unused.
--
-- Columns: account_id, region, repository_name, image_digest (the replica); reason (its
-- status, with the guard or `parent_kept` that decided it, or `not flagged`).
SELECT DISTINCT
    r.destination_account_id AS account_id,
    r.destination_region AS region,
    r.repository_name,
    r.image_digest,
    CASE
        WHEN d.status IS NULL THEN 'not flagged'
        WHEN d.reason IS NULL THEN d.status
        ELSE d.status || ' (' || d.reason || ')'
    END AS reason
FROM replicas r
LEFT JOIN decisions d
  ON d.account_id = r.destination_account_id AND d.region = r.destination_region
 AND d.repository_name = r.repository_name AND d.image_digest = r.image_digest
WHERE r.replica_present
  AND (d.status IS NULL OR d.status <> 'delete')
