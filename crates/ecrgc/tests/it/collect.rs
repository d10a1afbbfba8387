//! `ecrgc collect` → `ecrgc plan` against a moto server seeded with a multi-account,
//! multi-region organization (`testing/moto/scenario.py`), whose truth file says what must
//! happen to every image. Faults injected by the server's extension check that a failing
//! source blocks exactly what it should, that throttling storms are ridden out, and that
//! sharded collection writes the same run.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::moto::{CONFIG, Env, Key, at, manifest_keys, mismatches, now};
use crate::common::s;

#[test]
fn collect_then_plan_flags_exactly_the_scenario_truth() {
    let Some(env) = Env::start(None) else { return };
    let config = env.config("ecrgc.toml", CONFIG);
    let collected = env.collect_and_plan(&config, "store", "out");
    assert!(collected.contains("committed run"), "{collected}");
    assert!(
        collected.contains("0 of "),
        "every unit reads cleanly: {collected}"
    );
    let wrong = mismatches(&env, &env.path("out"), |_, e| e.to_owned());
    assert!(
        wrong.is_empty(),
        "plan differs from the scenario truth:\n{}",
        wrong.join("\n")
    );

    // BatchGetImage counts as a pull: only image indexes may be fetched.
    let indexes: BTreeSet<String> = env.truth["images"]
        .as_object()
        .expect("images")
        .iter()
        .filter(|(n, _)| n.as_str() == "index" || n.as_str() == "live-index")
        .map(|(_, i)| i["image_digest"].as_str().expect("digest").to_owned())
        .collect();
    assert_eq!(indexes.len(), 2);
    let mut fetched = BTreeSet::new();
    for c in env.moto.get("/_ecrgc/calls").as_array().expect("calls") {
        if c["operation"] == "BatchGetImage" {
            for d in c["image_digests"].as_array().into_iter().flatten() {
                fetched.insert(d.as_str().expect("digest").to_owned());
            }
        }
    }
    assert_eq!(
        fetched, indexes,
        "BatchGetImage must only fetch index manifests"
    );
    let store = s(&env.path("store"));
    let layers = env.ok(&[
        "query",
        "SELECT COUNT(*) AS n FROM image_layers",
        "--store",
        &store,
        "--format",
        "csv",
    ]);
    assert_eq!(layers, "n\n0\n", "no layers without --layers");

    // Every account × region × source the config names has a coverage row, all ok.
    let rows = env.ok(&[
        "query",
        "SELECT account_id, region, source, status FROM collection_coverage ORDER BY 1, 2, 3",
        "--store",
        &store,
        "--format",
        "csv",
    ]);
    // Registries: ecr, ecr_replication, ecr_settings, inspector, inspector_configuration,
    // pull_time_exclusion;
    // workload accounts: ecs, lambda, eks, batch, apprunner, sagemaker and codebuild (moto
    // has none of their resources: each reads nothing, ok); the aggregator once, and one `aggregator_source`
    // per account × region its sources cover (111/eu, 222/eu, 222/us, 333/eu, 333/us). No
    // registry of the scenario excludes the collector from pull-time updates: a warning,
    // not a failed read.
    let expected_units = 2 * 2 * 6 + 3 * 2 * 7 + 1 + 5;
    assert_eq!(rows.lines().count(), expected_units + 1, "{rows}");
    assert!(
        rows.lines()
            .skip(1)
            .all(|l| l.ends_with(",ok") || l.ends_with(",pull_time_exclusion,not_excluded")),
        "{rows}"
    );
}

/// Repositories an ECS failure in 333333333333 must block: those whose policy lets 333 pull.
fn pullable_by_333(key: &Key) -> bool {
    matches!(
        (key.0.as_str(), key.2.as_str()),
        ("111111111111", "payments/api") | ("222222222222", "data/etl")
    )
}

