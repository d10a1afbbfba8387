-- id: image_tags
-- summary: The tags of every image, in tag order.
--
-- Read by `ecrgc lifecycle suggest` (crates/ecrgc-plan/src/lifecycle.rs) after the plan's
-- rules and guards are installed.
--
-- Columns: account_id, region, repository_name, image_digest, image_tag.
SELECT account_id, region, repository_name, image_digest, image_tag FROM image_tags ORDER BY image_tag
