//! The shared store suite: the same checks run against every backend (local folder,
//! in-memory; S3 joins when a local S3 endpoint is available), so backends cannot drift.

use ecrgc_model::{ImageTagRow, ImageTagsBuilder, RunRow, all_tables};
use ecrgc_store::{Store, StoreError};
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

macro_rules! suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn committed_run_is_visible_and_readable() {
                let (store, _guard) = $make;
                super::committed_run_is_visible_and_readable(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn crashed_run_is_invisible() {
                let (store, _guard) = $make;
                super::crashed_run_is_invisible(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn latest_run_is_the_newest_snapshot() {
                let (store, _guard) = $make;
                super::latest_run_is_the_newest_snapshot(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn committed_run_is_never_rewritten() {
                let (store, _guard) = $make;
                super::committed_run_is_never_rewritten(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bad_writes_are_refused() {
                let (store, _guard) = $make;
                super::bad_writes_are_refused(store).await;
            }
        }
    };
}

fn local() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf-8 path")).expect("open");
    (store, dir)
}

suite!(local_folder, local());
suite!(in_memory, (Store::in_memory(), ()));

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