#[test]
fn a_failing_source_in_one_account_blocks_exactly_what_it_can_pull() {
    let faults = json!([{
        "account_id": "333333333333", "region": "us-east-1", "service": "ecs",
        "status": 400, "code": "AccessDeniedException",
        "message": "User: arn:aws:sts::333333333333:assumed-role/ecrgc-collector/ecrgc is not authorized to perform: ecs:ListTaskDefinitions"
    }]);
    let Some(env) = Env::start(Some(faults)) else {
        return;
    };
    let config = env.config("ecrgc.toml", CONFIG);
    let collected = env.collect_and_plan(&config, "store", "out");
    assert!(
        collected.contains("333333333333 us-east-1 ecs"),
        "{collected}"
    );
    assert!(collected.contains("denied"), "{collected}");
    let wrong = mismatches(&env, &env.path("out"), |key, e| {
        // In a blocked repository every listed image carries the guard itself, children too.
        if pullable_by_333(key) && (e == "delete" || e == "kept_with_parent") {
            "protected:usage_coverage_gap".to_owned()
        } else {
            e.to_owned()
        }
    });
    assert!(wrong.is_empty(), "blocking differs:\n{}", wrong.join("\n"));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(env.path("out/summary.json")).expect("summary"))
            .expect("json");
    let blocked = summary["blocked_sources"].to_string();
    assert!(
        blocked.contains("333333333333") && blocked.contains("denied"),
        "{blocked}"
    );
}

#[test]
fn an_outdated_aggregator_source_blocks_what_its_account_can_pull() {
    let Some(env) = Env::start(None) else {
        return;
    };
    // Config reports 333333333333's source in eu-west-1 OUTDATED: a task definition
    // deregistered there may never have reached the aggregator.
    env.moto.post(
        "/_ecrgc/seed",
        &json!({"aggregators": [{
        "account_id": "111111111111", "region": "eu-west-1", "name": "org", "items": [],
        "sources": [
            {"SourceId": "111111111111", "SourceType": "ACCOUNT", "AwsRegion": "eu-west-1",
             "LastUpdateStatus": "SUCCEEDED", "LastUpdateTime": at(-1)},
            {"SourceId": "222222222222", "SourceType": "ACCOUNT", "AwsRegion": "eu-west-1",
             "LastUpdateStatus": "SUCCEEDED", "LastUpdateTime": at(-1)},
            {"SourceId": "333333333333", "SourceType": "ACCOUNT", "AwsRegion": "eu-west-1",
             "LastUpdateStatus": "OUTDATED", "LastUpdateTime": at(-30)},
        ]}]}),
    );
    let config = env.config("ecrgc.toml", CONFIG);
    env.collect_and_plan(&config, "store", "out");
    let wrong = mismatches(&env, &env.path("out"), |key, e| {
        if pullable_by_333(key) && (e == "delete" || e == "kept_with_parent") {
            "protected:usage_coverage_gap".to_owned()
        } else {
            e.to_owned()
        }
    });
    assert!(wrong.is_empty(), "blocking differs:\n{}", wrong.join("\n"));
    let decisions = std::fs::read_to_string(env.path("out/decisions.csv")).expect("csv");
    assert!(
        decisions.contains("aggregator_source stale_source in 333333333333/eu-west-1"),
        "the decisions name the source"
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(env.path("out/summary.json")).expect("summary"))
            .expect("json");
    let blocked = summary["blocked_sources"].to_string();
    assert!(
        blocked.contains("aggregator_source") && blocked.contains("OUTDATED since"),
        "the plan names the stale source: {blocked}"
    );
}

#[test]
fn a_missing_aggregator_or_role_blocks_everything_it_hides() {
    let Some(env) = Env::start(None) else { return };
    // The aggregator's name is wrong: task definitions of the whole organization are unknown.
    let config = env.config(
        "ecrgc.toml",
        &CONFIG.replace("name = \"org\"", "name = \"no-such\""),
    );
    let collected = env.collect_and_plan(&config, "store", "out");
    assert!(
        collected.contains("config_aggregator disabled"),
        "{collected}"
    );
    assert!(
        manifest_keys(&env.path("out")).is_empty(),
        "nothing may be deleted"
    );

    // A role that cannot be assumed in 222222222222 blocks what 222 can pull, and 222's own
    // registry is not read at all.
    env.moto.post(
        "/_ecrgc/seed",
        &json!({"faults": [{"account_id": "222222222222", "service": "sts", "operation": "AssumeRole",
                            "status": 403, "code": "AccessDenied",
                            "message": "not authorized to perform sts:AssumeRole on 222222222222"}]}),
    );
    let config = env.config("ecrgc2.toml", CONFIG);
    let collected = env.collect_and_plan(&config, "store2", "out2");
    assert!(collected.contains("222222222222"), "{collected}");
    let manifest = manifest_keys(&env.path("out2"));
    assert!(
        manifest.iter().all(|k| k.0 != "222222222222"),
        "222's registry was not read"
    );
    assert!(
        manifest.iter().all(|k| k.2 != "payments/api"),
        "payments/api grants 222, whose usage is unknown"
    );
    assert!(
        manifest.iter().any(|k| k.2 == "payments/worker"),
        "payments/worker does not grant 222"
    );
}

