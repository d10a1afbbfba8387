#!/usr/bin/env python3
"""Replays a plan in DuckDB and checks it against DataFusion's, row for row.

    scripts/duckdb_plan.py --store DIR --out-dir PLAN_OUT_DIR [--sql-dir sql]

`ecrgc plan` (or `ecrgc demo`) leaves `summary.json` and `decisions.parquet` in its output
folder. This script reads the run id and the `params` row from `summary.json`, registers
every table of that run in DuckDB, installs the SQL catalog exactly as the engine does
(crates/ecrgc-engine/src/plan.rs: views by id, `rule_<id>`, `guard_<id>`, `candidates`,
`protections`, then the steps of `plan/` before `decisions` as tables by id; only the rules the plan ran, as `summary.json` lists them, feed `candidates`),
runs `plan/decisions.sql` and compares its rows with DataFusion's
`decisions.parquet`: same columns, same values, same order.

Then the queries of `report/` run over DataFusion's decision rows and the same run, and
must give the figures the plan printed: `plan_totals` as the plan stored it, the summary's
`scanned`, `blocked_sources`, `out_of_scope`, `collector_pulls`, `inspector_coverage`,
`vanished_accounts` and `malformed_references`, and `report.json`'s trend, freed bytes and
pull through upstreams. The queries of `explain/` run for a sample of images (a one-row
`target` each), and what they say must match the decision rows.

Exit status: 0 when both engines agree (one line with the row count is printed), 1 when they
differ or a SQL file does not run in DuckDB (a readable diff or the error is printed), 2 when
the inputs are missing or malformed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent

# Kinds in the order the engine installs them (catalog.rs, `SqlKind::ALL`).
KINDS = ("views", "rules", "guards", "plan")

# The queries of the reports and `ecrgc explain` (catalog.rs, `QUERIES`): not installed.
QUERY_KINDS = ("report", "explain")

# Columns every rule and guard returns, in this order (plan.rs, `KEY_COLUMNS` + `detail`).
KEY_COLUMNS = ["account_id", "region", "repository_name", "image_digest"]
UNIT_COLUMNS = KEY_COLUMNS + ["detail"]

# The `params` table, column for column as crates/ecrgc-model/src/params.rs declares it:
# timestamps are Timestamp(µs, UTC), integers Int64, strings Utf8; the opt-in pair and the
# tag values (null: the key alone selects, any value) are nullable.
PARAMS_COLUMNS = [
    ("now", "TIMESTAMPTZ NOT NULL"),
    ("unused_cutoff", "TIMESTAMPTZ NOT NULL"),
    ("rollback_cutoff", "TIMESTAMPTZ NOT NULL"),
    ("young_cutoff", "TIMESTAMPTZ NOT NULL"),
    ("pull_cutoff", "TIMESTAMPTZ NOT NULL"),
    ("unused_days", "BIGINT NOT NULL"),
    ("keep_newest", "BIGINT NOT NULL"),
    ("exclude_tag_key", "VARCHAR NOT NULL"),
    ("exclude_tag_value", "VARCHAR"),
    ("opt_in_tag_key", "VARCHAR"),
    ("opt_in_tag_value", "VARCHAR"),
    ("relation_depth", "BIGINT NOT NULL"),
]

# Columns `summary.json` does not print, with the one value the engine gives them
# (ecrgc_model::params::RELATION_DEPTH).
PARAMS_DEFAULTS = {"relation_depth": 8}

# Rows whose differences are printed on a mismatch.
SHOW_ROWS = 5


class Failure(Exception):
    """The engines disagree, or a SQL file does not run in DuckDB (exit 1)."""


class BadInput(Exception):
    """The plan output or the store is missing or malformed (exit 2)."""


@dataclass
class Unit:
    kind: str
    id: str
    order: int
    # Parsed and checked like the engine does; which rules ran comes from summary.json.
    enabled_by_default: bool
    path: str
    text: str

    def query(self) -> str:
        # catalog.rs `SqlUnit::query`: trim whitespace, then every trailing ';'.
        return self.text.strip().rstrip(";")


def parse_unit(kind: str, path: Path) -> Unit:
    """The header parsing of catalog.rs `SqlUnit::parse`, rule for rule."""
    text = path.read_text(encoding="utf-8")
    unit_id = None
    order = None
    enabled_by_default = True
    # Rust's str::lines: split on '\n' and drop one trailing '\r'.
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        comment = stripped[2:].strip()
        if ":" not in comment:
            continue
        key, value = comment.split(":", 1)
        key, value = key.strip(), value.strip()
        if key == "id":
            unit_id = value
        elif key == "order":
            # i64::from_str: optional sign, then ASCII digits only.
            if not re.fullmatch(r"[+-]?[0-9]+", value):
                raise BadInput(f"{path}: header `order: {value}` is not an integer")
            order = int(value)
        elif key == "default":
            if value not in ("on", "off"):
                raise BadInput(f"{path}: header `default: {value}` is not on or off")
            enabled_by_default = value == "on"
    if unit_id is None:
        raise BadInput(f"{path}: header has no `-- id:` line")
    if unit_id != path.stem:
        raise BadInput(f"{path}: header id {unit_id!r} differs from the file name {path.stem!r}")
    if not re.fullmatch(r"[a-z0-9_]*", unit_id):
        raise BadInput(f"{path}: id {unit_id!r} must be snake_case")
    if not any(l.strip() and not l.strip().startswith("--") for l in lines):
        raise BadInput(f"{path}: no SQL after the header")
    order = 1000 if order is None else order
    return Unit(kind, unit_id, order, enabled_by_default, str(path), text)


def load_catalog(root: Path) -> list[Unit]:
    """catalog.rs `Catalog::load_dir`, sorted by (kind, order, id) like `from_units`."""
    units = []
    for kind in KINDS:
        folder = root / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.sql")):
            units.append(parse_unit(kind, path))
    if not any(u.kind == "plan" for u in units):
        raise BadInput(f"{root}: no plan/decisions.sql")
    units.sort(key=lambda u: (KINDS.index(u.kind), u.order, u.id))
    return units


def of(units: list[Unit], kind: str) -> list[Unit]:
    return [u for u in units if u.kind == kind]


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_marker(store: Path, run_id: str) -> dict:
    marker_path = store / "_runs" / f"{run_id}.json"
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"run {run_id} has no commit marker {marker_path}") from None
    if marker.get("run_id") != run_id:
        raise BadInput(f"{marker_path} names run {marker.get('run_id')!r}, not {run_id!r}")
    # A commit writes every table (an empty file for tables without rows) and lists them
    # all in the marker.
    if not marker.get("tables"):
        raise BadInput(f"{marker_path} lists no tables")
    return marker


def table_pattern(store: Path, table: str, run_id: str) -> str:
    if not any(store.glob(f"{table}/dt=*/run={run_id}/*.parquet")):
        raise BadInput(f"table {table} of run {run_id} has no Parquet file in {store}")
    return f"{store}/{table}/dt=*/run={run_id}/*.parquet"


def register_run(
    con: duckdb.DuckDBPyConnection, store: Path, run_id: str, history: list[str] | None
) -> None:
    """session.rs `register_run`: one view per table of the run, over that run's partition
    only; and `register_history`: `history_<table>` over every run of the history window."""
    tables = sorted(read_marker(store, run_id)["tables"])
    for run in history or []:
        missing = set(tables) - set(read_marker(store, run)["tables"])
        if missing:
            raise BadInput(f"history run {run} lacks tables {sorted(missing)}")
    for table in tables:
        pattern = sql_string(table_pattern(store, table, run_id))
        con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM read_parquet({pattern})')
        if history is None:
            continue
        if history:
            patterns = ", ".join(sql_string(table_pattern(store, table, r)) for r in history)
            source = f"read_parquet([{patterns}])"
        else:
            source = f'"{table}" WHERE FALSE'
        con.execute(f'CREATE VIEW "history_{table}" AS SELECT * FROM {source}')


def register_params(con: duckdb.DuckDBPyConnection, params: dict) -> None:
    names = [name for name, _ in PARAMS_COLUMNS]
    printed = [n for n in names if n not in PARAMS_DEFAULTS]
    if sorted(params) != sorted(printed):
        raise BadInput(
            "summary.json params has keys ("
            + ", ".join(sorted(params))
            + "); the params table has ("
            + ", ".join(sorted(printed))
            + ")"
        )
    params = {**PARAMS_DEFAULTS, **params}
    columns = ", ".join(f"{name} {ty}" for name, ty in PARAMS_COLUMNS)
    con.execute(f"CREATE TABLE params ({columns})")
    # Timestamps arrive as RFC 3339 strings with an offset; the cast keeps the instant.
    values = ", ".join(
        f"CAST(? AS {ty.replace(' NOT NULL', '')})" for _, ty in PARAMS_COLUMNS
    )
    con.execute(f"INSERT INTO params VALUES ({values})", [params[n] for n in names])


def create_view(con: duckdb.DuckDBPyConnection, name: str, unit: Unit) -> None:
    try:
        con.execute(f'CREATE VIEW "{name}" AS\n{unit.query()}')
    except duckdb.Error as e:
        raise Failure(f"{unit.path} does not run in DuckDB:\n{e}") from None


def check_output(con: duckdb.DuckDBPyConnection, name: str, unit: Unit) -> None:
    """plan.rs `check_output`: the key columns and `detail`, all strings."""
    rel = con.table(name)
    if rel.columns != UNIT_COLUMNS:
        raise Failure(
            f"{unit.path} returns columns ({', '.join(rel.columns)}) in DuckDB; "
            f"expected ({', '.join(UNIT_COLUMNS)})"
        )
    for column, ty in zip(rel.columns, rel.types):
        if str(ty) not in ("VARCHAR", '"NULL"', "NULL"):
            raise Failure(f"{unit.path}: column {column} is {ty} in DuckDB, expected a string")


# plan.rs: steps of plan/ that read the decision rows of a round or run around the rounds,
# and the rounds at most.
AFTER_DECISIONS = ("replicas_kept", "replicas_present")
MAX_REPLICA_ROUNDS = 16


def install(con: duckdb.DuckDBPyConnection, units: list[Unit], enabled: set[str]) -> None:
    """plan.rs `Planner::install` with `materialize`, as `ecrgc plan` runs it. Every rule
    gets its view; only the `enabled` ones feed `candidates`. Guards always run. Then the
    replicas that delete replication links are settled in rounds, as the engine does."""
    con.execute(
        "CREATE TABLE replica_holds (account_id VARCHAR, region VARCHAR, "
        "repository_name VARCHAR, image_digest VARCHAR, reason VARCHAR)"
    )
    for unit in of(units, "views"):
        create_view(con, unit.id, unit)
    install_guarded(con, units, enabled)
    settle_replicas(con, units, enabled)


def settle_replicas(con: duckdb.DuckDBPyConnection, units: list[Unit], enabled: set[str]) -> None:
    """plan.rs `Planner::settle_replicas`: decision rounds until the replicas kept stop growing."""
    step = next((u for u in of(units, "plan") if u.id == "replicas_kept"), None)
    present = next((u for u in of(units, "plan") if u.id == "replicas_present"), None)
    decisions = next((u for u in of(units, "plan") if u.id == "decisions"), None)
    if step is None or present is None or decisions is None:
        return
    try:
        every_replica = con.sql(present.query()).fetchall()
    except duckdb.Error as e:
        raise Failure(f"{present.path} does not run in DuckDB:\n{e}") from None
    if not every_replica:
        return
    held = 0
    for _ in range(MAX_REPLICA_ROUNDS):
        try:
            con.execute(f"CREATE TABLE decisions AS\n{decisions.query()}")
            kept = con.sql(step.query()).fetchall()
        except duckdb.Error as e:
            raise Failure(f"a decision round does not run in DuckDB:\n{e}") from None
        con.execute("DROP TABLE decisions")
        if len(kept) == held:
            return
        held = len(kept)
        con.execute("DELETE FROM replica_holds")
        if kept:
            con.executemany("INSERT INTO replica_holds VALUES (?, ?, ?, ?, ?)", kept)
        install_guarded(con, units, enabled)
    con.execute("DELETE FROM replica_holds")
    con.executemany("INSERT INTO replica_holds VALUES (?, ?, ?, ?, ?)", every_replica)
    install_guarded(con, units, enabled)


def install_guarded(con: duckdb.DuckDBPyConnection, units: list[Unit], enabled: set[str]) -> None:
    """Rules, guards and the steps of plan/ before `decisions`, as tables (replaced)."""
    for kind, prefix, table, id_col, order_col in (
        ("rules", "rule", "candidates", "rule_id", "rule_order"),
        ("guards", "guard", "protections", "guard_id", "guard_order"),
    ):
        parts = []
        for unit in of(units, kind):
            name = f"{prefix}_{unit.id}"
            con.execute(f'DROP VIEW IF EXISTS "{name}"')
            create_view(con, name, unit)
            check_output(con, name, unit)
            if kind == "rules" and unit.id not in enabled:
                continue
            parts.append(
                "SELECT account_id, region, repository_name, image_digest, "
                f"'{unit.id}' AS {id_col}, CAST({unit.order} AS BIGINT) AS {order_col}, "
                f"CAST(detail AS VARCHAR) AS detail FROM {name}"
            )
        if not parts:
            parts.append(
                "SELECT CAST(NULL AS VARCHAR) AS account_id, CAST(NULL AS VARCHAR) AS region, "
                "CAST(NULL AS VARCHAR) AS repository_name, "
                "CAST(NULL AS VARCHAR) AS image_digest, "
                f"CAST(NULL AS VARCHAR) AS {id_col}, CAST(NULL AS BIGINT) AS {order_col}, "
                "CAST(NULL AS VARCHAR) AS detail WHERE FALSE"
            )
        union = "\nUNION ALL\n".join(parts)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS\n{union}")
        except duckdb.Error as e:
            raise Failure(f"running the {prefix}s in DuckDB failed:\n{e}") from None
    # The steps of plan/ before `decisions` (flagged, guarded, edges, children), in order,
    # each computed once as a table under its id, as the engine does.
    for unit in of(units, "plan"):
        if unit.id == "decisions" or unit.id in AFTER_DECISIONS:
            continue
        try:
            con.execute(f'CREATE OR REPLACE TABLE "{unit.id}" AS\n{unit.query()}')
        except duckdb.Error as e:
            raise Failure(f"{unit.path} does not run in DuckDB:\n{e}") from None


# Representation differences only, never values: DuckDB types integer literals INTEGER and
# sums of them HUGEINT where DataFusion uses Int64 (`depth`, `live_references`). Values
# compare as Python integers, so only the type names are folded into one integer family.
# Nothing else is normalised: strings compare as they are, NULL only equals NULL, and
# timestamps (TIMESTAMPTZ on both sides, µs precision) compare as instants.
INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}


def type_family(ty: str) -> str:
    return "INTEGER" if ty in INTEGER_TYPES else ty


def fmt(value) -> str:
    if value is None:
        return "NULL"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)


def key_of(columns: list[str], row: tuple) -> tuple:
    return tuple(row[columns.index(c)] if c in columns else None for c in KEY_COLUMNS)


def compare(
    columns: list[str],
    duck_types: list[str],
    duck_rows: list[tuple],
    df_columns: list[str],
    df_types: list[str],
    df_rows: list[tuple],
) -> None:
    if columns != df_columns:
        raise Failure(
            "the engines return different columns:\n"
            f"  duckdb:     {', '.join(columns)}\n"
            f"  datafusion: {', '.join(df_columns)}"
        )
    type_diffs = [
        f"  {c}: duckdb {d}, datafusion {f}"
        for c, d, f in zip(columns, duck_types, df_types)
        if type_family(d) != type_family(f)
    ]
    if type_diffs:
        raise Failure("the engines type columns differently:\n" + "\n".join(type_diffs))

    lines = []
    duck_keys = Counter(key_of(columns, r) for r in duck_rows)
    df_keys = Counter(key_of(columns, r) for r in df_rows)
    if duck_keys != df_keys:
        # Different images (or an image listed twice): say which, since every row after
        # the first extra one is shifted and a row-by-row diff would only show noise.
        lines.append(f"row counts: duckdb {len(duck_rows)}, datafusion {len(df_rows)}")
        for label, keys in (
            ("more often by duckdb", sorted((duck_keys - df_keys).items())),
            ("more often by datafusion", sorted((df_keys - duck_keys).items())),
        ):
            if keys:
                lines.append(f"images listed {label} ({len(keys)}), first ones:")
                lines.extend(
                    f"  {'/'.join(map(str, k))} (+{n})" for k, n in keys[:SHOW_ROWS]
                )
        raise Failure("the engines disagree on the decisions:\n" + "\n".join(lines))
    shown = 0
    differing = 0
    for n, (d, f) in enumerate(zip(duck_rows, df_rows)):
        if d == f:
            continue
        differing += 1
        if shown < SHOW_ROWS:
            shown += 1
            lines.append(f"row {n} ({'/'.join(map(str, key_of(columns, f)))}):")
            for c, dv, fv in zip(columns, d, f):
                if dv != fv:
                    lines.append(f"  {c}: duckdb {fmt(dv)}  datafusion {fmt(fv)}")
    if differing:
        lines.append(f"{differing} of {min(len(duck_rows), len(df_rows))} rows differ in place")
    if lines:
        raise Failure("the engines disagree on the decisions:\n" + "\n".join(lines))


def load_queries(root: Path) -> dict[tuple[str, str], Unit]:
    """catalog.rs `QUERIES`: every file of `report/` and `explain/`, by (folder, id)."""
    out = {}
    for kind in QUERY_KINDS:
        folder = root / kind
        if not folder.is_dir():
            raise BadInput(f"{folder}: no such folder")
        for path in sorted(folder.glob("*.sql")):
            unit = parse_unit(kind, path)
            out[(kind, unit.id)] = unit
    return out


def query_rows(con: duckdb.DuckDBPyConnection, unit: Unit) -> list[dict]:
    """The rows of a query, each a dict by column name, in the query's order."""
    try:
        rel = con.sql(unit.query())
        columns = list(rel.columns)
        return [dict(zip(columns, row)) for row in rel.fetchall()]
    except duckdb.Error as e:
        raise Failure(f"{unit.path} does not run in DuckDB:\n{e}") from None


