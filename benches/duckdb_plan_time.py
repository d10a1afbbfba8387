#!/usr/bin/env python3
"""Times DuckDB running the plan's SQL over a store, the way `ecrgc plan` runs it.

    benches/duckdb_plan_time.py --store DIR --out-dir PLAN_OUT_DIR [--sql-dir sql]
        [--memory-limit 3GiB]

The other half of the DuckDB ratio in benches/README.md. It reuses the differential
harness (scripts/duckdb_plan.py): the run, the history window, the params and the rules
that ran come from the plan's `summary.json`; the catalog is installed exactly as the
engine installs it (candidates, protections and the plan steps as tables); then
`plan/decisions.sql` runs into an in-memory table (no comparison, nothing written).
Prints one line per phase with its wall time, and the total. `--memory-limit` sets DuckDB's
own `memory_limit` (its default is 80 % of the machine's memory), for a comparison at the same
bound as `[engine] memory_limit`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import duckdb_plan as dp  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--sql-dir", default=str(dp.REPO / "sql"))
    parser.add_argument("--memory-limit", help="DuckDB memory_limit, e.g. 3GiB")
    args = parser.parse_args()
    summary = json.loads((Path(args.out_dir) / "summary.json").read_text(encoding="utf-8"))
    units = dp.load_catalog(Path(args.sql_dir))
    rules = {u.id for u in dp.of(units, "rules") if u.id in summary["rules"]}
    decisions = next(u for u in dp.of(units, "plan") if u.id == "decisions")

    started = time.perf_counter()
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if args.memory_limit:
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
    dp.register_run(con, Path(args.store), summary["run_id"], summary.get("history_runs"))
    dp.register_params(con, summary["params"])
    t = time.perf_counter()
    dp.install(con, units, rules)
    install = time.perf_counter() - t
    t = time.perf_counter()
    # Materialized in DuckDB's own format (the test venv has no pyarrow; fetching Python
    # tuples would time the Python conversion, not the engine).
    con.execute(f"CREATE TABLE decision_rows AS\n{decisions.query()}")
    decide = time.perf_counter() - t
    rows = con.sql("SELECT COUNT(*) FROM decision_rows").fetchone()[0]
    total = time.perf_counter() - started
    threads = con.sql("SELECT current_setting('threads')").fetchone()[0]
    limit = con.sql("SELECT current_setting('memory_limit')").fetchone()[0]
    print(f"duckdb {duckdb.__version__}, {threads} threads, memory_limit {limit}")
    print(f"install (rules, guards, plan steps) {install:8.2f} s")
    print(f"decisions ({rows} rows)      {decide:8.2f} s")
    print(f"total                               {total:8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
