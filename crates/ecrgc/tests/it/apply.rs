//! `ecrgc apply` against the moto organization: collect → plan → review → apply, with the
//! world changing between plan and apply, a crash in the middle, refused manifests and a
//! throttling storm. moto's call log is the witness of what was deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ecrgc_manifest::Manifest;
use serde_json::{Value, json};

use crate::common::moto::{Env, at, manifest_keys, python};
use crate::common::planned::{APPLY_SETTINGS, Planned, manifest_digests};
use crate::common::{s, stderr};

#[test]
fn a_dry_run_changes_nothing_then_apply_deletes_exactly_the_manifest() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    let manifest = p.manifest();
    let planned = manifest_digests(&manifest);
    assert_eq!(
        manifest_keys(&p.out).len(),
        12,
        "the scenario plans 12 deletions"
    );

    // Someone deletes one planned image by hand after the plan: ECR then fails a whole
    // DescribeImages batch, which the executor halves until it finds the missing image.
    let gone = p.digest("inactive-td");
    delete_by_hand(&p.env, "payments/api", &gone);
    let by_hand = p.delete_calls();
    let mut rest = planned.clone();
    rest.remove(&gone);

    let listing = p.apply_ok(&manifest, &[]);
    let action = |a: &str| -> BTreeSet<String> {
        listing
            .lines()
            .filter(|l| l.split('\t').next() == Some(a))
            .map(|l| l.split('\t').nth(4).expect("digest").to_owned())
            .collect()
    };
    assert_eq!(action("would_delete"), rest, "{listing}");
    assert_eq!(
        action("absent"),
        BTreeSet::from([gone.clone()]),
        "{listing}"
    );
    assert_eq!(p.delete_calls(), by_hand, "a dry run deletes nothing");
    assert!(
        p.journal(&manifest).is_empty(),
        "a dry run journals nothing"
    );

    let summary = p.apply_ok(&manifest, &["--yes"]);
    assert!(
        summary.contains("deleted               11 images"),
        "{summary}"
    );
    assert!(summary.contains("already gone           1"), "{summary}");
    let deleted = p.delete_calls()[by_hand.len()..].to_vec();
    assert_eq!(
        deleted.iter().cloned().collect::<BTreeSet<_>>(),
        rest,
        "exactly the manifest went to BatchDeleteImage"
    );
    assert_eq!(deleted.len(), rest.len(), "each image once: {deleted:?}");
    let position = |name: &str| {
        let d = p.digest(name);
        deleted.iter().position(|x| *x == d).expect("deleted")
    };
    for child in ["child-amd64", "child-arm64"] {
        assert!(position("index") < position(child), "the index goes first");
    }
    let events = p.final_events(&manifest);
    for d in &rest {
        assert_eq!(events[d].0, "deleted", "{events:?}");
    }
    assert_eq!(events[&gone].0, "absent");
    // The store's journal is a table of `ecrgc query`.
    let o = p.env.ecrgc(&[
        "query",
        "SELECT event, COUNT(*) AS n FROM journal \
         WHERE event IN ('deleted', 'absent') GROUP BY event ORDER BY event",
        "--store",
        &p.store,
        "--format",
        "csv",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "event,n\nabsent,1\ndeleted,11\n",
        "{}",
        stderr(&o)
    );

    // The same manifest again: everything is done, nothing is repeated; also when the local
    // journal is lost (a new container), from the store's copy.
    let again = p.apply_ok(&manifest, &["--yes"]);
    assert!(again.contains("earlier               12"), "{again}");
    std::fs::remove_file(ecrgc_exec::cli::default_journal(&manifest)).expect("remove");
    let again = p.apply_ok(&manifest, &["--yes"]);
    assert!(again.contains("earlier               12"), "{again}");
    assert_eq!(
        p.delete_calls().len(),
        by_hand.len() + rest.len(),
        "no second deletion"
    );
}

