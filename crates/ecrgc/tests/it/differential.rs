//! The SQL is portable: DuckDB runs the same files of `sql/` over the same snapshot and must
//! produce DataFusion's decision rows, row for row (`scripts/duckdb_plan.py`).
//!
//! DuckDB comes from `.venv-test`, which `scripts/test` installs and names in
//! `ECRGC_PYTHON`. Without it the tests are skipped with a notice, except under CI, where a
//! skipped differential test would pass unnoticed.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

const NOW: &str = "2026-11-21T00:00:00Z";

use ecrgc_testkit::repo_root;

/// The Python with DuckDB, or `None` (after a notice) when a developer runs plain
/// `cargo test`.
fn python() -> Option<String> {
    ecrgc_testkit::python("the DuckDB differential test")
}

fn text(o: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// One `ecrgc demo` (generate a run, plan it with DataFusion) into `dir/store`, reports in
/// `dir/<out>`.
fn demo(dir: &Path, out: &str, images: u64, seed: u64, now: &str, config: Option<&str>) {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_ecrgc"));
    demo.args(["demo", "--images", &images.to_string()])
        .args(["--seed", &seed.to_string(), "--now", now])
        .arg("--store")
        .arg(dir.join("store"))
        .arg("--out")
        .arg(dir.join(out))
        .env("NO_COLOR", "1")
        .env_remove("ECRGC_CONFIG")
        .env_remove("ECRGC_STORE");
    if let Some(toml) = config {
        let path = dir.join("ecrgc.toml");
        std::fs::write(&path, toml).expect("write config");
        demo.arg("--config").arg(path);
    }
    let o = demo.output().expect("ecrgc runs");
    assert!(o.status.success(), "ecrgc demo failed:\n{}", text(&o));
}

/// Replays the plan in `dir/<out>` with DuckDB and asserts both engines agree.
fn assert_duckdb_agrees(python: &str, dir: &Path, out: &str) {
    let root = repo_root();
    let o = Command::new(python)
        .arg(root.join("scripts/duckdb_plan.py"))
        .arg("--store")
        .arg(dir.join("store"))
        .arg("--out-dir")
        .arg(dir.join(out))
        .arg("--sql-dir")
        .arg(root.join("sql"))
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (ECRGC_PYTHON): {e}"));
    assert!(
        o.status.success(),
        "DuckDB and DataFusion disagree on the plan in {}:\n{}",
        dir.join(out).display(),
        text(&o)
    );
    print!("{}", String::from_utf8_lossy(&o.stdout));
}

/// Plans a demo organization with DataFusion, replays it in DuckDB and asserts both
/// engines agree.
fn assert_engines_agree(images: u64, seed: u64, config: Option<&str>) {
    let Some(python) = python() else { return };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), "out", images, seed, NOW, config);
    assert_duckdb_agrees(&python, dir.path(), "out");
    println!(
        "demo {images} images, seed {seed}: planned and replayed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn duckdb_agrees_with_datafusion_seed_1() {
    assert_engines_agree(20_000, 1, None);
}

#[test]
fn duckdb_agrees_with_datafusion_seed_2() {
    assert_engines_agree(12_000, 2, None);
}

#[test]
fn duckdb_agrees_with_datafusion_seed_3() {
    assert_engines_agree(5_000, 3, None);
}

/// Rules whose header says `-- default: off`: the configuration variant switches them on,
/// so every rule of `sql/rules/` runs in at least one differential test.
fn rules_off_by_default() -> Vec<String> {
    let dir = repo_root().join("sql/rules");
    let mut ids: Vec<String> = std::fs::read_dir(&dir)
        .expect("sql/rules exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .filter(|p| {
            let text = std::fs::read_to_string(p).expect("readable SQL file");
            text.lines()
                .map_while(|l| l.trim().strip_prefix("--"))
                .filter_map(|c| c.split_once(':'))
                .any(|(k, v)| k.trim() == "default" && v.trim() == "off")
        })
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// No opt-in tag (every deletable image enters the manifest, the other branch of
/// `not_opted_in`), every threshold moved off its default, another exclude tag, and the
/// rules that are off by default switched on.
#[test]
fn duckdb_agrees_with_datafusion_without_opt_in_and_other_thresholds() {
    let enable: Vec<String> = rules_off_by_default()
        .iter()
        .map(|id| format!("{id:?}"))
        .collect();
    let config = format!(
        "[rules]\n\
         unused_days = 30\n\
         rollback_window_hours = 720\n\
         min_age_days = 3\n\
         recent_pull_days = 45\n\
         enable = [{}]\n\
         \n\
         [safety]\n\
         exclude_tag = \"team=platform\"\n\
         opt_in_tag = \"\"\n",
        enable.join(", ")
    );
    assert_engines_agree(10_000, 4, Some(&config));
}

/// Two runs a week apart in one store: the second plan's history window holds both, so the
/// `history_*` tables span several runs.
#[test]
fn duckdb_agrees_with_datafusion_over_a_history_of_two_runs() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), "week1", 4_000, 5, "2026-11-14T00:00:00Z", None);
    demo(dir.path(), "week2", 5_000, 5, NOW, None);
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("week2/summary.json")).expect("summary.json"),
    )
    .expect("valid JSON");
    assert_eq!(
        summary["history_runs"].as_array().map(Vec::len),
        Some(2),
        "both runs are in the history window: {}",
        summary["history_runs"]
    );
    assert_duckdb_agrees(&python, dir.path(), "week2");
}
