//! `Store::put_object_if_absent` on every backend: commit markers, shard records and the
//! executor's apply leases rely on exactly one of several writers creating an object. On S3
//! that is a PutObject with `If-None-Match: *` (object_store's default conditional put),
//! answered 412 Precondition Failed when the key exists; moto honours it.

use ecrgc_store::Store;

async fn a_second_create_is_refused_and_changes_nothing(store: Store) {
    let key = ["_leases", "plan", "00000000000000000001.json"];
    assert!(
        store
            .put_object_if_absent(&key, b"first".to_vec())
            .await
            .expect("create")
    );
    assert!(
        !store
            .put_object_if_absent(&key, b"second".to_vec())
            .await
            .expect("answered"),
        "the key exists"
    );
    let body = store.get_object(&key).await.expect("read").expect("exists");
    assert_eq!(&body[..], b"first");
    assert_eq!(
        store
            .list_objects(&["_leases", "plan"])
            .await
            .expect("list"),
        vec!["00000000000000000001.json".to_owned()]
    );
}

async fn of_concurrent_creators_exactly_one_wins(store: Store) {
    for round in 0..5 {
        let name = format!("{round:020}.json");
        let tries = (0..8).map(|i| {
            let (store, name) = (store.clone(), name.clone());
            tokio::spawn(async move {
                let body = format!("writer {i}").into_bytes();
                let created = store
                    .put_object_if_absent(&["_leases", "race", &name], body)
                    .await
                    .expect("answered");
                (i, created)
            })
        });
        let results = futures::future::join_all(tries).await;
        let winners: Vec<usize> = results
            .into_iter()
            .map(|r| r.expect("task"))
            .filter(|(_, created)| *created)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let body = store
            .get_object(&["_leases", "race", &name])
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(body, format!("writer {}", winners[0]).into_bytes());
    }
}

macro_rules! suite {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn a_second_create_is_refused_and_changes_nothing() {
                let Some((store, _guard)) = $make else { return };
                super::a_second_create_is_refused_and_changes_nothing(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn of_concurrent_creators_exactly_one_wins() {
                let Some((store, _guard)) = $make else { return };
                super::of_concurrent_creators_exactly_one_wins(store).await;
            }
        }
    };
}

fn local() -> Option<(Store, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().to_str().expect("utf-8 path")).expect("open");
    Some((store, dir))
}

/// A bucket on a fresh moto server, opened the way `ecrgc` opens an `s3://` store (the
/// builder's defaults, so the conditional put is object_store's default).
fn s3_on_moto() -> Option<(Store, ecrgc_testkit::Moto)> {
    let moto = ecrgc_testkit::Moto::start()?;
    moto.create_bucket("snapshots");
    let credentials: object_store::aws::AwsCredentialProvider = std::sync::Arc::new(
        object_store::StaticCredentialProvider::new(object_store::aws::AwsCredential {
            key_id: ecrgc_testkit::ACCESS_KEY.to_owned(),
            secret_key: ecrgc_testkit::SECRET_KEY.to_owned(),
            token: None,
        }),
    );
    // `Store::open_with` reads the endpoint from the environment as production does; the
    // test sets it on the builder instead, so tests running in parallel do not share it.
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(moto.url())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name("snapshots")
        .with_credentials(credentials)
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
