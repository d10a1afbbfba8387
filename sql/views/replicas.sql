-- id: replicas
-- order: 20
-- summary: Every replica a deletion would take along: one row per image and destination of a delete-replicating rule.
--
-- A replication rule with delete replication (`replication_rules.delete_replication`) makes
-- a deletion in the source registry (by digest, by lifecycle expiry, or by removing the last
-- tag) delete the same digest in the repository of the same name in every destination of the
-- rule (ECR user guide, "Replicating image deletions in Amazon ECR"; the repository name stays
-- the same across Regions and accounts: "Private image replication in Amazon ECR"). A rule
-- replicates a repository when it has no repository filter, or a `PREFIX_MATCH` filter the
-- name starts with (botocore's ECR model, `RepositoryFilter`). A filter type other than
-- `PREFIX_MATCH` is unknown to ecrgc and matches every repository (the safe reading).
--
-- Whether a replicated deletion is itself replicated further by the destination's own rules
-- is not documented; the plan reads it as yes, because it decides each replica with its own
-- replicas (see `sql/guards/replica_kept.sql`).
--
-- Columns: account_id, region, repository_name, image_digest (the source image);
-- destination_account_id, destination_region; destination_collected (the destination's ECR
-- inventory was read whole in this run: an `ecr` coverage row with status `ok`);
-- replica_present (the destination holds the same digest in the same repository);
-- replica_size_bytes (its size, null when absent).
WITH matching AS (
    SELECT DISTINCT r.account_id, r.region, r.repository_name,
           rr.destination_account_id, rr.destination_region
    FROM repositories r
    JOIN replication_rules rr
      ON rr.account_id = r.account_id AND rr.region = r.region
    WHERE rr.delete_replication
      AND (rr.repository_filter IS NULL
           OR COALESCE(rr.filter_type, '') <> 'PREFIX_MATCH'
           OR SUBSTR(r.repository_name, 1, LENGTH(rr.repository_filter)) = rr.repository_filter)
),
collected AS (
    SELECT DISTINCT account_id, region
    FROM collection_coverage
    WHERE source = 'ecr' AND status = 'ok'
)
SELECT
    i.account_id,
    i.region,
    i.repository_name,
    i.image_digest,
    m.destination_account_id,
    m.destination_region,
    c.account_id IS NOT NULL AS destination_collected,
    d.image_digest IS NOT NULL AS replica_present,
    d.image_size_bytes AS replica_size_bytes
FROM images i
JOIN matching m
  ON m.account_id = i.account_id AND m.region = i.region
 AND m.repository_name = i.repository_name
LEFT JOIN collected c
  ON c.account_id = m.destination_account_id AND c.region = m.destination_region
LEFT JOIN images d
  ON d.account_id = m.destination_account_id AND d.region = m.destination_region
 AND d.repository_name = i.repository_name AND d.image_digest = i.image_digest
