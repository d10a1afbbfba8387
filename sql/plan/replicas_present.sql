-- id: replicas_present
-- order: 30
-- summary: Every replica present under delete replication, as a hold: what the engine keeps when replica rounds do not settle.
--
-- Read by the engine outside the decision rounds, never before `decisions`: with no row
-- here no two decisions are linked and no round runs at all; when the rounds of
-- `replicas_kept` have not settled after the engine's bound (a replication chain longer
-- than it), these rows become the `replica_holds`, so every source with a present replica
-- stays (see `sql/guards/replica_kept.sql`).
--
-- Columns: account_id, region, repository_name, image_digest (the replica), reason.
SELECT DISTINCT
    destination_account_id AS account_id,
    destination_region AS region,
    repository_name,
    image_digest,
    'not settled after many rounds' AS reason
FROM replicas
WHERE replica_present
