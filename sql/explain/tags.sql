-- id: tags
-- summary: The explained image's tags, in order.
--
-- Input: `target`. Columns: image_tag.
SELECT g.image_tag
FROM image_tags g
JOIN target t
  ON t.account_id = g.account_id AND t.region = g.region
 AND t.repository_name = g.repository_name AND t.image_digest = g.image_digest
ORDER BY g.image_tag
