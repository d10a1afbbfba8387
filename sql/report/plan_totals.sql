-- id: plan_totals
-- summary: The plan's totals per repository × status × rule, and what each repository stores: the rows of `plan_totals`.
--
-- Everything the FinOps report prints is derived from these rows, and a plan writes them
-- back into the store (`plan_totals`) so that the trend of later plans, `ecrgc query` and
-- Athena read the very numbers the report printed.
--
-- Inputs: `decisions` (the plan's decision rows), `images` and `repository_tags` of the
-- planned run, and `report_params` (one row: `owner_tag`, the repository tag the `by_owner`
-- breakdown reads).
--
-- Bytes count each image manifest once at its `imageSizeInBytes`, and an image index as
-- nothing of its own: its children are images of their own, and ECR reports an index at the
-- size of its largest child, which would count that child twice and the others never. The
-- index media types are `ecrgc_model::vocabulary::INDEX_MEDIA_TYPES`.
--
-- `rule` is the first rule of a `delete` or `not_opted_in` image (`with_parent` for a child
-- deleted with its parent), the first guard of a `protected` one (`unknown` if none); null
-- for `kept_with_parent` and for the `stored` / `stored_archived` rows (every image of the
-- repository, by storage class).
--
-- Columns: status, rule, account_id, region, repository_name, owner (the owner tag's
-- smallest value, null without one), images, bytes.
WITH owners AS (
    SELECT t.account_id, t.region, t.repository_name, MIN(t.tag_value) AS owner
    FROM repository_tags t
    CROSS JOIN report_params p
    WHERE t.tag_key = p.owner_tag
    GROUP BY t.account_id, t.region, t.repository_name
),
grouped AS (
    SELECT d.status,
           CASE WHEN d.status IN ('delete', 'not_opted_in')
                  THEN COALESCE(d.rule, 'with_parent')
                WHEN d.status = 'protected' THEN COALESCE(d.reason, 'unknown')
           END AS rule,
           d.account_id, d.region, d.repository_name,
           COUNT(*) AS images,
           SUM(CASE WHEN d.image_manifest_media_type IN (
                         'application/vnd.oci.image.index.v1+json',
                         'application/vnd.docker.distribution.manifest.list.v2+json')
                    THEN 0 ELSE d.image_size_bytes END) AS bytes
    FROM decisions d
    GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT CASE WHEN i.image_status = 'ARCHIVED' THEN 'stored_archived'
                ELSE 'stored' END,
           CAST(NULL AS VARCHAR), i.account_id, i.region, i.repository_name,
           COUNT(*),
           SUM(CASE WHEN i.image_manifest_media_type IN (
                         'application/vnd.oci.image.index.v1+json',
                         'application/vnd.docker.distribution.manifest.list.v2+json')
                    THEN 0 ELSE i.image_size_bytes END)
    FROM images i
    GROUP BY 1, 2, 3, 4, 5
)
SELECT g.status, g.rule, g.account_id, g.region, g.repository_name, o.owner,
       g.images, COALESCE(g.bytes, 0) AS bytes
FROM grouped g
LEFT JOIN owners o
  ON o.account_id = g.account_id AND o.region = g.region
 AND o.repository_name = g.repository_name
ORDER BY g.account_id, g.region, g.repository_name, g.status, g.rule
