-- id: inspector_coverage_summary
-- order: 30
-- summary: Per registry account × region: images Inspector covers ACTIVE, INACTIVE and not at all, and its rescan settings.
--
-- What Inspector can vouch for. `stale` and `never_used` read Inspector's usage fields as
-- evidence of non-use only from `ACTIVE` coverage: Inspector stops monitoring an image
-- once it was neither pushed within the push rescan duration nor last used (or, in
-- `LAST_PULL_DATE` mode, pulled) within the pull-date rescan duration, and marks its row
-- `INACTIVE` with reason `SCAN_ELIGIBILITY_EXPIRED` (Inspector User Guide, "Configuring the
-- Amazon ECR re-scan duration"; API Reference, `ScanStatus`). An image with `INACTIVE` or
-- no coverage is of unknown use to those rules. The report shows this view so a user sees,
-- per account, how much of the registry the usage rules can judge, and the settings that
-- decide it (`inspector_configuration`, GetConfiguration).
--
-- One row per account × region with images. Columns:
--   account_id, region;
--   images: every image of the registry (index children and signatures included);
--   active, inactive, no_coverage: images whose coverage row is `ACTIVE`, is anything else
--     (`INACTIVE`, or a status Inspector did not give), or is missing;
--   expired: the `inactive` ones with reason `SCAN_ELIGIBILITY_EXPIRED`;
--   inspector_status: the run's `inspector` unit there (`ok`, `denied`, `error`,
--     `disabled`; null when not attempted);
--   rescan_duration, pull_date_rescan_duration, pull_date_rescan_mode: the settings read
--     (null when GetConfiguration was not read);
--   monitors_for_lifetime: the push rescan duration is `LIFETIME`, so Inspector monitors
--     every image for as long as it exists and the usage rules can judge all of them (null
--     when the settings are unknown).
WITH per_image AS (
    SELECT
        i.account_id,
        i.region,
        CASE
            WHEN c.image_digest IS NULL THEN 'none'
            WHEN c.scan_status = 'ACTIVE' THEN 'active'
            ELSE 'inactive'
        END AS state,
        c.scan_status_reason
    FROM images i
    LEFT JOIN inspector_coverage c
      ON c.account_id = i.account_id
     AND c.region = i.region
     AND c.repository_name = i.repository_name
     AND c.image_digest = i.image_digest
),
counted AS (
    SELECT
        account_id,
        region,
        COUNT(*) AS images,
        SUM(CASE WHEN state = 'active' THEN 1 ELSE 0 END) AS active,
        SUM(CASE WHEN state = 'inactive' THEN 1 ELSE 0 END) AS inactive,
        SUM(CASE WHEN state = 'inactive' AND scan_status_reason = 'SCAN_ELIGIBILITY_EXPIRED'
                 THEN 1 ELSE 0 END) AS expired,
        SUM(CASE WHEN state = 'none' THEN 1 ELSE 0 END) AS no_coverage
    FROM per_image
    GROUP BY account_id, region
),
unit AS (
    SELECT account_id, region, MIN(status) AS status
    FROM collection_coverage
    WHERE source = 'inspector'
    GROUP BY account_id, region
)
SELECT
    n.account_id,
    n.region,
    n.images,
    n.active,
    n.inactive,
    n.expired,
    n.no_coverage,
    u.status AS inspector_status,
    s.rescan_duration,
    s.pull_date_rescan_duration,
    s.pull_date_rescan_mode,
    CASE
        WHEN s.account_id IS NULL OR s.rescan_duration IS NULL THEN CAST(NULL AS BOOLEAN)
        ELSE s.rescan_duration = 'LIFETIME'
    END AS monitors_for_lifetime
FROM counted n
LEFT JOIN unit u
  ON u.account_id = n.account_id AND u.region = n.region
LEFT JOIN inspector_configuration s
  ON s.account_id = n.account_id AND s.region = n.region