def instant(text: str | None):
    """An RFC 3339 string of the reports as an aware datetime (None stays None)."""
    if text is None:
        return None
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expect_same(what: str, duck: list, datafusion: list) -> None:
    if duck == datafusion:
        return
    lines = [f"{what}: duckdb {len(duck)} rows, datafusion {len(datafusion)}"]
    for n, (d, f) in enumerate(zip(duck, datafusion)):
        if d != f and len(lines) <= SHOW_ROWS:
            lines.append(f"  row {n}: duckdb {d}\n          datafusion {f}")
    for label, rest in (("duckdb", duck[len(datafusion):]), ("datafusion", datafusion[len(duck):])):
        for row in rest[:SHOW_ROWS]:
            lines.append(f"  only {label}: {row}")
    raise Failure("the engines disagree on " + "\n".join(lines))


def plan_totals_of(store: Path, run_id: str) -> str:
    """The `plan_totals` a plan stored for a run, as a DuckDB source."""
    files = list(store.glob(f"plan_totals/dt=*/run={run_id}/*.parquet"))
    if not files:
        raise BadInput(f"run {run_id} has no plan_totals in {store}")
    return f"read_parquet({sql_string(str(files[0]))})"


def check_report(
    con: duckdb.DuckDBPyConnection,
    queries: dict[tuple[str, str], Unit],
    store: Path,
    out_dir: Path,
    summary: dict,
    run_id: str,
) -> int:
    """The queries of `report/` in DuckDB against the figures the plan printed."""
    report_path = out_dir / "report.json"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"no {report_path}") from None
    con.execute("CREATE TABLE report_params (run_id VARCHAR NOT NULL, owner_tag VARCHAR NOT NULL)")
    con.execute("INSERT INTO report_params VALUES (?, ?)", [run_id, report["owner_tag"]])
    q = lambda name: query_rows(con, queries[("report", name)])  # noqa: E731
    checked = 0

    columns = ["status", "rule", "account_id", "region", "repository_name", "owner", "images", "bytes"]
    stored = con.sql(f"SELECT {', '.join(columns)} FROM {plan_totals_of(store, run_id)}").fetchall()
    expect_same("plan_totals", [tuple(r[c] for c in columns) for r in q("plan_totals")], stored)
    checked += 1

    con.execute(f"CREATE TABLE current_plan_totals AS SELECT * FROM {plan_totals_of(store, run_id)}")
    earlier = [t["run_id"] for t in report["trend"] if t["run_id"] != run_id]
    con.execute("CREATE TABLE earlier_plan_totals AS SELECT * FROM current_plan_totals WHERE FALSE")
    for run in earlier:
        con.execute(f"INSERT INTO earlier_plan_totals SELECT * FROM {plan_totals_of(store, run)}")
    ints = ["stored_images", "stored_bytes", "unused_images", "unused_bytes",
            "candidate_images", "candidate_bytes"]
    expect_same(
        "the trend",
        [(r["run_id"], r["snapshot_time"], r["planned_at"], *[r[c] for c in ints]) for r in q("trend")],
        [(t["run_id"], instant(t["snapshot_time"]), instant(t["planned_at"]), *[t[c] for c in ints])
         for t in report["trend"]],
    )
    checked += 1

    by_repository = {g["key"]: g for g in report["by_repository"]}
    freed = q("freed_bytes")
    layers_collected = any(r["freed"] is not None for r in freed)
    duck_freed = sorted(
        (f"{r['account_id']}/{r['region']}/{r['repository_name']}", r["freed"] if layers_collected else None)
        for r in freed
    )
    expect_same(
        "the bytes freed per repository",
        duck_freed,
        sorted((k, by_repository[k].get("freed_bytes")) for k, _ in duck_freed if k in by_repository),
    )
    checked += 1

    upstreams = {r["repository"]: r["upstream"] for r in q("pull_through_upstreams")}
    expect_same(
        "the pull through upstreams",
        sorted((k, upstreams.get(k)) for k in by_repository),
        sorted((k, g.get("pull_through_upstream")) for k, g in by_repository.items()),
    )
    checked += 1

    [scanned] = q("scanned")
    expect_same(
        "what the run holds",
        [(scanned["images"], scanned["bytes"], scanned["repositories"], scanned["registries"])],
        [(summary["scanned"]["totals"]["images"], summary["scanned"]["totals"]["bytes"],
          summary["scanned"]["repositories"], summary["scanned"]["registries"])],
    )
    for name, key, fields in (
        ("blocked_sources", "blocked_sources", ["account_id", "region", "source", "status", "error"]),
        ("out_of_scope", "out_of_scope", ["who", "repositories"]),
        ("collector_pulls", "collector_pulls", ["account_id", "region", "images"]),
    ):
        expect_same(
            f"the summary's {key}",
            [tuple(r[f] for f in fields) for r in q(name)],
            [tuple(e[f] for f in fields) for e in summary.get(key, [])],
        )
    coverage_fields = ["account_id", "region", "images", "active", "inactive", "expired",
                       "no_coverage", "inspector_status", "rescan_duration",
                       "pull_date_rescan_duration", "pull_date_rescan_mode"]
    expect_same(
        "the summary's inspector_coverage",
        [(*[r[f] for f in coverage_fields],
          None if r["monitors_for_lifetime"] is None else r["monitors_for_lifetime"] != 0)
         for r in q("inspector_coverage")],
        [(*[e[f] for f in coverage_fields], e["monitors_for_lifetime"])
         for e in summary.get("inspector_coverage", [])],
    )
    expect_same(
        "the summary's vanished_accounts",
        [r["account_id"] for r in q("vanished_accounts")],
        summary.get("vanished_accounts", []),
    )
    malformed: list[dict] = []
    for r in q("malformed_references"):
        if not malformed or malformed[-1]["source"] != r["source"]:
            malformed.append({"source": r["source"], "references": 0, "examples": []})
        malformed[-1]["references"] += 1
        if len(malformed[-1]["examples"]) < 3:
            malformed[-1]["examples"].append(r["example"])
    expect_same("the summary's malformed_references", malformed, summary.get("malformed_references", []))
    return checked + 7


