//! The `ecrgc-exec` binary on its own: admission and resumption need no AWS, so these run
//! without a server. The full cycle against moto is in the `ecrgc` crate's tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ecrgc_manifest::{Evidence, Header, Item, MANIFEST_VERSION, Manifest, Totals};
use ecrgc_review::{Approval, Binding, HeaderFields, PlanHeader, ReviewedPlan, WhatIf};
use ecrgc_store::Store;

const PLANNER: &str = "arn:aws:sts::111111111111:assumed-role/ecrgc-planner/nightly";

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
    /// A plan of three items, made now by the defaults, recorded in a local store.
    async fn new() -> Self {
        Self::planned(chrono::Utc::now().timestamp_micros(), WhatIf::new()).await
    }

    /// The same plan made at `now` with `what_if` reasons.
    async fn planned(now: i64, what_if: WhatIf) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("store").display().to_string();
        let opened = Store::open(&store).expect("store");
        let items = vec![item("sha256:aa"), item("sha256:bb"), item("sha256:cc")];
        let mut plan = PlanHeader::new(HeaderFields {
            kind: ecrgc_manifest::KIND,
            run_id: "run-1",
            snapshot_time: now - 3_600_000_000,
            now,
            wall_clock: chrono::Utc::now().timestamp_micros(),
            ttl_hours: 72,
            what_if,
            catalog_sha256: "c".into(),
            planned_by: Some(PLANNER.into()),
            config: Binding::new(false, ecrgc_config::Config::default().bound_settings()),
            store: opened.display(),
        });
        plan.items_sha256 = ecrgc_manifest::items_sha256(items.iter().map(|i| i.item_id.as_str()));
        let manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            header: Header {
                plan,
                totals: Totals {
                    images: 3,
                    bytes: 3072,
                },
            },
            items,
        };
        let record = manifest.record();
        let parts = ecrgc_review::record_parts(&record.plan_id);
        opened
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

    /// Records an approval by `arn` of the items of `m`.
    async fn approve(&self, arn: &str, m: &Manifest) {
        let approval = Approval {
            plan_id: m.plan_id(),
            kind: ecrgc_manifest::KIND.into(),
            principal_arn: arn.into(),
            principal: ecrgc_review::principal_key(arn),
            approved_at: "2026-12-01T00:00:00Z".into(),
            item_ids: m.items.iter().map(|i| i.item_id.clone()).collect(),
            comment: None,
            tool_version: "0".into(),
        };
        ecrgc_review::write_approval(&Store::open(&self.store).expect("store"), &approval)
            .await
            .expect("approval");
    }

    /// A journal in which every item of `m` is deleted, so an apply needs no AWS.
    fn all_done(&self, name: &str, m: &Manifest) {
        let id = m.header.manifest_id();
        let lines: String = m
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
        std::fs::write(self.dir.path().join(format!("{name}.journal.jsonl")), lines)
            .expect("journal");
    }

    fn write(&self, name: &str, m: &Manifest) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(m).expect("json")).expect("write");
        path
    }

    fn exec(&self, manifest: &Path, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ecrgc-exec"))
            .arg(manifest)
            .args(["--store", &self.store])
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
    other_plan.header.plan.run_id = "run-2".into();
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
    f.all_done("reviewed", &cut);
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

/// Writes `body` as a configuration file in the fixture's folder.
fn config(f: &Fixture, body: &str) -> String {
    let path = f.dir.path().join("ecrgc.toml");
    std::fs::write(&path, body).expect("config");
    path.display().to_string()
}

#[tokio::test]
async fn a_what_if_plan_is_refused_by_yes_and_shown_by_a_dry_run() {
    let ahead = chrono::Utc::now().timestamp_micros() + 200 * 86_400_000_000;
    let f = Fixture::planned(ahead, WhatIf::new()).await;
    let path = f.write("ahead.json", &f.manifest);
    let o = f.exec(&path, &["--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("what-if"), "{err}");
    assert!(
        err.contains("d 23 h ahead of") || err.contains("200 d ahead of"),
        "{err}"
    );
    assert!(!f.dir.path().join("ahead.journal.jsonl").exists());

    // A dry run shows what --yes would refuse (here it then fails on the closed AWS port,
    // which is the point: it went past admission).
    let o = f.exec(&path, &[]);
    assert!(
        text(&o.stderr).contains("apply --yes would refuse this plan"),
        "{}",
        text(&o.stderr)
    );

    let f = Fixture::planned(
        chrono::Utc::now().timestamp_micros(),
        WhatIf::new().because("--rule never_used"),
    )
    .await;
    let path = f.write("rule.json", &f.manifest);
    let o = f.exec(&path, &["--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--rule never_used"));
}

#[tokio::test]
async fn now_is_for_dry_runs_only() {
    let f = Fixture::new().await;
    let path = f.write("m.json", &f.manifest);
    let o = f.exec(&path, &["--yes", "--now", "2026-11-21T06:00:00Z"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--now is for dry runs"));
}

#[tokio::test]
async fn a_changed_configuration_is_refused_naming_the_key() {
    let f = Fixture::new().await;
    let path = f.write("m.json", &f.manifest);
    let c = config(
        &f,
        "[rules]\nunused_days = 30\n[pricing]\nstorage_gb_month = 0.5\n",
    );
    let o = f.exec(&path, &["--yes", "--config", &c]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("in rules.unused_days;"), "{err}");
    assert!(!err.contains("pricing"), "{err}");
}

#[tokio::test]
async fn approvals_are_required_counted_from_others_and_narrow_the_run() {
    let f = Fixture::new().await;
    let path = f.write("m.json", &f.manifest);
    let c = config(&f, "[safety]\napprovals_required = 1\n");
    f.all_done("m", &f.manifest);

    // None yet: refused before any AWS call (the endpoint is a closed port anyway).
    let o = f.exec(&path, &["--yes", "--config", &c]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("needs 1 approval"),
        "{}",
        text(&o.stderr)
    );

    // The planner's own role does not count, whatever the session name.
    f.approve(
        "arn:aws:sts::111111111111:assumed-role/ecrgc-planner/someone-else",
        &f.manifest,
    )
    .await;
    let o = f.exec(&path, &["--yes", "--config", &c]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("(the planner)"),
        "{}",
        text(&o.stderr)
    );

    // A reviewer who kept two of the three items: the run covers those two only.
    let mut reviewed = f.manifest.clone();
    reviewed.items.remove(0);
    f.approve(
        "arn:aws:sts::111111111111:assumed-role/reviewer/alice",
        &reviewed,
    )
    .await;
    let o = f.exec(&path, &["--yes", "--config", &c]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("approved by arn:aws:iam::111111111111:role/reviewer"),
        "{err}"
    );
    assert!(
        err.contains("1 item(s) of the file are left alone"),
        "{err}"
    );
    assert!(
        text(&o.stdout).contains("2 of 3 planned items"),
        "{}",
        text(&o.stdout)
    );
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
