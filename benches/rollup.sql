-- A typical FinOps rollup over the whole history: images and bytes stored per night and
-- owner (the `team` repository tag), index manifests counted as nothing of their own.
SELECT i.run_id,
       COALESCE(t.tag_value, '(untagged)') AS owner,
       COUNT(*) AS images,
       SUM(CASE WHEN i.image_manifest_media_type IN (
                  'application/vnd.oci.image.index.v1+json',
                  'application/vnd.docker.distribution.manifest.list.v2+json')
                THEN 0 ELSE i.image_size_bytes END) AS bytes
FROM images i
LEFT JOIN repository_tags t
  ON t.run_id = i.run_id AND t.account_id = i.account_id AND t.region = i.region
 AND t.repository_name = i.repository_name AND t.tag_key = 'team'
GROUP BY 1, 2
ORDER BY 1, 2
