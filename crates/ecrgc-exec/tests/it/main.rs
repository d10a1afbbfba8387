//! The `ecrgc-exec` binary on its own: admission and resumption need no AWS, so these run
//! without a server. The full cycle against moto is in the `ecrgc` crate's tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ecrgc_manifest::{Evidence, Header, Item, MANIFEST_VERSION, Manifest, PlannedRecord, Totals};
use ecrgc_store::Store;

fn item(digest: &str) -> Item {
    let mut item = Item {
        item_id: String::new(),
        account_id: "111111111111".into(),
        region: "eu-west-1".into(),
        repository_name: "app".into(),
        image_digest: digest.into(),
        image_tags: vec![],
        image_size_bytes: 1024,
        image_manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        rule: "never_used".into(),
        parent_digests: vec![],
        replicas: vec![],
        replica_bytes: 0,
        replica_destinations: vec![],
        evidence: Evidence::default(),
    };
    item.item_id = item.compute_id();
    item
}

struct Fixture {
    dir: tempfile::TempDir,
    store: String,
    manifest: Manifest,
}

impl Fixture {
    /// A plan of three items recorded in a local store.
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("store").display().to_string();
        let items = vec![item("sha256:aa"), item("sha256:bb"), item("sha256:cc")];
        let manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            header: Header {
                run_id: "run-1".into(),
                snapshot_time: "2026-11-21T00:00:00Z".into(),
                created_at: "2026-11-21T00:00:00Z".into(),
                expires_at: "2026-11-24T00:00:00Z".into(),
                config_hash: "c".into(),
                tool_version: "0".into(),
                store: store.clone(),
                totals: Totals {
                    images: 3,
                    bytes: 3072,
                },
                items_sha256: ecrgc_manifest::items_sha256(
                    items.iter().map(|i| i.item_id.as_str()),
                ),
            },
            items,
        };
        let record = manifest.planned_record();
        let parts = PlannedRecord::store_parts(&record.manifest_id);
        Store::open(&store)
            .expect("store")
            .put_object(
                &[&parts[0], &parts[1]],
                serde_json::to_vec(&record).expect("json"),
            )
            .await
            .expect("record");
        Self {
            dir,
            store,
            manifest,
        }
    }

    fn write(&self, name: &str, m: &Manifest) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(m).expect("json")).expect("write");
        path
    }

    fn exec(&self, manifest: &Path, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ecrgc-exec"))
            .arg(manifest)
            .args(["--store", &self.store, "--now", "2026-11-21T06:00:00Z"])
            .args(extra)
            .env_remove("ECRGC_CONFIG")
            .env_remove("ECRGC_STORE")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "eu-west-1")
            .output()
            .expect("ecrgc-exec runs")
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn an_extended_or_unrecorded_manifest_is_refused_with_status_2() {
    let f = Fixture::new().await;
    let mut extended = f.manifest.clone();
    extended.items.push(item("sha256:dd"));
    let path = f.write("extended.json", &extended);
    let o = f.exec(&path, &["--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("item 3 (app@sha256:dd"),
        "{}",
        text(&o.stderr)
    );

    let mut other_plan = f.manifest.clone();
    other_plan.header.run_id = "run-2".into();
    let path = f.write("other.json", &other_plan);
    let o = f.exec(&path, &["--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("does not match any plan recorded"));
    assert!(!f.dir.path().join("other.journal.jsonl").exists());
}

#[tokio::test]
async fn a_manifest_whose_items_the_journal_finished_needs_no_aws() {
    let f = Fixture::new().await;
    let mut cut = f.manifest.clone();
    cut.items.remove(1);
    let path = f.write("reviewed.json", &cut);
    let id = cut.header.manifest_id();
    let lines: String = cut
        .items
        .iter()
        .enumerate()
        .map(|(n, i)| {
            format!(
                "{{\"at\":\"2026-11-21T05:00:00.000Z\",\"manifest_id\":\"{id}\",\"session\":\"s1\",\
                 \"seq\":{},\"event\":\"deleted\",\"item_id\":\"{}\",\"account_id\":\"{}\",\
                 \"region\":\"{}\",\"repository_name\":\"{}\",\"image_digest\":\"{}\",\"bytes\":1024}}\n",
                n + 1,
                i.item_id,
                i.account_id,
                i.region,
                i.repository_name,
                i.image_digest
            )
        })
        .collect();
    std::fs::write(f.dir.path().join("reviewed.journal.jsonl"), lines).expect("journal");
    // AWS_ENDPOINT_URL points at a closed port: any call would fail the run.
    let o = f.exec(&path, &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("2 of 3 planned items"), "{out}");
    assert!(
        out.contains("deleted                2 images, 2.0 KiB freed"),
        "{out}"
    );
    assert!(out.contains("earlier                2"), "{out}");
}

#[test]
fn help_says_it_is_a_dry_run_without_yes() {
    let o = Command::new(env!("CARGO_BIN_EXE_ecrgc-exec"))
        .arg("--help")
        .output()
        .expect("runs");
    assert!(o.status.success());
    assert!(text(&o.stdout).contains("Without it nothing is deleted"));
}
