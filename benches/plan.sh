#!/usr/bin/env bash
# Benchmarks `ecrgc plan` against DuckDB on a generated store (benches/README.md).
#
#   benches/plan.sh IMAGES [RUNS] [WORK_DIR]
#
# Generates a demo store of IMAGES images (seed 5) with RUNS nightly runs (default 1; the
# run of night k is generated with --now 2026-11-21 minus RUNS-1-k days, so the last run is
# 2026-11-21T00:00:00Z), then measures with /usr/bin/time -v, each REPEAT times (default 3):
#   * ecrgc plan over the latest run (history_days = RUNS, so every run is in the window);
#   * the engine alone (profile_plan example: rules, guards, decision rows, no writers);
#   * DuckDB 1.4 running the same SQL files (benches/duckdb_plan_time.py);
#   * the FinOps report of that plan as HTML (ecrgc report --format html);
#   * a typical FinOps rollup over every run of the store (ecrgc query: images and bytes by
#     run and owner tag, joining images with repository_tags).
# Wall time and peak RSS of each repetition go to stdout and WORK_DIR/results.txt.
#
# Environment: ECRGC (binary, default $CARGO_TARGET_DIR/release/ecrgc), PROFILE (the
# profile_plan example binary), PYTHON (a Python with duckdb, default .venv-test), REPEAT,
# MEMORY_LIMIT (e.g. 3GiB: `[engine] memory_limit` of ecrgc and the engine alone, and
# DuckDB's memory_limit; unset, each its default), SKIP (labels not to run, e.g. "report
# rollup").
set -euo pipefail

images=${1:?usage: benches/plan.sh IMAGES [RUNS] [WORK_DIR]}
runs=${2:-1}
work=${3:-/tmp/ecrgc-bench-$images-$runs}
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
ecrgc=${ECRGC:-$target/release/ecrgc}
profile=${PROFILE:-$target/release/examples/profile_plan}
python=${PYTHON:-$repo/.venv-test/bin/python}
repeat=${REPEAT:-3}
now=2026-11-21T00:00:00Z

mkdir -p "$work"
config=$work/ecrgc.toml
printf '[rules]\nhistory_days = %s\n' "$runs" > "$config"
limit_args=()
duck_args=()
if [ -n "${MEMORY_LIMIT:-}" ]; then
    printf '[engine]\nmemory_limit = "%s"\nspill_dir = "%s"\n' "$MEMORY_LIMIT" "$work/spill" >> "$config"
    limit_args=(--memory-limit "$MEMORY_LIMIT")
    duck_args=(--memory-limit "$MEMORY_LIMIT")
fi
results=$work/results.txt

# One line: label, wall seconds, peak RSS in MiB.
measure() {
    local label=$1
    shift
    case " ${SKIP:-} " in *" $label "*) return 0 ;; esac
    local log=$work/time.log
    /usr/bin/time -v "$@" > "$work/$label.out" 2> "$log"
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" |
        awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$log")
    printf '%-10s %8.2f s %8s MiB\n' "$label" "$wall" "$rss" | tee -a "$results"
}

if [ ! -d "$work/store/_runs" ]; then
    for ((k = runs - 1; k >= 0; k--)); do
        day=$(date -u -d "2026-11-21 - $k days" +%Y-%m-%dT%H:%M:%SZ)
        measure "demo-$k" "$ecrgc" demo --images "$images" --seed 5 --now "$day" \
            --store "$work/store" --out "$work/demo-out" --config "$config"
    done
fi

for ((i = 1; i <= repeat; i++)); do
    measure plan "$ecrgc" plan --store "$work/store" --now "$now" --out "$work/out" \
        --config "$config"
    measure engine "$profile" "$work/store" "$now" --history-days "$runs" "${limit_args[@]}"
    measure duckdb "$python" "$repo/benches/duckdb_plan_time.py" --store "$work/store" \
        --out-dir "$work/out" "${duck_args[@]}"
    measure report "$ecrgc" report --plan "$work/out" --config "$config" --format html \
        --out "$work/report.html"
    measure rollup "$ecrgc" query --store "$work/store" --config "$config" --format csv \
        --file "$repo/benches/rollup.sql"
done