#[test]
fn throttling_storms_and_server_errors_are_ridden_out() {
    let faults = json!([
        {"service": "ecr", "operation": "DescribeImages", "status": 400, "code": "ThrottlingException",
         "message": "Rate exceeded", "times": 8},
        {"service": "inspector2", "operation": "ListCoverage", "status": 429, "code": "ThrottlingException",
         "message": "Rate exceeded", "times": 6},
        {"service": "ecs", "status": 500, "code": "ServerException", "message": "boom", "times": 5},
        {"service": "lambda", "status": 503, "code": "ServiceException", "message": "try again", "times": 3}
    ]);
    let Some(env) = Env::start(Some(faults)) else {
        return;
    };
    let config = env.config("ecrgc.toml", CONFIG);
    let collected = env.collect_and_plan(&config, "store", "out");
    assert!(
        collected.contains("0 of "),
        "every unit completes: {collected}"
    );
    let wrong = mismatches(&env, &env.path("out"), |_, e| e.to_owned());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let store = s(&env.path("store"));
    let throttles = env.ok(&[
        "query",
        "SELECT SUM(throttles) AS t FROM collection_coverage",
        "--store",
        &store,
        "--format",
        "csv",
    ]);
    let n: i64 = throttles
        .lines()
        .nth(1)
        .expect("a row")
        .trim()
        .parse()
        .expect("a number");
    assert_eq!(n, 14, "every throttling answer is counted");
}

