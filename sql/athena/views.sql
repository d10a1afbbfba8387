-- The two views `ecrgc athena-ddl` prints for every table of the store, with `{database}`
-- and `{table}` replaced; these comment lines are not printed.
--
-- `history_{table}`: the rows of committed runs only. A run's files are visible in S3 before
-- its commit marker is written, and a run that died half-way never gets one, so every reader
-- joins the markers (`committed_runs`) as ecrgc's own engine does.
-- `latest_{table}`: the rows of the newest committed run, by snapshot time.
CREATE OR REPLACE VIEW {database}.history_{table} AS
SELECT x.* FROM {database}.{table} x
JOIN {database}.committed_runs c ON c.run_id = x.run_id AND c.dt = x.dt;

CREATE OR REPLACE VIEW {database}.latest_{table} AS
SELECT x.* FROM {database}.{table} x
WHERE x.run_id = (SELECT max_by(run_id, snapshot_time_micros) FROM {database}.committed_runs)
  AND x.dt = (SELECT max_by(dt, snapshot_time_micros) FROM {database}.committed_runs);
