-- id: scanned
-- summary: What the planned run holds: images, their bytes, repositories and registries.
--
-- Bytes count each image manifest once and an image index as nothing of its own (see
-- `sql/report/plan_totals.sql`; the index media types are
-- `ecrgc_model::vocabulary::INDEX_MEDIA_TYPES`).
--
-- Inputs: `images`, `repositories`.
--
-- Columns: images, bytes, repositories, registries (account × region); one row.
SELECT
    (SELECT COUNT(*) FROM images) AS images,
    (SELECT COALESCE(SUM(CASE WHEN image_manifest_media_type IN (
                                   'application/vnd.oci.image.index.v1+json',
                                   'application/vnd.docker.distribution.manifest.list.v2+json')
                              THEN 0 ELSE image_size_bytes END), 0)
     FROM images) AS bytes,
    (SELECT COUNT(*) FROM repositories) AS repositories,
    (SELECT COUNT(*) FROM (SELECT DISTINCT account_id, region FROM repositories) r) AS registries
