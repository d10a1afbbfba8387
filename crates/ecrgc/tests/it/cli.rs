//! The `ecrgc` binary end to end: the demo's output and its agreement with the generator's
//! truth, determinism, the manifest, exit statuses, and crash safety.

use std::path::Path;
use std::process::Command;

use ecrgc_manifest::Manifest;
use serde_json::Value;

use crate::common::{DEMO_NOW as NOW, demo, ecrgc, read_json, regex_escape, s, stderr, stdout};

#[test]
fn demo_prints_the_plan_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = demo(dir.path(), 3000, 7);
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(dir.path().to_str().expect("utf-8")), "[TMP]");
    settings.add_filter(r"\d{8}T\d{6}Z-[0-9a-f]{6}", "[RUN_ID]");
    settings.bind(|| insta::assert_snapshot!(stdout(&o)));
}

/// The generator knows what every image deserves; the plan must agree, class by class.
#[test]
fn demo_summary_matches_the_generated_truth() {
    assert_plan_matches_truth(40_000, 11);
}

/// The same at the scale the README promises: a million images, generated streaming.
#[test]
fn a_million_image_demo_matches_the_generated_truth() {
    assert_plan_matches_truth(1_000_000, 5);
}

fn assert_plan_matches_truth(images: u64, seed: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), images, seed);
    let summary = read_json(&dir.path().join("out/summary.json"));
    let truth = read_json(&dir.path().join("out/demo-truth.json"));
    assert_eq!(summary["scanned"]["totals"], truth["all"]);
    assert_eq!(summary["scanned"]["repositories"], truth["repositories"]);
    for key in [
        "by_status",
        "delete_by_rule",
        "delete_by_account",
        "protected_by_reason",
    ] {
        assert_eq!(summary[key], truth[key], "{key} differs from the truth");
    }
    // The demo exercises every path: each status and rule shows up.
    for status in ["delete", "not_opted_in", "protected", "kept_with_parent"] {
        assert!(
            summary["by_status"][status]["images"].as_u64() > Some(0),
            "{status}"
        );
    }
    for rule in [
        "never_used",
        "stale",
        "untagged_fallback",
        "inactive_task_definition",
        "with_parent",
    ] {
        assert!(
            summary["delete_by_rule"][rule]["images"].as_u64() > Some(0),
            "{rule}"
        );
    }
    for guard in [
        "exclude_tag",
        "live_reference",
        "recent_pull",
        "usage_coverage_gap",
    ] {
        assert!(
            summary["protected_by_reason"][guard]["images"].as_u64() > Some(0),
            "{guard}"
        );
    }
    assert_eq!(summary["blocked_sources"][0]["account_id"], "444444444444");
}

