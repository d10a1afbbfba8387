-- id: references
-- summary: Every workload reference to the explained image, live ones first, with what it is and how it matched.
--
-- Input: `target`, and the view `image_refs` (`sql/views/image_refs.sql`).
--
-- Columns: kind, resource_arn, status, status_at, is_live, matched_by, workload_account_id,
-- workload_region, image_uri.
SELECT r.kind, r.resource_arn, r.status, r.status_at, r.is_live, r.matched_by,
       r.workload_account_id, r.workload_region, r.image_uri
FROM image_refs r
JOIN target t
  ON t.account_id = r.account_id AND t.region = r.region
 AND t.repository_name = r.repository_name AND t.image_digest = r.image_digest
ORDER BY r.is_live DESC, r.kind, r.resource_arn
