-- id: decisions
-- order: 10
-- summary: Combines candidates and protections into one decision per image, closed over indexes and referrers.
--
-- Inputs, besides the snapshot tables: `candidates` (the union of every rule's rows, with
-- `rule_id` and `rule_order`) and `protections` (every guard's rows, with `guard_id` and
-- `guard_order`), both built by the engine from the files of `sql/rules/` and `sql/guards/`;
-- and the earlier steps of `sql/plan/`, which this query reads several times and the engine
-- therefore computes once and holds in memory: `flagged` (one row per flagged image, its
-- rules in order), `guarded` (one row per protected image, its guards in order), `edges`
-- (parent → child links between images of the snapshot), `children` (images with a
-- parent, and their parents) and `descendants` (every image below another, with its
-- depth); and the view `opted_in` (repositories with the opt-in tag).
--
-- Images are decided in two kinds:
--   * roots (no parent in `image_relations`): flagged by a rule and protected by no guard →
--     deletable; flagged and protected → `protected`; never flagged → not listed at all.
--   * children (an index's child, a referrer, a cosign signature): they follow their
--     parents. Protected by a guard of their own → `protected`; any parent kept →
--     `kept_with_parent`; every parent deletable → deletable with them, under their own
--     first rule or `with_parent` (docs/pitfalls.md#p4 and #p5).
-- "Kept" propagates down every chain (index → child → its signature) through the one walk
-- of `descendants`, bounded at `params.relation_depth` links. A child is deleted only when a
-- deletable root leads to it: children no root reaches (a cycle of tags, a chain deeper
-- than the bound) are kept.
--
-- A deletable image enters the manifest (`delete`) when its repository is opted in (or no
-- opt-in tag is configured); otherwise it is reported as `not_opted_in`.
--
-- Replication: `replicas` lists the registries (`account/region`, comma-separated) where a
-- deletion of the image also deletes its replica through delete replication, `replica_bytes`
-- their bytes (each replica is stored and billed in its own registry), and
-- `replica_destinations` every destination the plan considered, replica present or not (the
-- executor refuses a deletion whose live replication rules reach another one). A source is
-- deletable only when every such replica is deleted too: the `replica_kept` guard, settled
-- by the engine over rounds of this step (sql/guards/replica_kept.sql).
--
-- Output: one row per flagged image and per child, ordered for the manifest: account,
-- region, repository, depth (parents before their children), digest.
WITH
kept_seeds AS (
    -- parents that are kept on their own: protected, or a root no rule flags
    SELECT DISTINCT e.account_id, e.region, e.repository_name, e.parent_digest AS image_digest
    FROM edges e
    LEFT JOIN flagged f
      ON f.account_id = e.account_id AND f.region = e.region
     AND f.repository_name = e.repository_name AND f.image_digest = e.parent_digest
    LEFT JOIN guarded g
      ON g.account_id = e.account_id AND g.region = e.region
     AND g.repository_name = e.repository_name AND g.image_digest = e.parent_digest
    LEFT JOIN children c
      ON c.account_id = e.account_id AND c.region = e.region
     AND c.repository_name = e.repository_name AND c.image_digest = e.parent_digest
    WHERE g.image_digest IS NOT NULL
       OR (f.image_digest IS NULL AND c.image_digest IS NULL)
),
kept_by_parent AS (
    SELECT DISTINCT d.account_id, d.region, d.repository_name, d.image_digest
    FROM descendants d
    JOIN kept_seeds k
      ON k.account_id = d.account_id AND k.region = d.region
     AND k.repository_name = d.repository_name AND k.image_digest = d.ancestor_digest
),
deletable_roots AS (
    SELECT f.account_id, f.region, f.repository_name, f.image_digest
    FROM flagged f
    LEFT JOIN guarded g
      ON g.account_id = f.account_id AND g.region = f.region
     AND g.repository_name = f.repository_name AND g.image_digest = f.image_digest
    LEFT JOIN children c
      ON c.account_id = f.account_id AND c.region = f.region
     AND c.repository_name = f.repository_name AND c.image_digest = f.image_digest
    WHERE g.image_digest IS NULL AND c.image_digest IS NULL
),
reached AS (
    -- children a deletable root leads to; a child no deletable root leads to (a cycle of
    -- children, or a chain deeper than the bound) is kept
    SELECT DISTINCT d.account_id, d.region, d.repository_name, d.image_digest
    FROM descendants d
    JOIN deletable_roots r
      ON r.account_id = d.account_id AND r.region = d.region
     AND r.repository_name = d.repository_name AND r.image_digest = d.ancestor_digest
),
depths AS (
    SELECT account_id, region, repository_name, image_digest, MAX(depth) AS depth
    FROM descendants
    GROUP BY account_id, region, repository_name, image_digest
),
subjects AS (
    -- DISTINCT over UNION ALL, not UNION: DuckDB before 1.5 runs a CTE's top-level UNION
    -- as UNION ALL inside WITH RECURSIVE (duckdb/duckdb#19017), listing an image twice.
    SELECT DISTINCT account_id, region, repository_name, image_digest
    FROM (
        SELECT account_id, region, repository_name, image_digest FROM flagged
        UNION ALL
        SELECT account_id, region, repository_name, image_digest FROM children
    ) u
),
tags AS (
    SELECT t.account_id, t.region, t.repository_name, t.image_digest,
           STRING_AGG(t.image_tag, ',' ORDER BY t.image_tag) AS image_tags
    FROM image_tags t
    JOIN subjects s
      ON s.account_id = t.account_id AND s.region = t.region
     AND s.repository_name = t.repository_name AND s.image_digest = t.image_digest
    GROUP BY t.account_id, t.region, t.repository_name, t.image_digest
),
refs AS (
    SELECT r.account_id, r.region, r.repository_name, r.image_digest,
           COUNT(*) AS references_found,
           SUM(CASE WHEN r.is_live THEN 1 ELSE 0 END) AS live_references
    FROM image_refs r
    JOIN subjects s
      ON s.account_id = r.account_id AND s.region = r.region
     AND s.repository_name = r.repository_name AND s.image_digest = r.image_digest
    GROUP BY r.account_id, r.region, r.repository_name, r.image_digest
),
replicated AS (
    -- the destinations a deletion replicates to (delete replication), and the replicas it
    -- takes along there (see sql/views/replicas.sql)
    SELECT r.account_id, r.region, r.repository_name, r.image_digest,
           STRING_AGG(CASE WHEN r.replica_present
                           THEN r.destination_account_id || '/' || r.destination_region END,
                      ',' ORDER BY r.destination_account_id, r.destination_region) AS replicas,
           SUM(CASE WHEN r.replica_present THEN r.replica_size_bytes ELSE 0 END) AS replica_bytes,
           STRING_AGG(r.destination_account_id || '/' || r.destination_region,
                      ',' ORDER BY r.destination_account_id, r.destination_region) AS replica_destinations
    FROM replicas r
    JOIN subjects s
      ON s.account_id = r.account_id AND s.region = r.region
     AND s.repository_name = r.repository_name AND s.image_digest = r.image_digest
    GROUP BY r.account_id, r.region, r.repository_name, r.image_digest
),
decided AS (
    SELECT
        s.account_id,
        s.region,
        s.repository_name,
        s.image_digest,
        CASE
            WHEN g.image_digest IS NOT NULL THEN 'protected'
            WHEN k.image_digest IS NOT NULL THEN 'kept_with_parent'
            WHEN ch.image_digest IS NOT NULL AND rc.image_digest IS NULL THEN 'kept_with_parent'
            WHEN p.opt_in_tag_key IS NOT NULL AND o.repository_name IS NULL THEN 'not_opted_in'
            ELSE 'delete'
        END AS status,
        CASE
            WHEN g.image_digest IS NULL AND k.image_digest IS NULL
             AND (ch.image_digest IS NULL OR rc.image_digest IS NOT NULL)
                THEN COALESCE(SPLIT_PART(f.rules, ',', 1), 'with_parent')
            ELSE SPLIT_PART(f.rules, ',', 1)
        END AS rule,
        f.rules,
        f.rule_detail,
        CASE
            WHEN g.image_digest IS NOT NULL THEN SPLIT_PART(g.guards, ',', 1)
            WHEN k.image_digest IS NOT NULL THEN 'parent_kept'
            WHEN ch.image_digest IS NOT NULL AND rc.image_digest IS NULL THEN 'parent_kept'
        END AS reason,
        g.guards,
        g.guard_detail,
        ch.parent_digests,
        COALESCE(d.depth, 0) AS depth
    FROM subjects s
    CROSS JOIN params p
    LEFT JOIN flagged f
      ON f.account_id = s.account_id AND f.region = s.region
     AND f.repository_name = s.repository_name AND f.image_digest = s.image_digest
    LEFT JOIN guarded g
      ON g.account_id = s.account_id AND g.region = s.region
     AND g.repository_name = s.repository_name AND g.image_digest = s.image_digest
    LEFT JOIN kept_by_parent k
      ON k.account_id = s.account_id AND k.region = s.region
     AND k.repository_name = s.repository_name AND k.image_digest = s.image_digest
    LEFT JOIN children ch
      ON ch.account_id = s.account_id AND ch.region = s.region
     AND ch.repository_name = s.repository_name AND ch.image_digest = s.image_digest
    LEFT JOIN depths d
      ON d.account_id = s.account_id AND d.region = s.region
     AND d.repository_name = s.repository_name AND d.image_digest = s.image_digest
    LEFT JOIN opted_in o
      ON o.account_id = s.account_id AND o.region = s.region
     AND o.repository_name = s.repository_name
    LEFT JOIN reached rc
      ON rc.account_id = s.account_id AND rc.region = s.region
     AND rc.repository_name = s.repository_name AND rc.image_digest = s.image_digest
)
SELECT
    x.account_id,
    x.region,
    x.repository_name,
    x.image_digest,
    x.status,
    x.rule,
    x.rules,
    x.rule_detail,
    x.reason,
    x.guards,
    x.guard_detail,
    x.parent_digests,
    x.depth,
    t.image_tags,
    i.image_size_bytes,
    i.image_pushed_at,
    i.image_manifest_media_type,
    i.image_status,
    i.last_recorded_pull_time,
    c.last_in_use_at,
    c.in_use_count,
    c.image_pulled_at,
    CASE
        WHEN c.image_digest IS NULL THEN 'no_coverage'
        WHEN c.scan_status = 'ACTIVE' THEN 'active'
        ELSE 'inactive'
    END AS coverage_state,
    COALESCE(r.references_found, 0) AS references_found,
    COALESCE(r.live_references, 0) AS live_references,
    rp.replicas,
    COALESCE(rp.replica_bytes, 0) AS replica_bytes,
    rp.replica_destinations
FROM decided x
JOIN images i
  ON i.account_id = x.account_id AND i.region = x.region
 AND i.repository_name = x.repository_name AND i.image_digest = x.image_digest
LEFT JOIN inspector_coverage c
  ON c.account_id = x.account_id AND c.region = x.region
 AND c.repository_name = x.repository_name AND c.image_digest = x.image_digest
LEFT JOIN tags t
  ON t.account_id = x.account_id AND t.region = x.region
 AND t.repository_name = x.repository_name AND t.image_digest = x.image_digest
LEFT JOIN refs r
  ON r.account_id = x.account_id AND r.region = x.region
 AND r.repository_name = x.repository_name AND r.image_digest = x.image_digest
LEFT JOIN replicated rp
  ON rp.account_id = x.account_id AND rp.region = x.region
 AND rp.repository_name = x.repository_name AND rp.image_digest = x.image_digest
ORDER BY x.account_id, x.region, x.repository_name, x.depth, x.image_digest
