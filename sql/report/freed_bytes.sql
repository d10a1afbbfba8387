-- id: freed_bytes
-- summary: Bytes deleting the manifest frees per repository after layer sharing, where layers were collected.
--
-- Pitfall 7: `imageSizeInBytes` overstates what deletion frees when layers are shared. ECR
-- stores a layer once per repository, so a layer is freed when every image of the
-- repository that uses it is deleted. A repository counts only when each of its image
-- manifests has its layers in `image_layers` (`collect --layers`), since a missing image
-- could share any of them; indexes have no layers of their own. Foreign layers (non
-- distributable, stored elsewhere) are not stored by ECR and free nothing.
--
-- Inputs: `decisions` (status `delete` is the manifest), `images`, `image_layers`.
--
-- Columns: account_id, region, repository_name (every repository with an image in the
-- manifest), freed (bytes; null when an image manifest of the repository lacks layers).
WITH deleted AS (
    SELECT account_id, region, repository_name, image_digest
    FROM decisions WHERE status = 'delete'
),
touched AS (SELECT DISTINCT account_id, region, repository_name FROM deleted),
with_layers AS (
    SELECT DISTINCT account_id, region, repository_name, image_digest FROM image_layers
),
missing AS (
    SELECT i.account_id, i.region, i.repository_name, COUNT(*) AS images
    FROM images i
    JOIN touched t
      ON t.account_id = i.account_id AND t.region = i.region
     AND t.repository_name = i.repository_name
    LEFT JOIN with_layers w
      ON w.account_id = i.account_id AND w.region = i.region
     AND w.repository_name = i.repository_name AND w.image_digest = i.image_digest
    WHERE w.image_digest IS NULL
      AND i.image_manifest_media_type NOT IN (
          'application/vnd.oci.image.index.v1+json',
          'application/vnd.docker.distribution.manifest.list.v2+json')
    GROUP BY 1, 2, 3
),
deleted_layers AS (
    -- the layers a deleted image lists: no other layer can be freed, so only these are
    -- looked up among every image's layers (at a million images, a fraction of the rows)
    SELECT DISTINCT l.account_id, l.region, l.repository_name, l.layer_digest
    FROM image_layers l
    JOIN deleted d
      ON d.account_id = l.account_id AND d.region = l.region
     AND d.repository_name = l.repository_name AND d.image_digest = l.image_digest
    WHERE l.layer_kind <> 'foreign'
),
layer_use AS (
    SELECT l.account_id, l.region, l.repository_name, l.layer_digest,
           MAX(l.layer_size_bytes) AS size,
           MIN(CASE WHEN d.image_digest IS NULL THEN 0 ELSE 1 END) AS only_deleted
    FROM image_layers l
    JOIN deleted_layers x
      ON x.account_id = l.account_id AND x.region = l.region
     AND x.repository_name = l.repository_name AND x.layer_digest = l.layer_digest
    LEFT JOIN deleted d
      ON d.account_id = l.account_id AND d.region = l.region
     AND d.repository_name = l.repository_name AND d.image_digest = l.image_digest
    WHERE l.layer_kind <> 'foreign'
    GROUP BY 1, 2, 3, 4
),
freed AS (
    SELECT account_id, region, repository_name,
           SUM(CASE WHEN only_deleted = 1 THEN size ELSE 0 END) AS freed
    FROM layer_use GROUP BY 1, 2, 3
)
SELECT t.account_id, t.region, t.repository_name,
       CASE WHEN m.images IS NULL THEN COALESCE(f.freed, 0) END AS freed
FROM touched t
LEFT JOIN missing m
  ON m.account_id = t.account_id AND m.region = t.region
 AND m.repository_name = t.repository_name
LEFT JOIN freed f
  ON f.account_id = t.account_id AND f.region = t.region
 AND f.repository_name = t.repository_name
