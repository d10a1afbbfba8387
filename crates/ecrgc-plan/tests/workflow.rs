//! The plan workflow on a demo store in a temporary folder, without the binary: the run
//! chosen, the plan written and recorded with its totals, the report recomputed from the
//! plan folder, explain, and lifecycle suggest with its plan.

use std::cell::RefCell;
use std::path::Path;

use ecrgc_collect::demo::{DemoOptions, generate};
use ecrgc_config::Config;
use ecrgc_engine::Catalog;
use ecrgc_model::keys::RepositoryKey;
use ecrgc_model::time::parse_rfc3339;
use ecrgc_plan::{Chosen, PlanError, PlanInputs, Provenance};
use ecrgc_store::{RunMarker, Store};

const NOW: &str = "2026-11-21T00:00:00Z";

fn no_warning(message: String) {
    panic!("unexpected warning: {message}");
}

async fn demo_store(dir: &Path, images: u64) -> (Store, RunMarker) {
    let store = Store::open(dir.join("store").to_str().expect("utf-8")).expect("store");
    let options = DemoOptions {
        images,
        seed: 5,
        now: parse_rfc3339(NOW).expect("now"),
    };
    let (run, _truth) = generate(&store, &options, |_| {}).await.expect("demo");
    (store, run)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_demo_store_is_planned_recorded_reported_explained_and_advised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, run) = demo_store(dir.path(), 1500).await;
    let config = Config::default();
    let now = parse_rfc3339(NOW).expect("now");

    let chosen = Chosen::pick(&store, None, &config, &no_warning)
        .await
        .expect("a run");
    assert_eq!(chosen.run.run_id, run.run_id);
    assert_eq!(chosen.history.last().map(|r| &r.run_id), Some(&run.run_id));
    let inputs = PlanInputs {
        store: &store,
        chosen: &chosen,
        config: &config,
        now,
        warn: &no_warning,
    };

    // The plan: files written, the summary's text, the record and the totals stored.
    let out = dir.path().join("out");
    let stages = RefCell::new(Vec::new());
    let written = ecrgc_plan::record::plan(
        &inputs,
        Catalog::builtin(),
        Provenance {
            config_path: None,
            sql_dir: None,
            only_rules: &[],
        },
        &out,
        &|stage| stages.borrow_mut().push(stage),
    )
    .await
    .expect("planned");
    assert_eq!(
        stages.into_inner(),
        [
            ecrgc_plan::record::Stage::RulesAndGuards,
            ecrgc_plan::record::Stage::Writing
        ]
    );
    assert!(written.totals_not_stored.is_none());
    for file in ecrgc_report::plan::PLAN_FILES {
        assert!(out.join(file).is_file(), "{file} written");
    }
    let summary = &written.output.summary;
    assert_eq!(summary.run_id, run.run_id);
    assert_eq!(summary.scanned.totals.images, 1500);
    assert!(written.text().contains(&format!("run {}", run.run_id)));
    let record = ecrgc_review::record_parts(&written.output.planned.plan_id);
    assert!(
        store
            .get_object(&[&record[0], &record[1]])
            .await
            .expect("read")
            .is_some(),
        "the plan is recorded in the store"
    );
    let totals = run.table_parts(ecrgc_model::PlanTotalsBuilder::NAME);
    assert!(
        store
            .get_object(&[&totals[0], &totals[1], &totals[2], "plan.parquet"])
            .await
            .expect("read")
            .is_some(),
        "the plan's totals are stored"
    );

    // The report recomputed from the plan folder is the one the plan wrote.
    let report = ecrgc_plan::report::report(&out, None, &config)
        .await
        .expect("report");
    assert_eq!(report, written.output.finops.report);

    // Explain: a flagged image of the manifest, and an unknown one as bad input.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("json");
    let digest = manifest["items"][0]["image_digest"]
        .as_str()
        .expect("a manifest item");
    let texts = ecrgc_plan::explain::explain(&inputs, Catalog::builtin(), digest)
        .await
        .expect("explained");
    assert!(!texts.is_empty() && texts.iter().all(|t| t.contains(digest)));
    let unknown = format!("sha256:{}", "0".repeat(64));
    match ecrgc_plan::explain::explain(&inputs, Catalog::builtin(), &unknown).await {
        Err(PlanError::BadInput(m)) => assert!(m.contains("no image"), "{m}"),
        other => panic!("expected bad input, got {:?}", other.map(|t| t.len())),
    }

    // Lifecycle suggest: every repository advised; --out writes and records the plan.
    let lifecycle_out = dir.path().join("lifecycle");
    let suggested =
        ecrgc_plan::lifecycle::suggest(&inputs, &[], Some(&lifecycle_out), None, &|_| {})
            .await
            .expect("suggested");
    assert!(!suggested.suggestions.is_empty());
    assert_eq!(suggested.written.len(), 1);
    assert!(
        lifecycle_out
            .join(ecrgc_plan::lifecycle::PLAN_FILE)
            .is_file()
    );
    assert!(suggested.text(&inputs).contains(&run.run_id));
    assert_eq!(suggested.json(&inputs)["run_id"], run.run_id.as_str());
    let first = &suggested.suggestions[0];
    let only = [RepositoryKey::new(
        &first.account_id,
        &first.region,
        &first.repository_name,
    )];
    let one = ecrgc_plan::lifecycle::suggest(&inputs, &only, None, None, &|_| {})
        .await
        .expect("one repository");
    assert_eq!(one.suggestions.len(), 1);
    let missing = [RepositoryKey::new(
        "111111111111",
        "eu-west-1",
        "no/such/repository",
    )];
    assert!(matches!(
        ecrgc_plan::lifecycle::suggest(&inputs, &missing, None, None, &|_| {}).await,
        Err(PlanError::BadInput(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_store_has_no_run_and_an_unknown_run_is_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf-8")).expect("store");
    let config = Config::default();
    assert!(matches!(
        Chosen::pick(&store, None, &config, &no_warning).await,
        Err(PlanError::NoRun { .. })
    ));
    assert!(matches!(
        Chosen::pick(
            &store,
            Some("20261121T000000Z-abcdef"),
            &config,
            &no_warning
        )
        .await,
        Err(PlanError::BadInput(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_from_the_future_is_ignored_with_a_warning_unless_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store").to_str().expect("utf-8")).expect("store");
    let future = chrono::Utc::now() + chrono::Duration::days(30);
    let options = DemoOptions {
        images: 200,
        seed: 1,
        now: future.timestamp_micros(),
    };
    let (run, _) = generate(&store, &options, |_| {}).await.expect("demo");
    let config = Config::default();
    let warnings = RefCell::new(Vec::new());
    let warn = |m: String| warnings.borrow_mut().push(m);
    assert!(matches!(
        Chosen::pick(&store, None, &config, &warn).await,
        Err(PlanError::NoRun { .. })
    ));
    let warnings = warnings.into_inner();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains(&run.run_id) && warnings[0].contains("in the future"));
    let named = Chosen::pick(&store, Some(&run.run_id), &config, &no_warning)
        .await
        .expect("named");
    assert_eq!(named.run.run_id, run.run_id);
}

/// Every function of the workflow returns `Result<_, PlanError>`: the error stays small
/// (clippy's `result_large_err` limit), so the happy path does not move a large value.
#[test]
fn the_error_stays_small() {
    let size = size_of::<PlanError>();
    eprintln!("size_of::<PlanError>() = {size}");
    assert!(size <= 128, "{size} bytes");
}
