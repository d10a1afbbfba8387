//! The FinOps report, `ecrgc query` over the store's history, and the store read by engines
//! that are not ecrgc: the HTML report in a real headless Chromium, DuckDB and pyarrow
//! reading the Parquet layout, and the Athena DDL checked against the files.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{ecrgc, ecrgc_with_stdin};

const NIGHTS: [&str; 3] = [
    "2026-11-19T00:00:00Z",
    "2026-11-20T00:00:00Z",
    "2026-11-21T00:00:00Z",
];

fn ok(args: &[&str]) -> String {
    let o = ecrgc(args);
    assert!(
        o.status.success(),
        "ecrgc {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

/// Three nightly demo runs (each planned, so each stores its totals) of a small org.
struct History {
    _dir: tempfile::TempDir,
    store: PathBuf,
    out: PathBuf,
    root: PathBuf,
}

fn history() -> History {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let mut out = PathBuf::new();
    for (i, night) in NIGHTS.iter().enumerate() {
        out = dir.path().join(format!("out{i}"));
        ok(&[
            "demo",
            "--images",
            "2500",
            "--seed",
            "5",
            "--now",
            night,
            "--store",
            s(&store),
            "--out",
            s(&out),
        ]);
    }
    History {
        root: dir.path().to_owned(),
        _dir: dir,
        store,
        out,
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[test]
fn the_report_command_reproduces_the_plans_report_with_the_trend_of_every_night() {
    let h = history();
    let planned = json(&std::fs::read_to_string(h.out.join("report.json")).expect("report.json"));
    let again = json(&ok(&["report", "--plan", s(&h.out), "--format", "json"]));
    assert_eq!(
        planned, again,
        "report recomputes the plan's report.json exactly"
    );
    let trend = planned["trend"].as_array().expect("trend");
    assert_eq!(trend.len(), NIGHTS.len(), "one point per planned night");
    for (p, night) in trend.iter().zip(NIGHTS) {
        assert_eq!(p["snapshot_time"], night);
        assert!(p["candidate_images"].as_u64().expect("n") > 0);
        assert!(p["stored_bytes"].as_u64() > p["unused_bytes"].as_u64());
    }
    // The manifest's bytes: the sum over its items, index manifests counted as nothing.
    let manifest = json(&std::fs::read_to_string(h.out.join("manifest.json")).expect("manifest"));
    let items = manifest["items"].as_array().expect("items");
    let naive: u64 = items
        .iter()
        .filter(|i| {
            !i["image_manifest_media_type"]
                .as_str()
                .expect("type")
                .contains("index")
                && !i["image_manifest_media_type"]
                    .as_str()
                    .expect("type")
                    .contains("manifest.list")
        })
        .map(|i| i["image_size_bytes"].as_u64().expect("size"))
        .sum();
    assert_eq!(
        planned["delete"]["images"].as_u64(),
        Some(items.len() as u64)
    );
    assert_eq!(planned["delete"]["bytes"].as_u64(), Some(naive));
    let rules: u64 = planned["by_rule"]
        .as_array()
        .expect("by_rule")
        .iter()
        .map(|g| g["bytes"].as_u64().expect("bytes"))
        .sum();
    assert_eq!(
        rules, naive,
        "the breakdown by rule adds up to the manifest"
    );
    // The demo collects layers: the bytes freed after sharing are the generator's.
    let truth = json(&std::fs::read_to_string(h.out.join("demo-truth.json")).expect("truth"));
    assert_eq!(
        planned["savings"]["freed_bytes"],
        truth["delete_bytes_freed_after_sharing"]
    );
    assert!(planned["savings"]["freed_bytes"].as_u64() < Some(naive));
    // Owners come from the repositories' `team` tag.
    assert!(
        planned["by_owner"]
            .as_array()
            .expect("by_owner")
            .iter()
            .any(|g| g["key"] == "payments"),
        "{}",
        planned["by_owner"]
    );
    // CSV and Parquet are the same table; the terminal shows the headline figures.
    let csv = ok(&["report", "--plan", s(&h.out), "--format", "csv"]);
    assert_eq!(
        csv,
        std::fs::read_to_string(h.out.join("report.csv")).expect("csv")
    );
    let total = csv_rows(&csv)
        .into_iter()
        .find(|r| r[0] == "total")
        .expect("a total row");
    assert_eq!(total[3], naive.to_string());
    let parquet = h.root.join("r.parquet");
    ok(&[
        "report",
        "--plan",
        s(&h.out),
        "--format",
        "parquet",
        "--out",
        s(&parquet),
    ]);
    assert_eq!(&std::fs::read(&parquet).expect("written")[..4], b"PAR1");
    let text = ok(&["report", "--plan", s(&h.out)]);
    assert!(
        text.contains("Manifest:") && text.contains("Archiving instead"),
        "{text}"
    );
    assert!(
        text.contains("Trend (latest plan of each night):"),
        "{text}"
    );

    let o = ecrgc(&["report", "--plan", s(&h.root)]);
    assert_eq!(o.status.code(), Some(2), "not a plan folder");
    assert!(String::from_utf8_lossy(&o.stderr).contains("summary.json"));
}

#[test]
fn query_sees_every_committed_run_and_the_latest_one() {
    let h = history();
    let store = s(&h.store);
    let runs = ok(&[
        "query",
        "SELECT COUNT(DISTINCT run_id) AS n FROM images",
        "--store",
        store,
        "--format",
        "csv",
    ]);
    assert_eq!(runs, "n\n3\n");
    let latest = ok(&[
        "query",
        "SELECT DISTINCT snapshot_time FROM latest_images",
        "--store",
        store,
        "--format",
        "csv",
    ]);
    assert_eq!(latest, "snapshot_time\n2026-11-21T00:00:00Z\n");
    let first_run = ok(&[
        "query",
        "SELECT MIN(run_id) AS r FROM runs",
        "--store",
        store,
        "--format",
        "csv",
    ]);
    let first_run = first_run.lines().nth(1).expect("a run");
    let pinned = ok(&[
        "query",
        "SELECT DISTINCT run_id FROM latest_images",
        "--store",
        store,
        "--run",
        first_run,
        "--format",
        "csv",
    ]);
    assert_eq!(pinned.lines().nth(1), Some(first_run));
    // plan_totals: one stored total per planned run, equal to the images of that run.
    let sql = "SELECT p.run_id, p.stored, i.images FROM \
                 (SELECT run_id, SUM(images) AS stored FROM plan_totals \
                  WHERE status IN ('stored', 'stored_archived') GROUP BY run_id) p \
               JOIN (SELECT run_id, COUNT(*) AS images FROM images GROUP BY run_id) i \
                 ON i.run_id = p.run_id ORDER BY 1";
    let rows = csv_rows(&ok(&["query", sql, "--store", store, "--format", "csv"]));
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| r[1] == r[2] && r[1] == "2500"),
        "{rows:?}"
    );
    // SQL from standard input and from a file; JSON lines and Parquet out.
    let o = ecrgc_with_stdin(
        &["query", "-", "--store", store, "--format", "json"],
        "SELECT COUNT(*) AS n FROM latest_images",
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "{\"n\":2500}\n");
    let file = h.root.join("q.sql");
    std::fs::write(&file, "SELECT status, SUM(images) AS images FROM latest_plan_totals GROUP BY status ORDER BY status").expect("writes");
    let out = h.root.join("q.parquet");
    ok(&[
        "query",
        "--file",
        s(&file),
        "--store",
        store,
        "--format",
        "parquet",
        "--out",
        s(&out),
    ]);
    assert_eq!(&std::fs::read(&out).expect("written")[..4], b"PAR1");
    // The journal is a table even before any apply.
    assert_eq!(
        ok(&[
            "query",
            "SELECT COUNT(*) AS n FROM journal",
            "--store",
            store,
            "--format",
            "csv"
        ]),
        "n\n0\n"
    );
    // Bad SQL, an empty query and a format query cannot write are usage errors; nothing written.
    for (args, stdin) in [
        (vec!["query", "SELECT nope FROM images"], ""),
        (vec!["query", "-"], "  "),
        (vec!["query", "SELECT 1", "--format", "html"], ""),
    ] {
        let mut args = args.clone();
        args.extend(["--store", store]);
        let o = ecrgc_with_stdin(&args, stdin);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let none = h.root.join("none.csv");
    let o = ecrgc(&["query", "SELECT nope", "--store", store, "--out", s(&none)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!none.exists());
}

/// The page a FinOps user opens: rendered by Chromium, charts drawn, numbers equal to the
/// JSON report's (testing/report/check_html.py).
#[test]
fn the_html_report_renders_in_chromium_with_the_json_reports_numbers() {
    let Some(python) = ecrgc_testkit::python("the HTML report check") else {
        return;
    };
    let h = history();
    check(
        &python,
        "testing/report/check_html.py",
        &[s(&h.out.join("report.html")), s(&h.out.join("report.json"))],
    );
}

/// Runs one of the Python checkers and expects its closing line.
fn check(python: &str, script: &str, args: &[&str]) {
    let o = Command::new(python)
        .arg(ecrgc_testkit::repo_root().join(script))
        .args(args)
        .output()
        .expect("python runs");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && text.contains("all checks passed"),
        "{script}:\n{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Another engine reads the snapshot without ecrgc: DuckDB and pyarrow agree with `ecrgc
/// query` on every table's rows per run and on byte totals, and `athena-ddl` declares
/// exactly the Parquet files' columns (testing/readers/check_store.py).
#[test]
fn duckdb_and_pyarrow_read_the_store_as_ecrgc_does_and_the_athena_ddl_matches_it() {
    let Some(python) = ecrgc_testkit::python("the independent readers check") else {
        return;
    };
    let h = history();
    let store = s(&h.store);
    let mut tables = serde_json::Map::new();
    let names = ok(&[
        "query",
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_name NOT LIKE 'latest_%' AND table_name NOT LIKE 'journal%' ORDER BY 1",
        "--store",
        store,
        "--format",
        "csv",
    ]);
    let names: Vec<&str> = names.lines().skip(1).collect();
    assert!(
        names.contains(&"images") && names.contains(&"plan_totals"),
        "{names:?}"
    );
    for table in &names {
        let rows = csv_rows(&ok(&[
            "query",
            &format!("SELECT run_id, COUNT(*) FROM {table} GROUP BY run_id"),
            "--store",
            store,
            "--format",
            "csv",
        ]));
        let per_run: serde_json::Map<String, Value> = rows
            .into_iter()
            .map(|r| {
                (
                    r[0].clone(),
                    Value::from(r[1].parse::<u64>().expect("count")),
                )
            })
            .collect();
        tables.insert((*table).to_owned(), Value::Object(per_run));
    }
    let total = |sql: &str| -> u64 {
        ok(&["query", sql, "--store", store, "--format", "csv"])
            .lines()
            .nth(1)
            .expect("a row")
            .parse()
            .expect("a number")
    };
    let expected = serde_json::json!({
        "tables": tables,
        "totals": {
            "image_bytes": ["images", "image_size_bytes", total("SELECT SUM(image_size_bytes) FROM images")],
            "plan_bytes": ["plan_totals", "bytes", total("SELECT SUM(bytes) FROM plan_totals")],
        },
    });
    let expected_path = h.root.join("expected.json");
    std::fs::write(&expected_path, expected.to_string()).expect("writes");
    let ddl_path = h.root.join("athena.sql");
    std::fs::write(
        &ddl_path,
        ok(&["athena-ddl", "--location", "s3://bucket/ecrgc"]),
    )
    .expect("writes");
    check(
        &python,
        "testing/readers/check_store.py",
        &[
            "--store",
            store,
            "--expected",
            s(&expected_path),
            "--ddl",
            s(&ddl_path),
        ],
    );
}

#[test]
fn athena_ddl_projects_the_date_partition_and_refuses_what_athena_cannot_read() {
    let ddl = ok(&[
        "athena-ddl",
        "--location",
        "s3://bucket/prefix/",
        "--database",
        "ecrgc",
    ]);
    insta::assert_snapshot!(ddl);
    for args in [
        vec!["athena-ddl", "--location", "/local/folder"],
        vec![
            "athena-ddl",
            "--location",
            "s3://b",
            "--database",
            "Bad-Name",
        ],
        vec!["athena-ddl", "--location", "s3://b", "--since", "yesterday"],
    ] {
        let o = ecrgc(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty(), "nothing printed on error");
    }
}