# Decision rows whose explanation is replayed: the first of each status and a spread of others.
EXPLAIN_SAMPLE = 24


def check_explain(
    con: duckdb.DuckDBPyConnection, queries: dict[tuple[str, str], Unit], units: list[Unit]
) -> int:
    """The queries of `explain/` in DuckDB, for a sample of decision rows: each must run,
    and what they say must match the row."""
    parts = [
        f"SELECT '{prefix}' AS unit_kind, '{u.id}' AS unit_id, account_id, region, "
        f"repository_name, image_digest, CAST(detail AS VARCHAR) AS detail FROM {prefix}_{u.id}"
        for kind, prefix in (("rules", "rule"), ("guards", "guard"))
        for u in of(units, kind)
    ]
    con.execute("CREATE VIEW findings AS\n" + "\nUNION ALL\n".join(parts))
    con.execute(
        "CREATE TABLE target (account_id VARCHAR, region VARCHAR, repository_name VARCHAR, "
        "image_digest VARCHAR, image_tag VARCHAR)"
    )
    decisions = con.sql("SELECT * FROM decisions")
    rows = [dict(zip(decisions.columns, r)) for r in decisions.fetchall()]
    chosen = {}
    for r in rows:
        chosen.setdefault(r["status"], r)
    step = max(1, len(rows) // EXPLAIN_SAMPLE)
    sample = list(chosen.values()) + rows[::step][:EXPLAIN_SAMPLE]
    q = lambda name: query_rows(con, queries[("explain", name)])  # noqa: E731
    for r in sample:
        key = (r["account_id"], r["region"], r["repository_name"], r["image_digest"])
        con.execute("DELETE FROM target")
        con.execute("INSERT INTO target VALUES (?, ?, ?, ?, NULL)", list(key))
        where = "/".join(key)
        resolved = [tuple(x.values()) for x in q("resolve")]
        if resolved != [key]:
            raise Failure(f"explain/resolve.sql names {resolved} for {where}")
        decision = [(x["status"], x["rule"], x["reason"]) for x in q("decision")]
        expect_same(f"the decision of {where}", decision, [(r["status"], r["rule"], r["reason"])])
        image = q("image")
        expect_same(f"the size of {where}", [x["image_size_bytes"] for x in image], [r["image_size_bytes"]])
        tags = [x["image_tag"] for x in q("tags")]
        expect_same(f"the tags of {where}", [",".join(tags) or None], [r["image_tags"]])
        found = {(x["unit_kind"], x["unit_id"]) for x in q("findings")}
        for kind, listed in (("rule", r["rules"]), ("guard", r["guards"])):
            for unit_id in (listed or "").split(","):
                if unit_id and (kind, unit_id) not in found:
                    raise Failure(f"explain/findings.sql misses {kind} {unit_id} of {where}")
        references = q("references")
        expect_same(f"the references of {where}", [len(references)], [r["references_found"]])
        for name in ("manifest_read", "coverage", "relations"):
            q(name)
    return len(sample)


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.out_dir)
    store = Path(args.store)
    summary_path = out_dir / "summary.json"
    decisions_path = out_dir / "decisions.parquet"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"no {summary_path}: run `ecrgc plan --out {out_dir}` first") from None
    if not decisions_path.is_file():
        raise BadInput(f"no {decisions_path}: the plan predates decisions.parquet")
    run_id = summary.get("run_id")
    params = summary.get("params")
    if not run_id or not isinstance(params, dict):
        raise BadInput(f"{summary_path} has no run_id or params")

    units = load_catalog(Path(args.sql_dir))
    # The plan must have run this very catalog: the rules it switched on (by default, by
    # configuration or by --rule) in precedence order, and every guard.
    ran = summary.get("rules")
    if not isinstance(ran, list):
        raise BadInput(f"{summary_path} has no rules list")
    rules = [u.id for u in of(units, "rules") if u.id in ran]
    guards = [u.id for u in of(units, "guards")]
    if ran != rules or summary.get("guards") != guards:
        raise BadInput(
            f"{summary_path} lists rules {ran} and guards {summary.get('guards')}; "
            f"{args.sql_dir} has rules {[u.id for u in of(units, 'rules')]} "
            f"and guards {guards}"
        )
    decisions = next((u for u in of(units, "plan") if u.id == "decisions"), None)
    if decisions is None:
        raise BadInput(f"{args.sql_dir}: no plan/decisions.sql")

    con = duckdb.connect(":memory:")
    # Timestamps are compared as instants; UTC keeps any rendering of them unambiguous.
    con.execute("SET TimeZone = 'UTC'")
    # `history_runs` (oldest first, the planned run last) names the history window; a
    # summary without it predates the history tables.
    register_run(con, store, run_id, summary.get("history_runs"))
    register_params(con, params)
    install(con, units, set(rules))

    try:
        rel = con.sql(decisions.query())
        columns = list(rel.columns)
        duck_types = [str(t) for t in rel.types]
        # Fetching the query itself, not a table built from it, keeps its ORDER BY order.
        duck_rows = rel.fetchall()
    except duckdb.Error as e:
        raise Failure(f"{decisions.path} does not run in DuckDB:\n{e}") from None

    # DuckDB's Parquet reader keeps the file's row order, i.e. DataFusion's output order.
    df_rel = con.sql(f"SELECT * FROM read_parquet({sql_string(str(decisions_path))})")
    df_columns = list(df_rel.columns)
    df_types = [str(t) for t in df_rel.types]
    df_rows = df_rel.fetchall()

    compare(columns, duck_types, duck_rows, df_columns, df_types, df_rows)

    # The reports and `ecrgc explain` read DataFusion's decision rows, as `ecrgc report` does.
    queries = load_queries(Path(args.sql_dir))
    con.execute(f"CREATE VIEW decisions AS SELECT * FROM read_parquet({sql_string(str(decisions_path))})")
    reports = check_report(con, queries, store, out_dir, summary, run_id)
    explained = check_explain(con, queries, units)
    by_status: dict[str, int] = {}
    status = columns.index("status")
    for row in duck_rows:
        by_status[row[status]] = by_status.get(row[status], 0) + 1
    counts = ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
    print(
        f"duckdb {duckdb.__version__} agrees with datafusion on run {run_id}: "
        f"{len(duck_rows)} decision rows ({counts}); {reports} report figures; "
        f"{explained} images explained"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="snapshot store (a local folder)")
    parser.add_argument(
        "--out-dir", required=True, help="output folder of `ecrgc plan` or `ecrgc demo`"
    )
    parser.add_argument(
        "--sql-dir", default=str(REPO / "sql"), help="SQL catalog (default: the repo's sql/)"
    )
    args = parser.parse_args()
    try:
        return run(args)
    except Failure as e:
        print(f"duckdb_plan: {e}", file=sys.stderr)
        return 1
    except BadInput as e:
        print(f"duckdb_plan: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
