-- id: trend
-- summary: Stored, unused and manifest images and bytes per planned run: the earlier plans of the trend window and this one.
--
-- Inputs: `earlier_plan_totals` (the `plan_totals` of earlier runs in the trend window),
-- `current_plan_totals` (this plan's rows, `sql/report/plan_totals.sql`) and `report_params`
-- (`run_id`: an earlier plan of the same run is replaced by this one).
--
-- Unused is what a rule flagged and no guard kept (`delete` and `not_opted_in`); the
-- candidates are the manifest (`delete`).
--
-- Columns: run_id, snapshot_time, planned_at (the `--now` of its latest plan),
-- stored_images, stored_bytes, unused_images, unused_bytes, candidate_images,
-- candidate_bytes; oldest first.
WITH all_plans AS (
    SELECT e.*
    FROM earlier_plan_totals e
    CROSS JOIN report_params p
    WHERE e.run_id <> p.run_id
    UNION ALL
    SELECT * FROM current_plan_totals
)
SELECT run_id, snapshot_time, MAX(planned_at) AS planned_at,
       SUM(CASE WHEN status IN ('stored', 'stored_archived') THEN images ELSE 0 END) AS stored_images,
       SUM(CASE WHEN status IN ('stored', 'stored_archived') THEN bytes ELSE 0 END) AS stored_bytes,
       SUM(CASE WHEN status IN ('delete', 'not_opted_in') THEN images ELSE 0 END) AS unused_images,
       SUM(CASE WHEN status IN ('delete', 'not_opted_in') THEN bytes ELSE 0 END) AS unused_bytes,
       SUM(CASE WHEN status = 'delete' THEN images ELSE 0 END) AS candidate_images,
       SUM(CASE WHEN status = 'delete' THEN bytes ELSE 0 END) AS candidate_bytes
FROM all_plans
GROUP BY run_id, snapshot_time
ORDER BY snapshot_time, run_id