#[test]
fn plan_is_deterministic_and_its_manifest_is_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 5000, 3);
    let store = dir.path().join("store");
    let again = dir.path().join("again");
    let o = ecrgc(&[
        "plan",
        "--store",
        store.to_str().expect("utf-8"),
        "--out",
        again.to_str().expect("utf-8"),
        "--now",
        NOW,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = std::fs::read(dir.path().join("out/manifest.json")).expect("manifest");
    let second = std::fs::read(again.join("manifest.json")).expect("manifest");
    // The same run and --now give the same manifest, but for the real clock of planning
    // (and the what-if reason that quotes it).
    let without_clock = |bytes: &[u8]| {
        let mut m: Value = serde_json::from_slice(bytes).expect("json");
        let header = m["header"].as_object_mut().expect("header");
        let planned_at = header.remove("planned_at").expect("planned_at");
        assert!(
            planned_at.as_str().is_some_and(|t| t > "2026-11-30"),
            "{planned_at}"
        );
        header.remove("what_if");
        m
    };
    assert_eq!(
        without_clock(&first),
        without_clock(&second),
        "the same run and --now give the same manifest"
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/decisions.csv")).expect("csv"),
        std::fs::read(again.join("decisions.csv")).expect("csv")
    );

    let text = String::from_utf8(first).expect("utf-8");
    let manifest = Manifest::from_json("manifest.json", &text).expect("valid manifest");
    let summary = read_json(&again.join("summary.json"));
    assert_eq!(
        manifest.header.totals.images,
        summary["by_status"]["delete"]["images"]
            .as_u64()
            .expect("count")
    );
    assert_eq!(manifest.header.plan.expires_at, "2026-11-24T00:00:00Z");
    // A demo planned at a --now days away from the real clock is a what-if twice over.
    let what_if = manifest.header.plan.what_if.join("; ");
    assert!(what_if.contains("demo organization"), "{what_if}");
    assert!(what_if.contains("behind the real clock"), "{what_if}");
    assert_eq!(manifest.header.plan.planned_by, None);
    // Parents come before their children, and every parent of an item is in the manifest.
    let mut seen = std::collections::HashSet::new();
    for item in &manifest.items {
        for parent in &item.parent_digests {
            assert!(
                seen.contains(&(item.repository_name.clone(), parent.clone())),
                "{} listed before its parent {parent}",
                item.image_digest
            );
        }
        seen.insert((item.repository_name.clone(), item.image_digest.clone()));
    }
}

/// The demo's layers add up to each image's size, and the bytes its manifest frees once
/// shared layers are counted (per repository, blobs no kept image lists) are the truth's
/// figure and well below the naive sum.
#[test]
fn demo_layers_add_up_and_sharing_frees_less_than_the_naive_sum() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 3000, 7);
    let store = dir.path().join("store");
    let query = |sql: &str| -> Vec<String> {
        let o = ecrgc(&[
            "query",
            sql,
            "--store",
            store.to_str().expect("utf-8"),
            "--format",
            "csv",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).lines().skip(1).map(str::to_owned).collect()
    };
    let off = query(
        "SELECT COUNT(*) FROM images i \
         LEFT JOIN (SELECT account_id, region, repository_name, image_digest, \
                           SUM(layer_size_bytes) AS bytes \
                    FROM image_layers WHERE layer_kind = 'layer' \
                    GROUP BY account_id, region, repository_name, image_digest) l \
           ON l.account_id = i.account_id AND l.region = i.region \
          AND l.repository_name = i.repository_name AND l.image_digest = i.image_digest \
         WHERE i.image_manifest_media_type <> 'application/vnd.oci.image.index.v1+json' \
           AND (l.bytes IS NULL OR l.bytes <> i.image_size_bytes)",
    );
    assert_eq!(
        off,
        vec!["0"],
        "every single-platform image's layers sum to its size"
    );

    let manifest = read_json(&dir.path().join("out/manifest.json"));
    let deleted: std::collections::HashSet<String> = manifest["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            format!(
                "{},{},{},{}",
                i["account_id"].as_str().expect("a"),
                i["region"].as_str().expect("r"),
                i["repository_name"].as_str().expect("n"),
                i["image_digest"].as_str().expect("d")
            )
        })
        .collect();
    let mut blobs: std::collections::HashMap<String, (u64, bool, bool)> = Default::default();
    for row in query(
        "SELECT account_id, region, repository_name, image_digest, layer_digest, \
         layer_size_bytes FROM image_layers",
    ) {
        let f: Vec<&str> = row.split(',').collect();
        let image = f[..4].join(",");
        let blob = format!("{},{},{},{}", f[0], f[1], f[2], f[4]);
        let e = blobs
            .entry(blob)
            .or_insert((f[5].parse().expect("size"), false, false));
        if deleted.contains(&image) {
            e.1 = true;
        } else {
            e.2 = true;
        }
    }
    let freed: u64 = blobs
        .values()
        .filter(|(_, d, k)| *d && !*k)
        .map(|(s, _, _)| *s)
        .sum();
    let truth = read_json(&dir.path().join("out/demo-truth.json"));
    assert_eq!(
        Some(freed),
        truth["delete_bytes_freed_after_sharing"].as_u64()
    );
    let naive = manifest["header"]["totals"]["bytes"]
        .as_u64()
        .expect("bytes");
    assert!(
        freed * 10 < naive * 8 && freed * 10 > naive * 2,
        "freed {freed} of naive {naive}"
    );
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let store = dir.path().join("store");
    let o = ecrgc(&[
        "demo",
        "--now",
        "yesterday",
        "--store",
        store.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--now") && stderr(&o).contains("yesterday"),
        "{}",
        stderr(&o)
    );
    assert!(
        !out.exists() && !store.exists(),
        "nothing is written on bad input"
    );

    let config = dir.path().join("ecrgc.toml");
    std::fs::write(&config, "[rules]\nunused_days = \"ninety\"\n").expect("write");
    let o = ecrgc(&[
        "plan",
        "--config",
        config.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("ecrgc.toml") && err.contains("unused_days") && err.contains("ninety"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written on bad input");

    let o = ecrgc(&[
        "plan",
        "--rule",
        "no_such_rule",
        "--store",
        store.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no_such_rule"), "{}", stderr(&o));
}

#[test]
fn plan_without_a_committed_run_fails_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("empty");
    let o = ecrgc(&["plan", "--store", store.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no committed run"), "{}", stderr(&o));
}

/// A demo killed while it writes leaves Parquet files but no commit marker: no reader
/// sees the run.
#[test]
fn a_killed_run_is_invisible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecrgc"))
        .args([
            "demo",
            "--images",
            "5000000",
            "--now",
            NOW,
            "--store",
            store.to_str().expect("utf-8"),
            "--out",
            dir.path().join("out").to_str().expect("utf-8"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Whichever table fills a file first (image_layers, the largest, does so long before
    // images) shows the run half written.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let has_parquet = || {
        walk(&store)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "parquet"))
    };
    while !has_parquet() {
        assert!(
            std::time::Instant::now() < deadline,
            "the demo never wrote a file"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the demo ended too early"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    assert!(!store.join("_runs").exists() || walk(&store.join("_runs")).is_empty());
    let o = ecrgc(&[
        "query",
        "SELECT COUNT(*) FROM images",
        "--store",
        store.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no committed run"), "{}", stderr(&o));
}

/// A damaged commit marker in a local store is named on stderr and skipped: `plan` and
/// `query` still work on the other runs; a marker whose run id would climb out of the store
/// is never used as a path.
#[test]
fn a_damaged_marker_is_named_and_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 2000, 1);
    let store = dir.path().join("store");
    let runs = store.join("_runs");
    std::fs::write(
        runs.join("20261120T000000Z-aaaaaa.json"),
        b"{\"format\": 1, trunc",
    )
    .expect("write");
    let good = walk(&runs)
        .into_iter()
        .find(|p| !p.ends_with("20261120T000000Z-aaaaaa.json"))
        .expect("the demo's marker");
    let mut evil: Value =
        serde_json::from_slice(&std::fs::read(&good).expect("read")).expect("json");
    evil["run_id"] = "../x".into();
    std::fs::write(
        runs.join("x.json"),
        serde_json::to_vec(&evil).expect("json"),
    )
    .expect("write");
    let s = store.to_str().expect("utf-8");
    let out = dir.path().join("out2");
    let o = ecrgc(&[
        "plan",
        "--store",
        s,
        "--now",
        NOW,
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("20261120T000000Z-aaaaaa.json") && stderr(&o).contains("x.json"),
        "both are named: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("\"../x\""), "{}", stderr(&o));
    let o = ecrgc(&["query", "SELECT COUNT(*) AS n FROM runs", "--store", s]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!dir.path().join("x").exists());
}

/// `collect --now` far in the future of the real clock is refused before anything is written.
#[test]
fn collect_refuses_a_snapshot_time_in_the_future() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("ecrgc.toml");
    std::fs::write(
        &config,
        "[org]\naccounts = [\"111111111111\"]\nregions = [\"eu-west-1\"]\n",
    )
    .expect("write");
    let store = dir.path().join("store");
    let ahead = (chrono::Utc::now() + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let o = ecrgc(&[
        "collect",
        "--config",
        config.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
        "--now",
        &ahead,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--now") && stderr(&o).contains("in the future"),
        "{}",
        stderr(&o)
    );
    assert!(!store.exists(), "nothing is written");
}

/// A run whose snapshot lies in the future of the real clock never becomes the latest: `plan`
/// ignores it with a warning and plans the newest run that is not.
#[test]
fn plan_ignores_a_run_from_the_future() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 2000, 1);
    let store = dir.path().join("store");
    let s = store.to_str().expect("utf-8");
    let future = (chrono::Utc::now() + chrono::Duration::days(400))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let o = ecrgc(&[
        "demo",
        "--images",
        "2000",
        "--now",
        &future,
        "--store",
        s,
        "--out",
        dir.path().join("future-out").to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out2");
    let o = ecrgc(&[
        "plan",
        "--store",
        s,
        "--now",
        NOW,
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: ignoring run") && stderr(&o).contains("in the future"),
        "{}",
        stderr(&o)
    );
    let planned = read_json(&out.join("summary.json"))["run_id"].clone();
    let first = read_json(&dir.path().join("out/summary.json"))["run_id"].clone();
    assert_eq!(planned, first, "the run of the past is planned");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn first_decision(csv_path: &Path, status: &str, reason: &str) -> String {
    let text = std::fs::read_to_string(csv_path).expect("decisions.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let (digest, st, why) = (col("image_digest"), col("status"), col("reason"));
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f[st] == status && f[why] == reason)
        .map(|f| f[digest].to_owned())
        .expect("the demo has such an image")
}

#[test]
fn explain_shows_why_an_image_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 3000, 7);
    let store = dir.path().join("store");
    let digest = first_decision(
        &dir.path().join("out/decisions.csv"),
        "protected",
        "live_reference",
    );
    let o = ecrgc(&[
        "explain",
        &digest,
        "--store",
        store.to_str().expect("utf-8"),
        "--now",
        NOW,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("decision: KEEP — protected by live_reference"),
        "{text}"
    );
    assert!(
        text.contains("LIVE"),
        "the live reference is listed: {text}"
    );
    assert!(text.contains("[x] live_reference"), "{text}");

    let digest = first_decision(
        &dir.path().join("out/decisions.csv"),
        "kept_with_parent",
        "parent_kept",
    );
    let o = ecrgc(&[
        "explain",
        &digest,
        "--store",
        store.to_str().expect("utf-8"),
        "--now",
        NOW,
    ]);
    let text = stdout(&o);
    assert!(
        text.contains("a parent (index or subject) is kept") && text.contains("child of sha256:"),
        "{text}"
    );

    let o = ecrgc(&[
        "explain",
        "sha256:nothing",
        "--store",
        store.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn the_config_switches_rules_on_and_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 3000, 7);
    let store = dir.path().join("store");
    let config = dir.path().join("ecrgc.toml");
    let out = dir.path().join("switched");
    std::fs::write(
        &config,
        "[rules]\ndisable = [\"never_used\"]\nenable = [\"not_pulled\"]\n",
    )
    .expect("write");
    let o = ecrgc(&[
        "plan",
        "--config",
        config.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--now",
        NOW,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = read_json(&out.join("summary.json"));
    let rules: Vec<&str> = summary["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        rules.contains(&"not_pulled") && !rules.contains(&"never_used"),
        "{rules:?}"
    );
    assert!(summary["delete_by_rule"].get("never_used").is_none());
    assert!(summary["delete_by_rule"]["not_pulled"]["images"].as_u64() > Some(0));

    std::fs::write(&config, "[rules]\nenable = [\"no_such_rule\"]\n").expect("write");
    let o = ecrgc(&[
        "plan",
        "--config",
        config.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("ecrgc.toml") && err.contains("rules.enable") && err.contains("no_such_rule"),
        "{err}"
    );
}

/// `query` reads: whatever would create, change or write (a file through COPY, with the
/// store's credentials; a table; a session setting) is refused before it runs.
#[test]
fn query_refuses_what_writes_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 300, 3);
    let store = dir.path().join("store");
    let before = walk(&store);
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).expect("mkdir");
    let query = |sql: &str| {
        Command::new(env!("CARGO_BIN_EXE_ecrgc"))
            .current_dir(&cwd)
            .args(["query", "--store", store.to_str().expect("utf-8"), sql])
            .env_remove("ECRGC_CONFIG")
            .env_remove("ECRGC_STORE")
            .output()
            .expect("ecrgc runs")
    };
    let o = query("COPY (SELECT 1 AS x) TO 'x.csv' STORED AS CSV");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("only reads") && stderr(&o).contains("COPY"),
        "{}",
        stderr(&o)
    );
    assert!(!cwd.join("x.csv").exists(), "COPY wrote a file");
    for sql in [
        "COPY images TO 'y.parquet'",
        "EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO 'z.csv' STORED AS CSV",
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'ext.csv'",
        "CREATE TABLE t AS SELECT 1 AS x",
        "CREATE VIEW v AS SELECT 1 AS x",
        "INSERT INTO images SELECT * FROM images",
        "DROP TABLE images",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let o = query(sql);
        assert_eq!(o.status.code(), Some(2), "{sql}: {}", stderr(&o));
        assert!(stderr(&o).contains("only reads"), "{sql}: {}", stderr(&o));
    }
    assert!(walk(&cwd).is_empty(), "{:?}", walk(&cwd));
    assert_eq!(walk(&store), before, "the store is unchanged");
    let o = query("SELECT COUNT(*) AS n FROM latest_images");
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A reader that stops early (`ecrgc query … | head -1`) ends the command quietly with 0.
#[test]
fn a_closed_pipe_on_stdout_exits_0_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 3000, 7);
    let store = dir.path().join("store");
    let plan = dir.path().join("out");
    let spawn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ecrgc"))
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("ECRGC_CONFIG")
            .env_remove("ECRGC_STORE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ecrgc starts")
    };
    let store_arg = store.to_str().expect("utf-8");
    // Far more than a pipe holds, so the writes meet the closed pipe.
    let mut child = spawn(&["query", "--store", store_arg, "SELECT * FROM images"]);
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("one line");
    assert!(!line.is_empty());
    drop(reader);
    let o = child.wait_with_output().expect("exits");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "a closed pipe is not an error");

    for args in [
        vec![
            "query",
            "--store",
            store_arg,
            "--format",
            "csv",
            "SELECT * FROM images",
        ],
        vec![
            "plan",
            "--store",
            store_arg,
            "--out",
            plan.to_str().expect("utf-8"),
            "--now",
            NOW,
        ],
        vec!["report", "--plan", plan.to_str().expect("utf-8")],
    ] {
        let mut child = spawn(&args);
        drop(child.stdout.take());
        let o = child.wait_with_output().expect("exits");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("error") && !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
    assert!(plan.join("summary.json").is_file(), "the plan was written");
}

/// CSV cells a spreadsheet would run as formulas get a leading `'`; numbers stay numbers.
#[test]
fn csv_output_neutralises_formulas_but_not_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 300, 3);
    let store = dir.path().join("store");
    let o = ecrgc(&[
        "query",
        "--store",
        store.to_str().expect("utf-8"),
        "--format",
        "csv",
        "SELECT '=HYPERLINK(1)' AS a, '+1' AS b, '-2' AS c, '@x' AS d, 'ok' AS e, -5 AS n, \
         CAST(-1.5 AS DOUBLE) AS f",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "a,b,c,d,e,n,f\n'=HYPERLINK(1),'+1,'-2,'@x,ok,-5,-1.5\n"
    );
}

/// Values meant as "never" (`unused_days = 999999999`) or "forever" once overflowed the
/// cut-off into the far future; every number now has a range, and a value outside it is
/// refused before anything is read or written.
#[test]
fn out_of_range_settings_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 300, 3);
    let store = dir.path().join("store");
    let before = walk(&store);
    let config = dir.path().join("ecrgc.toml");
    for (text, key, value, range) in [
        (
            "[rules]\nunused_days = 999999999\n",
            "rules.unused_days",
            "999999999",
            "1 to 3650",
        ),
        (
            "[safety]\nmanifest_ttl_hours = 100000000\n",
            "safety.manifest_ttl_hours",
            "100000000",
            "1 to 720",
        ),
    ] {
        std::fs::write(&config, text).expect("write");
        let out = dir.path().join("out-bad");
        let fresh = dir.path().join("fresh-store");
        for args in [
            vec!["plan", "--store", store.to_str().expect("utf-8")],
            vec![
                "demo",
                "--images",
                "100",
                "--store",
                fresh.to_str().expect("utf-8"),
            ],
        ] {
            let mut args = args;
            args.extend([
                "--config",
                config.to_str().expect("utf-8"),
                "--out",
                out.to_str().expect("utf-8"),
                "--now",
                NOW,
            ]);
            let o = ecrgc(&args);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
            let err = stderr(&o);
            assert!(
                err.contains("ecrgc.toml")
                    && err.contains(key)
                    && err.contains(value)
                    && err.contains(range),
                "{err}"
            );
            assert!(!out.exists() && !fresh.exists(), "{args:?} wrote something");
        }
        let o = ecrgc(&[
            "collect",
            "--config",
            config.to_str().expect("utf-8"),
            "--store",
            fresh.to_str().expect("utf-8"),
        ]);
        assert_eq!(o.status.code(), Some(2), "collect: {}", stderr(&o));
        assert!(!fresh.exists(), "collect wrote a store");
    }
    assert_eq!(walk(&store), before, "the store is unchanged");
}

/// A tag selector naming a key alone selects the key with any value: every demo repository
/// carries `team`, so `exclude_tag = "team"` leaves every one out.
#[test]
fn a_tag_key_alone_selects_any_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 3000, 7);
    let store = dir.path().join("store");
    let config = dir.path().join("ecrgc.toml");
    let out = dir.path().join("keyed");
    std::fs::write(
        &config,
        "[safety]\nexclude_tag = \"team\"\nopt_in_tag = \"\"\n",
    )
    .expect("write");
    let o = ecrgc(&[
        "plan",
        "--config",
        config.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--now",
        NOW,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["params"]["exclude_tag_key"], "team");
    assert_eq!(summary["params"]["exclude_tag_value"], Value::Null);
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("valid manifest");
    assert!(manifest.items.is_empty(), "{} items", manifest.items.len());
    let decisions = std::fs::read_to_string(out.join("decisions.csv")).expect("decisions");
    assert!(decisions.contains("exclude_tag"), "no exclusion recorded");

    // As the opt-in tag, `team` alone lets every repository in: none is `not_opted_in`.
    let plan = |config_text: &str, out: &Path| -> Value {
        std::fs::write(&config, config_text).expect("write");
        let o = ecrgc(&[
            "plan",
            "--config",
            config.to_str().expect("utf-8"),
            "--store",
            store.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--now",
            NOW,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        read_json(&out.join("summary.json"))
    };
    let default = plan("", &dir.path().join("default"));
    let keyed = plan(
        "[safety]\nopt_in_tag = \"team\"\n",
        &dir.path().join("opt-in-key"),
    );
    let images = |s: &Value, status: &str| s["by_status"][status]["images"].as_u64();
    assert!(images(&default, "not_opted_in") > Some(0));
    assert_eq!(
        images(&keyed, "not_opted_in"),
        None,
        "{}",
        keyed["by_status"]
    );
    assert!(images(&keyed, "delete") > images(&default, "delete"));
}

/// Rules, guards and views are planned under the same read-only options as `query`: a rule
/// of a `--sql-dir` that would write (COPY) or change the session (SET) is invalid SQL,
/// refused before it runs.
#[test]
fn a_sql_unit_that_writes_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 300, 3);
    let store = dir.path().join("store");
    let sql = dir.path().join("sql");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql");
    for file in walk(&source) {
        let to = sql.join(file.strip_prefix(&source).expect("under sql/"));
        std::fs::create_dir_all(to.parent().expect("folder")).expect("mkdir");
        std::fs::copy(&file, &to).expect("copy");
    }
    let leak = dir.path().join("leak.csv");
    for (body, what) in [
        (
            format!(
                "COPY (SELECT 1 AS x) TO '{}' STORED AS CSV",
                leak.to_str().expect("utf-8")
            ),
            "COPY",
        ),
        (
            "SET datafusion.execution.batch_size = 1".to_owned(),
            "SetVariable",
        ),
    ] {
        std::fs::write(
            sql.join("rules/zz_writes.sql"),
            format!("-- id: zz_writes\n-- order: 99\n-- summary: writes\n{body}\n"),
        )
        .expect("write rule");
        let out = dir.path().join("out-writes");
        let o = ecrgc(&[
            "plan",
            "--sql-dir",
            sql.to_str().expect("utf-8"),
            "--store",
            store.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--now",
            NOW,
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains("zz_writes.sql") && err.contains("only reads") && err.contains(what),
            "{err}"
        );
        assert!(!leak.exists() && !out.exists(), "{what} wrote something");
    }
}

/// `ecrgc rules ID` prints one rule's or guard's documentation, the header of its file
/// without the catalog's keys; an unknown id exits 2 naming the known ones. The catalog is
/// a folder of the test's own, so the snapshot does not follow the shipped rules' wording.
#[test]
fn rules_id_prints_one_rules_documentation_and_refuses_an_unknown_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = dir.path().join("sql");
    for (folder, name, text) in [
        (
            "rules",
            "forgotten",
            "-- id: forgotten\n-- order: 10\n-- summary: never pulled nor referenced\n--\n\
             -- Flags an image nothing has used since it was pushed.\n--\n\
             -- ## Options\n--\n-- - `unused_days` (`rules.unused_days`, 90)\n\
             SELECT account_id, region, repository_name, image_digest FROM images\n",
        ),
        (
            "guards",
            "pinned",
            "-- id: pinned\n-- order: 5\n-- summary: a service pins the digest\n\
             -- default: on\n--\n-- Keeps what a service revision pins.\n\
             SELECT account_id, region, repository_name, image_digest FROM images\n",
        ),
        (
            "plan",
            "decisions",
            "-- id: decisions\n-- summary: the decision step\nSELECT 1\n",
        ),
    ] {
        std::fs::create_dir_all(sql.join(folder)).expect("folder");
        std::fs::write(sql.join(folder).join(format!("{name}.sql")), text).expect("write");
    }
    let sql_dir = s(&sql);
    let mut shown = String::new();
    for id in ["forgotten", "pinned", "no_such_rule"] {
        let o = ecrgc(&["rules", id, "--sql-dir", &sql_dir]);
        shown.push_str(&format!(
            "$ ecrgc rules {id}\nstatus: {}\n{}{}\n",
            o.status.code().unwrap_or(-1),
            stdout(&o),
            stderr(&o)
        ));
    }
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&sql_dir), "[SQL]");
    settings.bind(|| insta::assert_snapshot!(shown));
}
