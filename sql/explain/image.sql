-- id: image
-- summary: The explained image's own fields: push, size, media type, status, last pull.
--
-- Input: `target`, the one image being explained (`image_tag` null).
--
-- Columns: image_pushed_at, image_size_bytes, image_manifest_media_type, image_status,
-- last_recorded_pull_time, artifact_media_type.
SELECT i.image_pushed_at, i.image_size_bytes, i.image_manifest_media_type, i.image_status,
       i.last_recorded_pull_time, i.artifact_media_type
FROM images i
JOIN target t
  ON t.account_id = i.account_id AND t.region = i.region
 AND t.repository_name = i.repository_name AND t.image_digest = i.image_digest