#[test]
fn sharded_collection_writes_one_run_with_the_same_plan() {
    let Some(env) = Env::start(None) else { return };
    let config = env.config("ecrgc.toml", CONFIG);
    let (c, store) = (s(&config), s(&env.path("store")));
    let shard = |i: &str| {
        env.ecrgc(&[
            "collect",
            "--config",
            &c,
            "--store",
            &store,
            "--now",
            now(),
            "--shard",
            i,
            "--run-name",
            "nightly",
        ])
    };
    let stdout = |o: &Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let first = shard("1/2");
    assert!(
        stdout(&first).contains("1 of 2 shards"),
        "{}",
        stdout(&first)
    );
    let early = s(&env.path("early"));
    let none = env.ecrgc(&[
        "plan",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        now(),
        "--out",
        &early,
    ]);
    assert!(
        !none.status.success(),
        "no run is visible before the last shard"
    );
    let second = shard("2/2");
    assert!(
        stdout(&second).contains("committed run"),
        "{}",
        stdout(&second)
    );
    let again = shard("2/2");
    assert_eq!(
        again.status.code(),
        Some(2),
        "a committed sharded run cannot be written again: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    let out = env.path("out");
    env.ok(&[
        "plan",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        now(),
        "--out",
        &s(&out),
    ]);
    let wrong = mismatches(&env, &out, |_, e| e.to_owned());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn accounts_can_be_discovered_through_organizations() {
    let Some(env) = Env::start(None) else { return };
    let config = env.config(
        "ecrgc.toml",
        &CONFIG.replace(
            "accounts = [\"111111111111\", \"222222222222\", \"333333333333\"]",
            "discover = \"organizations\"",
        ),
    );
    env.collect_and_plan(&config, "store", "out");
    // The whole organization is listed and collected: its organization-wide grant is
    // covered, so scope/org-wide is cleanable (tests/it/scope.rs checks the rest).
    let wrong = mismatches(&env, &env.path("out"), |key, e| {
        if key.2 == "scope/org-wide" {
            "delete".to_owned()
        } else {
            e.to_owned()
        }
    });
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn collect_and_plan_work_on_an_s3_store() {
    let Some(env) = Env::start(None) else { return };
    env.moto.create_bucket("snapshots");
    let config = env.config(
        "ecrgc.toml",
        &format!("store = \"s3://snapshots/ecrgc\"\n{CONFIG}"),
    );
    let c = s(&config);
    let out = env.path("out");
    env.ok(&["collect", "--config", &c, "--now", now()]);
    env.ok(&["plan", "--config", &c, "--now", now(), "--out", &s(&out)]);
    let wrong = mismatches(&env, &out, |_, e| e.to_owned());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_unreachable_store_fails_and_commits_nothing() {
    let Some(env) = Env::start(None) else { return };
    let config = env.config("ecrgc.toml", CONFIG);
    let c = s(&config);
    // The bucket does not exist: every write fails.
    let o = env.ecrgc(&[
        "collect",
        "--config",
        &c,
        "--store",
        "s3://no-such-bucket/x",
        "--now",
        now(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty(), "no run is reported");
    env.moto.create_bucket("no-such-bucket");
    let plan = env.ecrgc(&[
        "plan",
        "--store",
        "s3://no-such-bucket/x",
        "--now",
        now(),
        "--out",
        &s(&env.path("out")),
    ]);
    assert!(!plan.status.success(), "nothing was committed");
    assert!(
        String::from_utf8_lossy(&plan.stderr).contains("no committed run"),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
}

#[test]
fn bad_collect_input_exits_2_before_any_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ecrgc"))
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("ECRGC_CONFIG")
            // Nothing listens here: a call would fail with status 1, not 2.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .output()
            .expect("ecrgc runs")
    };
    let no_regions = dir.path().join("no-regions.toml");
    std::fs::write(&no_regions, "[org]\naccounts = [\"111111111111\"]\n").expect("write");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, CONFIG).expect("write");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["collect".into()], "needs a configuration file"),
        (
            vec!["collect".into(), "--config".into(), s(&no_regions)],
            "org.regions",
        ),
        (
            vec![
                "collect".into(),
                "--config".into(),
                s(&good),
                "--shard".into(),
                "3/2".into(),
                "--run-name".into(),
                "n".into(),
            ],
            "invalid shard",
        ),
        (
            vec![
                "collect".into(),
                "--config".into(),
                s(&good),
                "--shard".into(),
                "1/2".into(),
            ],
            "--run-name",
        ),
        (
            vec![
                "collect".into(),
                "--config".into(),
                s(&good),
                "--now".into(),
                "yesterday".into(),
            ],
            "--now",
        ),
    ];
    for (args, message) in cases {
        let mut args = args;
        args.extend(["--store".into(), s(&store)]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&argv);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{argv:?}: {err}");
        assert!(err.contains(message), "{argv:?}: {err}");
    }
    assert!(!store.join("_runs").exists(), "nothing was written");
}

#[test]
fn an_image_inspector_stopped_monitoring_is_of_unknown_use_to_the_usage_rules() {
    let Some(env) = Env::start(None) else { return };
    // 111111111111/eu-west-1 keeps AWS's 14-day defaults; Inspector stopped monitoring
    // `stale` (last used 200 days ago): its row stays, INACTIVE, SCAN_ELIGIBILITY_EXPIRED.
    let stale = &env.truth["images"]["stale"];
    env.moto.post(
        "/_ecrgc/seed",
        &json!({
            "coverage": [{
                "account_id": stale["account_id"], "region": stale["region"],
                "repository_name": stale["repository_name"], "image_digest": stale["image_digest"],
                "image_tags": stale["tags"], "last_in_use_at": at(-200 * 24),
                "in_use_count": 0, "image_pulled_at": null,
                "scan_status": "INACTIVE", "scan_status_reason": "SCAN_ELIGIBILITY_EXPIRED",
            }],
            "inspector2_configuration": [{
                "account_id": "111111111111", "region": "eu-west-1",
                "rescan_duration": "DAYS_14", "pull_date_rescan_duration": "DAYS_14",
                "pull_date_rescan_mode": "LAST_IN_USE_AT", "status": "SUCCESS",
            }],
        }),
    );
    let config = env.config("ecrgc.toml", CONFIG);
    env.collect_and_plan(&config, "store", "out");
    // `stale` is tagged, so no rule that needs no usage data flags it: it leaves the plan,
    // and its SBOM (untagged, flagged by untagged_fallback) stays with its subject.
    let wrong = mismatches(&env, &env.path("out"), |key, e| {
        let digest = key.3.as_str();
        if digest == stale["image_digest"] {
            "none".to_owned()
        } else if digest == env.truth["images"]["stale-sbom"]["image_digest"] {
            "kept_with_parent".to_owned()
        } else {
            e.to_owned()
        }
    });
    assert!(wrong.is_empty(), "decisions differ:\n{}", wrong.join("\n"));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(env.path("out/summary.json")).expect("summary"))
            .expect("json");
    let rows = summary["inspector_coverage"]
        .as_array()
        .expect("inspector_coverage");
    let central = rows
        .iter()
        .find(|r| r["account_id"] == "111111111111" && r["region"] == "eu-west-1")
        .expect("a row for the central registry");
    assert_eq!(central["inactive"], 1, "{central}");
    assert_eq!(central["expired"], 1, "{central}");
    assert_eq!(central["rescan_duration"], "DAYS_14", "{central}");
    assert_eq!(central["monitors_for_lifetime"], false, "{central}");
    let prod = rows
        .iter()
        .find(|r| r["account_id"] == "222222222222")
        .expect("a row for the prod registry");
    // Not seeded: moto answers AWS's defaults for a new account.
    assert_eq!(prod["pull_date_rescan_mode"], "LAST_IN_USE_AT", "{prod}");
    assert_eq!(prod["inactive"], 0, "{prod}");
}

#[test]
fn a_repeating_page_token_is_a_coverage_gap_not_an_endless_loop() {
    let Some(env) = Env::start(None) else { return };
    // Every DescribeImages page of 111111111111/eu-west-1 after the first names itself as
    // the next page.
    env.moto.post(
        "/_ecrgc/seed",
        &json!({"page_size": {"ecr": 1},
                "repeat_tokens": [{"account_id": "111111111111", "region": "eu-west-1",
                                   "service": "ecr", "operation": "DescribeImages"}]}),
    );
    let config = env.config("ecrgc.toml", CONFIG);
    let (c, store) = (s(&config), s(&env.path("store")));
    let collected = env.ecrgc_within(
        &["collect", "--config", &c, "--store", &store, "--now", now()],
        std::time::Duration::from_secs(180),
    );
    assert!(
        collected.status.success(),
        "collect commits the run with the gap: {}",
        String::from_utf8_lossy(&collected.stderr)
    );
    let gaps = env.ok(&[
        "query",
        "SELECT account_id, region, source, status, error FROM collection_coverage \
         WHERE status <> 'ok' AND error LIKE '%pagination token repeated%'",
        "--store",
        &store,
        "--format",
        "csv",
    ]);
    assert!(
        gaps.contains("111111111111,eu-west-1,ecr,error"),
        "the ECR unit records the abandoned listing: {gaps}"
    );
    assert!(gaps.contains("ecr:DescribeImages"), "{gaps}");
    // The plan runs on the run with the gap.
    env.ok(&[
        "plan",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        now(),
        "--out",
        &s(&env.path("out")),
    ]);
}

/// Rows of a one-column CSV query answer, as numbers.
fn count(env: &Env, store: &str, sql: &str) -> i64 {
    let out = env.ok(&["query", sql, "--store", store, "--format", "csv"]);
    out.lines()
        .nth(1)
        .unwrap_or_else(|| panic!("a row: {out}"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("a number: {out}"))
}

#[test]
fn a_shard_killed_between_its_record_and_the_marker_is_committed_by_a_rerun_with_every_row_once() {
    let Some(env) = Env::start(None) else { return };
    let config = env.config("ecrgc.toml", CONFIG);
    let (c, store) = (s(&config), s(&env.path("store")));
    let shard = |i: &str, fault: &str| {
        let vars: &[(&str, &str)] = if fault.is_empty() {
            &[]
        } else {
            &[("ECRGC_FAULT", fault)]
        };
        env.ecrgc_with(
            &[
                "collect",
                "--config",
                &c,
                "--store",
                &store,
                "--now",
                now(),
                "--shard",
                i,
                "--run-name",
                "nightly",
            ],
            vars,
        )
    };
    let stdout = |o: &Output| String::from_utf8_lossy(&o.stdout).into_owned();
    // Shard 1's first attempt dies with its files written but before its record: they must
    // never be read. Its second attempt finishes.
    let died = shard("1/2", "before_shard_record");
    assert_eq!(died.status.code(), Some(86), "the fault hook fired");
    let first = shard("1/2", "");
    assert!(
        stdout(&first).contains("1 of 2 shards"),
        "{}",
        stdout(&first)
    );
    // Shard 2 records itself and dies before the marker.
    let killed = shard("2/2", "after_shard_record");
    assert_eq!(
        killed.status.code(),
        Some(86),
        "{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let early = s(&env.path("early"));
    let none = env.ecrgc(&[
        "plan",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        now(),
        "--out",
        &early,
    ]);
    assert!(!none.status.success(), "no run is committed yet");
    // Re-running any shard completes the run without collecting again.
    let rerun = shard("1/2", "");
    assert!(
        stdout(&rerun).contains("committed run"),
        "{}\n{}",
        stdout(&rerun),
        String::from_utf8_lossy(&rerun.stderr)
    );
    // Every row exactly once: no image, reference or coverage row twice, and as many rows
    // as the marker counts.
    for (table, key) in [
        (
            "images",
            "account_id, region, repository_name, image_digest",
        ),
        ("collection_coverage", "account_id, region, source"),
        ("collection_scope", "account_id"),
        ("runs", "run_id"),
    ] {
        let twice = count(
            &env,
            &store,
            &format!(
                "SELECT COUNT(*) AS n FROM (SELECT {key} FROM {table} GROUP BY {key} HAVING COUNT(*) > 1)"
            ),
        );
        assert_eq!(twice, 0, "{table}: rows written twice");
    }
    let images = count(&env, &store, "SELECT COUNT(*) AS n FROM images");
    let refs = count(&env, &store, "SELECT COUNT(*) AS n FROM workload_refs");
    let committed = stdout(&rerun);
    assert!(
        committed.contains(&format!("({images} images, {refs} workload references")),
        "the marker counts what is read: {committed}"
    );
    // And the plan is the one of an unsharded run.
    let out = env.path("out");
    env.ok(&[
        "plan",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        now(),
        "--out",
        &s(&out),
    ]);
    let wrong = mismatches(&env, &out, |_, e| e.to_owned());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_shard_that_sees_other_accounts_is_refused() {
    let Some(env) = Env::start(None) else { return };
    let config = env.config(
        "ecrgc.toml",
        &CONFIG.replace(
            "accounts = [\"111111111111\", \"222222222222\", \"333333333333\"]",
            "discover = \"organizations\"",
        ),
    );
    let (c, store) = (s(&config), s(&env.path("store")));
    let shard = |i: &str| {
        env.ecrgc(&[
            "collect",
            "--config",
            &c,
            "--store",
            &store,
            "--now",
            now(),
            "--shard",
            i,
            "--run-name",
            "nightly",
        ])
    };
    let first = shard("1/2");
    assert!(first.status.success());
    // An account joins the organization between the shards: no shard would collect it.
    env.moto.post(
        "/_ecrgc/seed",
        &json!({"organization_accounts": [{"Id": "555555555555", "Name": "late", "Status": "ACTIVE"}]}),
    );
    let second = shard("2/2");
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains("accounts differ") && err.contains("555555555555"),
        "the error names what differs: {err}"
    );
    let early = s(&env.path("early"));
    let none = env.ecrgc(&[
        "plan",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        now(),
        "--out",
        &early,
    ]);
    assert!(!none.status.success(), "nothing is committed");
}

#[test]
fn a_demo_run_never_becomes_the_latest_of_a_store_with_collected_runs() {
    let Some(env) = Env::start(None) else { return };
    let config = env.config("ecrgc.toml", CONFIG);
    let (c, store) = (s(&config), s(&env.path("store")));
    env.ok(&[
        "collect",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        &at(-2),
    ]);
    // A demo written later into the same store, one hour newer than the collected run.
    env.ok(&[
        "demo",
        "--images",
        "500",
        "--now",
        &at(-1),
        "--store",
        &store,
        "--out",
        &s(&env.path("demo-out")),
    ]);
    let out = env.path("out");
    env.ok(&[
        "plan",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        now(),
        "--out",
        &s(&out),
    ]);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary"))
            .expect("json");
    let origin = env.ok(&[
        "query",
        &format!(
            "SELECT origin FROM runs WHERE run_id = '{}'",
            summary["run_id"].as_str().expect("run_id")
        ),
        "--store",
        &store,
        "--format",
        "csv",
    ]);
    assert!(
        origin.contains("collect"),
        "the collected run is planned, not the newer demo: {origin}"
    );
}
