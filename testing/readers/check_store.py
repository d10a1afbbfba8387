"""Reads an ecrgc store with two engines that are not ecrgc, and checks they agree with it.

    python testing/readers/check_store.py --store DIR --expected FILE --ddl FILE

The store is read as Hive-partitioned Parquet, the way Athena reads it: every file below
`<table>/`, partition columns `dt` and `run` from the folder names, committed runs only
(those with a marker in `_runs/`). FILE (from `ecrgc query`) holds, per table, the row
count of each committed run, and a few byte totals. The checks:
  * DuckDB and pyarrow each find the same rows per run and the same totals as ecrgc;
  * the `dt` folder of every row is the date of its snapshot_time;
  * the columns and types of every CREATE EXTERNAL TABLE of `ecrgc athena-ddl` (FILE
    --ddl) are exactly those of the Parquet files, in order.
Prints one line per check and exits 1 on the first failure.
"""

import argparse
import glob
import json
import os
import re
import sys

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ATHENA_TYPES = {
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "bigint": pa.types.is_int64,
    "boolean": pa.types.is_boolean,
    "double": pa.types.is_float64,
    "timestamp": lambda t: pa.types.is_timestamp(t) and t.unit == "us",
}


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def ok(msg):
    print(f"ok   {msg}")


def parse_ddl(text):
    """Table name -> [(column, athena type)] of every CREATE EXTERNAL TABLE ... PARQUET."""
    tables = {}
    pattern = re.compile(
        r"CREATE EXTERNAL TABLE IF NOT EXISTS \w+\.(\w+) \((.*?)\n\)\n(.*?);", re.S
    )
    for name, body, rest in pattern.findall(text):
        if "STORED AS PARQUET" not in rest:
            continue
        cols = []
        for line in body.strip().split(",\n"):
            m = re.match(r"\s*(\w+) (\w+) COMMENT '", line)
            if not m:
                fail(f"DDL of {name}: cannot read column line {line!r}")
            cols.append((m.group(1), m.group(2)))
        if "PARTITIONED BY (dt string)" not in rest:
            fail(f"DDL of {name}: not partitioned by dt")
        if f"'storage.location.template' = '" not in rest or "dt=${dt}/'" not in rest:
            fail(f"DDL of {name}: no storage.location.template ending in dt=${{dt}}/")
        tables[name] = cols
    return tables


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--ddl", required=True)
    args = ap.parse_args()
    expected = json.load(open(args.expected))
    committed = sorted(
        json.loads(open(p).readline())["run_id"]
        for p in glob.glob(os.path.join(args.store, "_runs", "*.json"))
    )
    if not committed:
        fail("no committed run in the store")
    ok(f"{len(committed)} committed runs")
    ddl = parse_ddl(open(args.ddl).read())
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table, want in expected["tables"].items():
        folder = os.path.join(args.store, table)
        files = glob.glob(os.path.join(folder, "dt=*", "run=*", "*.parquet"))
        want_runs = {k: v for k, v in want.items() if v}

        # DuckDB
        if files:
            rows = con.execute(
                f"""
                SELECT run_id, COUNT(*) AS n,
                       COUNT(*) FILTER (WHERE dt <> strftime(snapshot_time, '%Y-%m-%d')) AS bad_dt,
                       COUNT(*) FILTER (WHERE run <> run_id) AS bad_run
                FROM read_parquet('{folder}/*/*/*.parquet', hive_partitioning = true)
                WHERE run_id IN (SELECT UNNEST(?::VARCHAR[]))
                GROUP BY run_id
                """,
                [committed],
            ).fetchall()
        else:
            rows = []
        got = {r[0]: r[1] for r in rows}
        if got != want_runs:
            fail(f"DuckDB {table}: rows per run {got} != ecrgc {want_runs}")
        if any(r[2] or r[3] for r in rows):
            fail(f"DuckDB {table}: a row's dt/run folder does not match its snapshot/run_id")

        # pyarrow
        if files:
            dataset = ds.dataset(folder, format="parquet", partitioning="hive")
            t = dataset.to_table(filter=pc.field("run_id").isin(committed))
            counts = t.group_by("run_id").aggregate([("run_id", "count")]).to_pylist()
            got = {c["run_id"]: c["run_id_count"] for c in counts}
            schema = pa.unify_schemas([pq.read_schema(f) for f in files])
        else:
            got, schema = {}, None
        if got != want_runs:
            fail(f"pyarrow {table}: rows per run {got} != ecrgc {want_runs}")
        ok(f"{table}: DuckDB and pyarrow read {sum(want_runs.values())} rows in {len(want_runs)} runs, as ecrgc")

        # Athena DDL against the files' own schema
        if table not in ddl:
            fail(f"athena-ddl has no table {table}")
        if schema is not None:
            cols = [(f.name, f.type) for f in schema if f.name not in ("dt", "run")]
            if [c[0] for c in cols] != [c[0] for c in ddl[table]]:
                fail(f"DDL {table} columns {[c[0] for c in ddl[table]]} != Parquet {[c[0] for c in cols]}")
            for (name, arrow_type), (_, athena) in zip(cols, ddl[table]):
                if not ATHENA_TYPES[athena](arrow_type):
                    fail(f"DDL {table}.{name} is {athena}, Parquet has {arrow_type}")
            ok(f"{table}: athena-ddl columns and types match the Parquet files")

    for name, (table, column, total) in expected["totals"].items():
        folder = os.path.join(args.store, table)
        duck = con.execute(
            f"SELECT SUM({column}) FROM read_parquet('{folder}/*/*/*.parquet', hive_partitioning = true) "
            "WHERE run_id IN (SELECT UNNEST(?::VARCHAR[]))",
            [committed],
        ).fetchone()[0]
        t = ds.dataset(folder, format="parquet", partitioning="hive").to_table(
            filter=pc.field("run_id").isin(committed), columns=[column]
        )
        arrow_sum = pc.sum(t[column]).as_py()
        if not (duck == arrow_sum == total):
            fail(f"total {name}: DuckDB {duck}, pyarrow {arrow_sum}, ecrgc {total}")
        ok(f"total {name} = {total} in DuckDB, pyarrow and ecrgc")
    print("check_store: all checks passed")


if __name__ == "__main__":
    main()
