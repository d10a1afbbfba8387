//! The shared store suite: the same checks run against every backend (local folder,
//! in-memory, S3 on a moto server), so backends cannot drift.

use ecrgc_model::{ImageTagRow, ImageTagsBuilder, RunRow, all_tables};
use ecrgc_store::{ShardOutcome, ShardScope, Store, StoreError};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const DAY: i64 = 86_400_000_000;
const NOW: i64 = 1_795_219_200_000_000; // 2026-11-21T00:00:00Z

fn run_row() -> RunRow<'static> {
    RunRow {
        started_at: NOW,
        origin: "test",
        tool_version: "0",
        config_hash: None,
        demo_seed: None,
    }
}

fn scope() -> ShardScope {
    ShardScope {
        config_hash: "c0ffee".into(),
        accounts: vec!["111111111111".into(), "222222222222".into()],
        registry_accounts: vec!["111111111111".into()],
        regions: vec!["eu-west-1".into()],
        sources: vec!["ecr".into(), "ecs".into()],
    }
}

fn tags(run_id: &str, snapshot: i64, n: usize) -> arrow::record_batch::RecordBatch {
    let mut b = ImageTagsBuilder::new(run_id, snapshot, n);
    for i in 0..n {
        let digest = format!("sha256:{i:064x}");
        let tag = format!("v{i}");
        b.append(ImageTagRow {
            account_id: "111111111111",
            region: "eu-west-1",
            repository_name: "app",
            image_digest: &digest,
            image_tag: &tag,
        });
    }
    b.finish()
}

