-- id: keep_newest
-- order: 45
-- summary: Among the newest `keep_newest` images of its repository (signatures and index children not counted).
--
-- ## What it does
-- Protects the `params.keep_newest` most recently pushed images of each repository (ties
-- broken by digest). Only images that stand on their own count: index children,
-- signatures, attestations and other referrers follow their parent and never take a place
-- in the newest N. Nothing when `keep_newest` is 0 (the default).
--
-- ## Why
-- Teams want the last few builds at hand for a quick rollback or a debugging session, used
-- or not. Counting a signature as "a newer image" would silently shrink that set, so
-- artifacts do not count (docs/pitfalls.md#p5).
--
-- ## Evidence
-- `detail`: `newest N`, the image's rank in its repository.
--
-- ## Example
-- keep_newest 2; builds pushed on days 1, 2, 3, each with a `.sig` tag pushed later → the
-- builds of days 2 and 3 are protected (and their signatures, through their subjects).
--
-- ## Options
-- - `rules.keep_newest` (default `0`): read as `params.keep_newest`, the number of images
--   kept per repository; 0 keeps none.
--
-- ## References
-- docs/pitfalls.md#p4, docs/pitfalls.md#p5.
WITH standalone AS (
    SELECT
        i.account_id,
        i.region,
        i.repository_name,
        i.image_digest,
        ROW_NUMBER() OVER (
            PARTITION BY i.account_id, i.region, i.repository_name
            ORDER BY i.image_pushed_at DESC, i.image_digest DESC
        ) AS newest_rank
    FROM images i
    CROSS JOIN params p
    WHERE p.keep_newest > 0
      AND i.subject_manifest_digest IS NULL
      AND NOT EXISTS (
          SELECT 1
          FROM image_relations r
          WHERE r.account_id = i.account_id
            AND r.region = i.region
            AND r.repository_name = i.repository_name
            AND r.child_digest = i.image_digest
      )
)
SELECT
    s.account_id,
    s.region,
    s.repository_name,
    s.image_digest,
    'newest ' || CAST(s.newest_rank AS VARCHAR) AS detail
FROM standalone s
CROSS JOIN params p
WHERE s.newest_rank <= p.keep_newest
