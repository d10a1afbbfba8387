-- id: replica_kept
-- order: 65
-- summary: Deleting the image would delete a replica that stays, or one ecrgc cannot see, through delete replication.
--
-- ## What it does
-- Protects images whose deletion replicates (a registry replication rule with
-- `deleteReplication`, see `sql/views/replicas.sql`) to a copy that must not go:
--   * a replica the plan keeps for any reason: a guard, a live reference, a coverage gap, a
--     kept parent, no rule flagging it, its repository not opted in (the engine fills
--     `replica_holds` with them, round after round, until no source changes; see below);
--   * a destination registry this run did not read whole (outside `org.registry_accounts`
--     or `org.regions`, or its ECR unit failed): what it holds is unknown, so it is kept;
--   * and every image of a registry whose replication rules could not be read (the
--     `ecr_replication` coverage unit is not `ok`, or missing where ECR was read): any of
--     its deletions may replicate.
-- Rules without delete replication link nothing: the source and its replica are decided on
-- their own.
--
-- ## Why
-- ECR replicates deletions of a delete-replicating rule: "When you delete an image by digest,
-- Amazon ECR deletes the image and all of its tags in each destination repository", and the
-- same for lifecycle expiry and removing the last tag (ECR user guide, "Replicating image
-- deletions in Amazon ECR"). Replicas are stored, pulled and billed in their own registry, so
-- the copy that is running in another region or account is what keeps the source
-- (docs/pitfalls.md#p10).
--
-- ## How the engine settles it
-- A replica's own decision can depend on its replicas and its parents, so the plan runs the
-- decision step, puts every present replica whose status is not `delete` into
-- `replica_holds` (`sql/plan/replicas_kept.sql`), and runs the guards and the decision again
-- until `replica_holds` stops growing. Holds only ever add protection, so the rounds end; a
-- plan that would need more than 16 rounds holds every source with a present replica.
--
-- ## Evidence
-- `detail`: the (alphabetically first) replica that holds the image, as
-- `replica in ACCOUNT/REGION kept: STATUS (REASON)`, `deletes replicate to ACCOUNT/REGION,
-- not collected in this run`, or `replication rules of ACCOUNT/REGION not read: STATUS`.
--
-- ## Example
-- eu-west-1 replicates `payments/api` to us-east-1 with delete replication; only the
-- us-east-1 copy of `sha256:aa` is referenced (a task definition there) → the us-east-1 copy
-- is `protected` (live_reference) and the eu-west-1 source is `protected` (replica_kept:
-- `replica in 111111111111/us-east-1 kept: protected (live_reference)`). Without
-- `deleteReplication` the eu-west-1 source is deleted and the us-east-1 copy stays.
--
-- ## Options
-- None: the guard reads no `params` column. Every threshold reaches it through the
-- decisions of the replicas it holds.
--
-- ## References
-- Amazon ECR User Guide, "Replicating image deletions in Amazon ECR";
-- docs/pitfalls.md#p10.
WITH unread_settings AS (
    SELECT e.account_id, e.region,
           'replication rules of ' || e.account_id || '/' || e.region || ' not read: '
               || COALESCE(MIN(x.status), 'missing') AS detail
    FROM collection_coverage e
    LEFT JOIN collection_coverage x
      ON x.account_id = e.account_id AND x.region = e.region AND x.source = 'ecr_replication'
    WHERE e.source = 'ecr'
    GROUP BY e.account_id, e.region
    HAVING COUNT(CASE WHEN x.status = 'ok' THEN 1 END) = 0
),
holds AS (
    SELECT i.account_id, i.region, i.repository_name, i.image_digest, u.detail
    FROM images i
    JOIN unread_settings u ON u.account_id = i.account_id AND u.region = i.region
    UNION ALL
    SELECT account_id, region, repository_name, image_digest,
           'deletes replicate to ' || destination_account_id || '/' || destination_region
               || ', not collected in this run' AS detail
    FROM replicas
    WHERE NOT destination_collected
    UNION ALL
    SELECT r.account_id, r.region, r.repository_name, r.image_digest,
           'replica in ' || r.destination_account_id || '/' || r.destination_region
               || ' kept: ' || h.reason AS detail
    FROM replicas r
    JOIN replica_holds h
      ON h.account_id = r.destination_account_id AND h.region = r.destination_region
     AND h.repository_name = r.repository_name AND h.image_digest = r.image_digest
    WHERE r.replica_present
)
SELECT account_id, region, repository_name, image_digest, MIN(detail) AS detail
FROM holds
GROUP BY account_id, region, repository_name, image_digest