/// Runs a Python script with the test Python (boto3 at hand); it must succeed.
/// Deletes an image of the central registry through boto3, as a person would.
fn delete_by_hand(env: &Env, repository: &str, digest: &str) {
    let script = r#"
import sys
import boto3
url, repository, digest = sys.argv[1:4]
ecr = boto3.client("ecr", endpoint_url=url, region_name="eu-west-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
got = ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
assert not got["failures"], got
"#;
    python(env, script, &[env.moto.url(), repository, digest]);
}

#[test]
fn a_cut_manifest_and_changes_since_the_plan_are_respected() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    // The reviewer removes one image and the index (keeping its children).
    let reviewed = p.cut(&["worker-old", "index"]);
    // After the plan: a pull of one image, a new task definition naming another by digest,
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"images": [{
            "account_id": p.key("private-old").0, "region": p.key("private-old").1,
            "repository_name": p.key("private-old").2, "image_digest": p.digest("private-old"),
            "last_recorded_pull_time": at(3)}]}),
    );
    // Inspector starts seeing another one in use.
    let (account, region, repo, digest) = p.key("stopped-long-ago");
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"coverage": [{
            "account_id": account, "region": region, "repository_name": repo,
            "image_digest": digest, "image_tags": ["s1"], "in_use_count": 1,
            "last_in_use_at": at(4), "scan_status": "ACTIVE"}]}),
    );
    let (account, region, repo, digest) = p.key("etl-old");
    register_task_definition(
        &p.env,
        "222222222222",
        "us-east-1",
        &format!("{account}.dkr.ecr.{region}.amazonaws.com/{repo}@{digest}"),
    );

    p.apply_ok(&reviewed, &["--yes"]);
    let deleted: BTreeSet<String> = p.delete_calls().into_iter().collect();
    let expected: BTreeSet<String> = [
        "old-unused",
        "old-unused-sig",
        "stale",
        "stale-sbom",
        "inactive-td",
    ]
    .iter()
    .map(|n| p.digest(n))
    .collect();
    assert_eq!(deleted, expected);
    let events = p.final_events(&reviewed);
    let reason = |name: &str| events.get(&p.digest(name)).cloned().unwrap_or_default();
    assert_eq!(
        reason("private-old"),
        ("skipped".into(), "pulled_since_snapshot".into())
    );
    assert_eq!(
        reason("etl-old"),
        ("skipped".into(), "in_use_reference".into())
    );
    assert_eq!(
        reason("child-amd64"),
        ("skipped".into(), "parent_kept".into())
    );
    assert_eq!(
        reason("child-arm64"),
        ("skipped".into(), "parent_kept".into())
    );
    assert!(
        !events.contains_key(&p.digest("worker-old")),
        "a cut item is not touched"
    );
}

/// Registers a task definition in `account` through boto3 (the scenario's credentials).
fn register_task_definition(env: &Env, account: &str, region: &str, image: &str) {
    let script = r#"
import sys
import boto3
from botocore.config import Config
sys.path.insert(0, sys.argv[1])
from scenario import account_credentials
url, account, region, image = sys.argv[2:6]
creds = account_credentials(url, account, Config(retries={"max_attempts": 1}), {}, "ecrgc-test")
ecs = boto3.client("ecs", endpoint_url=url, region_name=region, **creds)
ecs.register_task_definition(family="late-arrival",
                             containerDefinitions=[{"name": "app", "image": image, "memory": 128}])
"#;
    let root = s(&ecrgc_testkit::repo_root().join("testing/moto"));
    python(
        env,
        script,
        &[&root, env.moto.url(), account, region, image],
    );
}

#[test]
fn a_crash_mid_run_resumes_and_deletes_each_image_exactly_once() {
    let settings = format!("{APPLY_SETTINGS}batch_size = 1\nparallel_repositories = 1\n");
    let Some(p) = Planned::new(None, &settings) else {
        return;
    };
    let manifest = p.manifest();
    let planned = manifest_digests(&manifest);
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"delays": [{"service": "ecr", "operation": "BatchDeleteImage", "ms": 300}]}),
    );
    let (config, m) = (s(&p.config), s(&manifest));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecrgc"));
    cmd.args([
        "apply", &m, "--config", &config, "--store", &p.store, "--yes",
    ])
    .env("NO_COLOR", "1")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in p.env.moto.env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn apply");
    let started = Instant::now();
    loop {
        let deleted = p
            .journal(&manifest)
            .iter()
            .filter(|e| e["event"] == "deleted")
            .count();
        if deleted >= 2 {
            break;
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "apply ended before the crash"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    // The request the dead process had in flight still completes on the server; an operator
    // re-runs later than that. (Were it still in flight, the resumed run would find the image
    // present and send it again, and the late duplicate would answer ImageNotFound.)
    std::thread::sleep(Duration::from_millis(500));
    let before = p.delete_calls();
    assert!(
        before.len() < planned.len(),
        "the crash came mid-run ({} of {})",
        before.len(),
        planned.len()
    );

    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"delays": [{"service": "ecr", "operation": "BatchDeleteImage", "ms": 0}]}),
    );
    let summary = p.apply_ok(&manifest, &["--yes"]);
    let deleted = p.delete_calls();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &deleted {
        *counts.entry(d).or_default() += 1;
    }
    assert!(
        counts.values().all(|n| *n == 1),
        "a deletion was repeated: {counts:?}"
    );
    assert_eq!(
        counts
            .keys()
            .map(|d| d.to_string())
            .collect::<BTreeSet<_>>(),
        planned,
        "{summary}"
    );
    let events = p.final_events(&manifest);
    assert!(
        planned.iter().all(|d| matches!(
            events.get(d).map(|e| e.0.as_str()),
            Some("deleted" | "absent")
        )),
        "every item ends done in the journal: {events:?}"
    );
    let sessions: BTreeSet<String> = p
        .journal(&manifest)
        .iter()
        .map(|e| e["session"].as_str().expect("session").to_owned())
        .collect();
    assert_eq!(sessions.len(), 2, "two sessions in one journal");
}

