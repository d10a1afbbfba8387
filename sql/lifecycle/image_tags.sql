-- The tags of every image, in tag order.
--
-- Columns: account_id, region, repository_name, image_digest, image_tag.
SELECT account_id, region, repository_name, image_digest, image_tag FROM image_tags ORDER BY image_tag