async fn read_rows(store: &Store, parts: &[String; 3]) -> usize {
    let prefix = store.path(&[&parts[0], &parts[1], &parts[2]]);
    let files: Vec<_> = store
        .object_store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .expect("list");
    let mut rows = 0;
    for meta in files {
        let bytes = store
            .object_store()
            .get(&meta.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .expect("parquet footer")
            .build()
            .expect("reader");
        for batch in reader {
            rows += batch.expect("batch").num_rows();
        }
    }
    rows
}

async fn committed_run_is_visible_and_readable(store: Store) {
    let mut run = store.begin_run(NOW, "test");
    let id = run.run_id().to_owned();
    run.write("image_tags", tags(&id, NOW, 1000))
        .await
        .expect("write");
    run.write("image_tags", tags(&id, NOW, 500))
        .await
        .expect("write");
    let marker = run.commit(run_row()).await.expect("commit");
    assert_eq!(marker.dt, "2026-11-21");
    assert_eq!(marker.tables["image_tags"].rows, 1500);
    // Every table exists in every run, empty or not.
    for def in all_tables() {
        assert!(
            marker.tables[def.name].files >= 1,
            "{} has no file",
            def.name
        );
    }
    assert_eq!(marker.tables["runs"].rows, 1);
    let runs = store.committed_runs().await.expect("list runs");
    assert_eq!(runs, vec![marker.clone()]);
    assert_eq!(
        read_rows(&store, &marker.table_parts("image_tags")).await,
        1500
    );
    assert_eq!(read_rows(&store, &marker.table_parts("images")).await, 0);
}

async fn crashed_run_is_invisible(store: Store) {
    let mut committed = store.begin_run(NOW - DAY, "test");
    let id = committed.run_id().to_owned();
    committed
        .write("image_tags", tags(&id, NOW - DAY, 10))
        .await
        .expect("write");
    let committed = committed.commit(run_row()).await.expect("commit");

    // A later run writes data, then "crashes": it is dropped before its commit marker.
    let mut crashed = store.begin_run(NOW, "test");
    let crashed_id = crashed.run_id().to_owned();
    crashed
        .write("image_tags", tags(&crashed_id, NOW, 10))
        .await
        .expect("write");
    drop(crashed);

    let latest = store
        .latest_run()
        .await
        .expect("list")
        .expect("one committed run");
    assert_eq!(latest.run_id, committed.run_id);
    assert!(store.run(&crashed_id).await.expect("list").is_none());
    assert_eq!(store.committed_runs().await.expect("list").len(), 1);
}

async fn latest_run_is_the_newest_snapshot(store: Store) {
    for offset in [3, 1, 2] {
        store
            .begin_run(NOW - offset * DAY, "test")
            .commit(run_row())
            .await
            .expect("commit");
    }
    let runs = store.committed_runs().await.expect("list");
    let times: Vec<_> = runs.iter().map(|r| r.snapshot_time.as_str()).collect();
    assert_eq!(
        times,
        [
            "2026-11-18T00:00:00Z",
            "2026-11-19T00:00:00Z",
            "2026-11-20T00:00:00Z"
        ]
    );
    let latest = store.latest_run().await.expect("list").expect("runs");
    assert_eq!(latest.snapshot_time, "2026-11-20T00:00:00Z");
}

async fn committed_run_is_never_rewritten(store: Store) {
    let run = store.begin_run(NOW, "test");
    let marker_path = store.path(&["_runs", &format!("{}.json", run.run_id())]);
    // Someone else committed this run id first.
    store
        .object_store()
        .put(&marker_path, b"{}".to_vec().into())
        .await
        .expect("put");
    let err = run
        .commit(run_row())
        .await
        .expect_err("second commit refused");
    assert!(matches!(err, StoreError::AlreadyCommitted(_)), "{err}");
}

async fn bad_writes_are_refused(store: Store) {
    let mut run = store.begin_run(NOW, "test");
    let id = run.run_id().to_owned();
    let err = run
        .write("nope", tags(&id, NOW, 1))
        .await
        .expect_err("unknown table");
    assert!(matches!(err, StoreError::UnknownTable(_)), "{err}");
    let err = run
        .write("images", tags(&id, NOW, 1))
        .await
        .expect_err("wrong schema");
    assert!(matches!(err, StoreError::SchemaMismatch { .. }), "{err}");
}

async fn sharded_run_commits_when_the_last_shard_finishes(store: Store) {
    let mut first = store
        .begin_shard("nightly", NOW, "test", (1, 2), &scope())
        .await
        .expect("shard 1 starts");
    let run_id = first.run_id().to_owned();
    first
        .write("image_tags", tags(&run_id, NOW, 3))
        .await
        .expect("write");
    match first
        .finish_shard(run_row())
        .await
        .expect("shard 1 finishes")
    {
        ShardOutcome::Waiting { done: 1, count: 2 } => {}
        other => panic!("shard 1 must wait for shard 2: {other:?}"),
    }
    assert!(
        store.latest_run().await.expect("list").is_none(),
        "not visible before the last shard"
    );

    let err = store
        .begin_shard("nightly", NOW, "test", (1, 3), &scope())
        .await
        .err()
        .expect("another shard count is refused");
    assert!(matches!(err, StoreError::InvalidShard { .. }), "{err}");
    let err = store
        .begin_shard("nightly", NOW, "test", (1, 2), &scope())
        .await
        .err()
        .expect("a finished shard cannot run again");
    assert!(matches!(err, StoreError::InvalidShard { .. }), "{err}");

    // Started a day later, shard 2 still writes the run shard 1 fixed.
    let mut second = store
        .begin_shard("nightly", NOW + DAY, "test", (2, 2), &scope())
        .await
        .expect("shard 2 starts");
    assert_eq!(second.run_id(), run_id);
    assert_eq!(second.snapshot_time(), NOW);
    second
        .write("image_tags", tags(&run_id, NOW, 4))
        .await
        .expect("write");
    let marker = match second
        .finish_shard(run_row())
        .await
        .expect("shard 2 finishes")
    {
        ShardOutcome::Committed(m) => m,
        other => panic!("the last shard commits: {other:?}"),
    };
    assert_eq!(marker.run_id, run_id);
    assert_eq!(marker.tables["image_tags"].rows, 7);
    assert_eq!(marker.tables["runs"].rows, 1);
    assert_eq!(
        read_rows(&store, &marker.table_parts("image_tags")).await,
        7
    );
    assert_eq!(read_rows(&store, &marker.table_parts("runs")).await, 1);
    assert_eq!(
        store.latest_run().await.expect("list").map(|m| m.run_id),
        Some(run_id)
    );

    let err = store
        .begin_shard("nightly", NOW, "test", (2, 2), &scope())
        .await
        .err()
        .expect("a committed run is never reopened");
    assert!(matches!(err, StoreError::InvalidShard { .. }), "{err}");
    assert!(err.to_string().contains("already committed"), "{err}");
    for bad in ["", "a/b", "../x"] {
        let err = store
            .begin_shard(bad, NOW, "test", (1, 1), &scope())
            .await
            .err()
            .expect(bad);
        assert!(
            matches!(err, StoreError::InvalidShard { .. }),
            "{bad}: {err}"
        );
    }
}

async fn a_shard_of_another_scope_is_refused(store: Store) {
    let first = store
        .begin_shard("nightly", NOW, "test", (1, 2), &scope())
        .await
        .expect("shard 1 starts");
    drop(first);
    let mut joined = scope();
    joined.accounts.push("333333333333".into());
    let err = store
        .begin_shard("nightly", NOW, "test", (2, 2), &joined)
        .await
        .err()
        .expect("an account list that differs is refused");
    assert!(matches!(err, StoreError::InvalidShard { .. }), "{err}");
    assert!(
        err.to_string().contains("accounts differ") && err.to_string().contains("333333333333"),
        "{err}"
    );
    let other = ShardScope {
        config_hash: "other".into(),
        ..scope()
    };
    let err = store
        .begin_shard("nightly", NOW, "test", (2, 2), &other)
        .await
        .err()
        .expect("another configuration is refused");
    assert!(err.to_string().contains("configuration differs"), "{err}");
    let regions = ShardScope {
        regions: vec!["us-east-1".into()],
        ..scope()
    };
    let err = store
        .begin_shard("nightly", NOW, "test", (2, 2), &regions)
        .await
        .err()
        .expect("other regions are refused");
    assert!(err.to_string().contains("regions differ"), "{err}");
}

async fn a_crashed_attempt_is_never_read_and_a_lost_commit_is_completed(store: Store) {
    // Attempt 1 of shard 1 writes 5 rows and dies before its record.
    let mut crashed = store
        .begin_shard("nightly", NOW, "test", (1, 2), &scope())
        .await
        .expect("shard 1 starts");
    let run_id = crashed.run_id().to_owned();
    crashed
        .write("image_tags", tags(&run_id, NOW, 5))
        .await
        .expect("write");
    drop(crashed);
    // Attempt 2 of shard 1 writes 3 rows and finishes; shard 2 writes 4 and commits.
    for (index, rows) in [(1, 3), (2, 4)] {
        let mut shard = store
            .begin_shard("nightly", NOW, "test", (index, 2), &scope())
            .await
            .expect("shard starts");
        assert!(!shard.shard_already_recorded());
        shard
            .write("image_tags", tags(&run_id, NOW, rows))
            .await
            .expect("write");
        shard.finish_shard(run_row()).await.expect("finishes");
    }
    let marker = store.run(&run_id).await.expect("list").expect("committed");
    assert_eq!(marker.tables["image_tags"].rows, 7);
    assert_eq!(
        read_rows(&store, &marker.table_parts("image_tags")).await,
        7,
        "the crashed attempt's rows are not in the run"
    );
    // The marker is lost after every shard was recorded (as if the committer died before
    // writing it): starting any shard again completes the commit, with the same rows.
    let marker_path = store.path(&["_runs", &format!("{run_id}.json")]);
    store
        .object_store()
        .delete(&marker_path)
        .await
        .expect("delete");
    assert!(store.latest_run().await.expect("list").is_none());
    let again = store
        .begin_shard("nightly", NOW, "test", (2, 2), &scope())
        .await
        .expect("a recorded shard of an uncommitted run may start again");
    assert!(again.shard_already_recorded());
    match again.finish_shard(run_row()).await.expect("commits") {
        ShardOutcome::Committed(m) => assert_eq!(m.run_id, run_id),
        other => panic!("the run is committed: {other:?}"),
    }
    let marker = store.run(&run_id).await.expect("list").expect("committed");
    assert_eq!(
        read_rows(&store, &marker.table_parts("image_tags")).await,
        7,
        "every row once"
    );
}

async fn a_damaged_or_unsafe_marker_is_skipped_by_name(store: Store) {
    let mut run = store.begin_run(NOW, "test");
    let id = run.run_id().to_owned();
    run.write("image_tags", tags(&id, NOW, 2))
        .await
        .expect("write");
    let good = run.commit(run_row()).await.expect("commit");
    store
        .put_object(&["_runs", "broken.json"], b"{not json".to_vec())
        .await
        .expect("put");
    let mut evil = serde_json::to_value(&good).expect("json");
    evil["run_id"] = "../x".into();
    store
        .put_object(
            &["_runs", "x.json"],
            serde_json::to_vec(&evil).expect("json"),
        )
        .await
        .expect("put");
    let mut other_day = serde_json::to_value(&good).expect("json");
    other_day["run_id"] = "r2".into();
    other_day["dt"] = "2020-01-01/../..".into();
    store
        .put_object(
            &["_runs", "r2.json"],
            serde_json::to_vec(&other_day).expect("json"),
        )
        .await
        .expect("put");
    let (runs, skipped) = store.committed_runs_checked().await.expect("listing works");
    assert_eq!(
        runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        vec![id.as_str()]
    );
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(
        skipped.iter().any(|s| s.contains("broken.json")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("x.json") && s.contains("\"../x\"")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("r2.json") && s.contains("dt")),
        "{skipped:?}"
    );
    assert_eq!(
        store.latest_run().await.expect("list").map(|r| r.run_id),
        Some(id)
    );
}

macro_rules! suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn committed_run_is_visible_and_readable() {
                let Some((store, _guard)) = $make else { return };
                super::committed_run_is_visible_and_readable(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn crashed_run_is_invisible() {
                let Some((store, _guard)) = $make else { return };
                super::crashed_run_is_invisible(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn latest_run_is_the_newest_snapshot() {
                let Some((store, _guard)) = $make else { return };
                super::latest_run_is_the_newest_snapshot(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn committed_run_is_never_rewritten() {
                let Some((store, _guard)) = $make else { return };
                super::committed_run_is_never_rewritten(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sharded_run_commits_when_the_last_shard_finishes() {
                let Some((store, _guard)) = $make else { return };
                super::sharded_run_commits_when_the_last_shard_finishes(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_shard_of_another_scope_is_refused() {
                let Some((store, _guard)) = $make else { return };
                super::a_shard_of_another_scope_is_refused(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_crashed_attempt_is_never_read_and_a_lost_commit_is_completed() {
                let Some((store, _guard)) = $make else { return };
                super::a_crashed_attempt_is_never_read_and_a_lost_commit_is_completed(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_damaged_or_unsafe_marker_is_skipped_by_name() {
                let Some((store, _guard)) = $make else { return };
                super::a_damaged_or_unsafe_marker_is_skipped_by_name(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bad_writes_are_refused() {
                let Some((store, _guard)) = $make else { return };
                super::bad_writes_are_refused(store).await;
            }
        }
    };
}

fn local() -> Option<(Store, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf-8 path")).expect("open");
    Some((store, dir))
}

/// A bucket on a fresh moto server, under a prefix (as production stores are).
fn s3_on_moto() -> Option<(Store, ecrgc_testkit::Moto)> {
    let moto = ecrgc_testkit::Moto::start()?;
    moto.create_bucket("snapshots");
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(moto.url())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name("snapshots")
        .with_access_key_id(ecrgc_testkit::ACCESS_KEY)
        .with_secret_access_key(ecrgc_testkit::SECRET_KEY)
        .build()
        .expect("s3 client");
    let store = Store::from_parts(
        std::sync::Arc::new(s3),
        url::Url::parse("s3://snapshots").expect("url"),
        object_store::path::Path::from("ecrgc/prod"),
        "s3://snapshots/ecrgc/prod",
    );
    Some((store, moto))
}

suite!(local_folder, local());
suite!(in_memory, Some((Store::in_memory(), ())));
suite!(s3_moto, s3_on_moto());

#[test]
fn invalid_locations_are_refused() {
    for bad in ["", "ftp://x/y", "s3://"] {
        let err = Store::open(bad).expect_err(bad);
        assert!(
            matches!(err, StoreError::InvalidLocation { .. }),
            "{bad}: {err}"
        );
    }
}