#[test]
fn tampered_extended_expired_and_corrupt_manifests_are_refused_before_any_call() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    let manifest = p.manifest();
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let parsed = Manifest::from_json("m", &text).expect("valid");
    let write = |name: &str, body: &str| {
        let path = p.env.path(name);
        std::fs::write(&path, body).expect("write");
        path
    };

    // An item altered (another repository) without fixing its id.
    let mut m: Value = serde_json::from_str(&text).expect("json");
    m["items"][0]["repository_name"] = json!("payments/other");
    let tampered = write("tampered.json", &m.to_string());
    // An item added, with a correct id: an image the plan keeps.
    let mut extra = parsed.items[0].clone();
    let (_, _, repo, digest) = p.key("recent-use");
    extra.repository_name = repo;
    extra.image_digest = digest;
    extra.item_id = extra.compute_id();
    let mut extended = parsed.clone();
    extended.items.push(extra);
    let extended = write(
        "extended.json",
        &serde_json::to_string(&extended).expect("json"),
    );
    // The expiry pushed back by a week.
    let mut later = parsed.clone();
    later.header.plan.expires_at = at(24 * 10);
    let later = write("later.json", &serde_json::to_string(&later).expect("json"));
    let corrupt = write("corrupt.json", &text[..text.len() / 2]);
    let future = write(
        "future.json",
        &text.replacen("\"manifest_version\": 2", "\"manifest_version\": 3", 1),
    );

    p.env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let after_expiry = at(24 * 4);
    let cases: [(&Path, &[&str], &str); 6] = [
        (&tampered, &["--yes"], "was altered"),
        (&extended, &["--yes"], "was not planned"),
        (&later, &["--yes"], "header.expires_at does not match"),
        (&corrupt, &["--yes"], "not a valid manifest"),
        (&future, &["--yes"], "manifest_version 3 is not supported"),
        (&manifest, &["--now", &after_expiry], "has passed"),
    ];
    for (path, extra, message) in cases {
        let o = p.apply(path, extra);
        assert_eq!(o.status.code(), Some(2), "{path:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(message) && stderr(&o).contains(&s(path)),
            "{path:?}: expected {message:?} and the file name in:\n{}",
            stderr(&o)
        );
    }
    let made = p.env.moto.get("/_ecrgc/calls");
    assert_eq!(made, json!([]), "no API call was made");
    assert!(!ecrgc_exec::cli::default_journal(&tampered).exists());
}

#[test]
fn a_throttling_storm_still_completes() {
    let faults = json!([
        {"service": "ecr", "operation": "BatchDeleteImage", "status": 400,
         "code": "ThrottlingException", "times": 8},
        {"service": "ecr", "operation": "DescribeImages", "status": 400,
         "code": "ThrottlingException", "times": 8},
    ]);
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    p.env.moto.post("/_ecrgc/seed", &json!({"faults": faults}));
    let manifest = p.manifest();
    let summary = p.apply_ok(&manifest, &["--yes"]);
    assert!(
        summary.contains("deleted               12 images"),
        "{summary}"
    );
    let throttled: u64 = summary
        .lines()
        .find(|l| l.contains("API calls"))
        .and_then(|l| l.split('(').nth(1))
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("throttle count");
    assert_eq!(throttled, 16, "{summary}");
}

#[test]
fn archive_mode_archives_instead_of_deleting() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    let manifest = p.manifest();
    let summary = p.apply_ok(&manifest, &["--yes", "--archive"]);
    assert!(
        summary.contains("archived              12 images"),
        "{summary}"
    );
    assert!(p.delete_calls().is_empty(), "nothing deleted");
    let seeded = p.env.moto.get("/_ecrgc/seed");
    let archived: BTreeSet<String> = seeded["images"]
        .as_array()
        .expect("images")
        .iter()
        .filter(|i| i["imageStatus"] == "ARCHIVED")
        .map(|i| i["image_digest"].as_str().expect("digest").to_owned())
        .collect();
    let planned = manifest_digests(&manifest);
    assert!(planned.is_subset(&archived), "{archived:?}");
    // worker-archived was archived before the plan and is not in the manifest.
    assert_eq!(archived.len(), planned.len() + 1);
}

/// A listing whose token repeats while the executor re-reads live references is a failed
/// reading: nothing is deleted, and the apply ends instead of looping.
#[test]
fn a_repeating_page_token_in_a_reference_reading_deletes_nothing() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"page_size": {"ecs": 1},
                "repeat_tokens": [{"service": "ecs", "operation": "ListTaskDefinitions"}]}),
    );
    let (config, manifest) = (s(&p.config), s(&p.manifest()));
    let o = p.env.ecrgc_within(
        &[
            "apply", &manifest, "--config", &config, "--store", &p.store, "--yes",
        ],
        Duration::from_secs(180),
    );
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(p.delete_calls().is_empty(), "nothing is deleted: {out}");
    assert!(out.contains("reference_check_failed"), "{out}");
    assert_eq!(o.status.code(), Some(3), "blocked, not failed: {out}");
    let journal = std::fs::read_to_string(p.out.join("manifest.journal.jsonl")).expect("journal");
    assert!(
        journal.contains("pagination token repeated"),
        "the journal says why: {journal}"
    );
}
