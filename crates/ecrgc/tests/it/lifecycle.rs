//! `ecrgc lifecycle suggest --out` → `ecrgc apply lifecycle-plan.json` against moto.
//!
//! Beside the scenario organization, an opted-in repository `ci/builds` holds 14 CI builds
//! tagged `ci-1` … `ci-14` (newest last, all older than `min_age_days`); `ci-8`, rank 7 from
//! the newest, is in use per Inspector. The suggestion is "keep the newest 10 tagged ci-*"
//! (rank 7 + the default margin 3), expiring `ci-1` … `ci-4`. moto has no lifecycle preview,
//! so the executor evaluates the policy with ecrgc's simulator on live DescribeImages; moto's
//! call log is the witness of what was put.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::moto::{CONFIG, Env, at, now, python};
use crate::common::{DEMO_NOW, demo, ecrgc, regex_escape, s};

const REPO: &str = "ci/builds";
const CENTRAL: &str = "111111111111";
const EU: &str = "eu-west-1";

struct Lc {
    env: Env,
    config: PathBuf,
    store: String,
    plan: PathBuf,
    /// Digests of ci-1 … ci-14.
    digests: Vec<String>,
}

/// Runs a Python script with the test Python (boto3 at hand); returns its stdout.
const ECR_CLIENT: &str = r#"
import json, sys, hashlib
import boto3
url = sys.argv[1]
ecr = boto3.client("ecr", endpoint_url=url, region_name="eu-west-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
"#;

fn ago(days: i64) -> String {
    let now = chrono::DateTime::parse_from_rfc3339(now()).expect("now");
    (now - chrono::Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Lc {
    fn new() -> Option<Self> {
        let env = Env::start(None)?;
        let script = format!(
            "{ECR_CLIENT}
ecr.create_repository(repositoryName='{REPO}', tags=[{{'Key': 'ecrgc:auto-delete', 'Value': 'true'}}])
digests = []
for n in range(1, 15):
    m = {{'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
         'config': {{'mediaType': 'application/vnd.oci.image.config.v1+json', 'size': 100 + n,
                    'digest': 'sha256:' + hashlib.sha256(f'config:ci-{{n}}'.encode()).hexdigest()}},
         'layers': [{{'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip', 'size': 1000000 + n,
                     'digest': 'sha256:' + hashlib.sha256(f'layer:ci-{{n}}'.encode()).hexdigest()}}]}}
    got = ecr.put_image(repositoryName='{REPO}', imageManifest=json.dumps(m), imageTag=f'ci-{{n}}')
    digests.append(got['image']['imageId']['imageDigest'])
print(json.dumps(digests))
"
        );
        let digests: Vec<String> =
            serde_json::from_str(&python(&env, &script, &[env.moto.url()])).expect("digests");
        // ci-n was pushed 30 - n days ago: ci-14 is the newest, 16 days old.
        let images: Vec<Value> = digests
            .iter()
            .enumerate()
            .map(|(i, d)| {
                json!({"account_id": CENTRAL, "region": EU, "repository_name": REPO,
                       "image_digest": d, "image_pushed_at": ago(29 - i as i64)})
            })
            .collect();
        let coverage = json!([{"account_id": CENTRAL, "region": EU, "repository_name": REPO,
            "image_digest": digests[7], "image_tags": ["ci-8"], "last_in_use_at": ago(1),
            "in_use_count": 1, "image_pulled_at": null, "scan_status": "ACTIVE",
            "last_scanned_at": ago(1)}]);
        env.moto.post(
            "/_ecrgc/seed",
            &json!({"images": images, "coverage": coverage}),
        );
        let config = env.config(
            "ecrgc.toml",
            &format!("{CONFIG}\n[apply]\ninitial_backoff_ms = 5\nmax_backoff_ms = 100\n"),
        );
        let store = s(&env.path("store"));
        env.ok(&[
            "collect",
            "--config",
            &s(&config),
            "--store",
            &store,
            "--now",
            now(),
        ]);
        let out = env.path("lifecycle");
        let text = env.ok(&[
            "lifecycle",
            "suggest",
            "--config",
            &s(&config),
            "--store",
            &store,
            "--now",
            now(),
            "--repository",
            &format!("{CENTRAL}/{EU}/{REPO}"),
            "--out",
            &s(&out),
        ]);
        assert!(
            text.contains("keep the newest 10 images tagged ci-*"),
            "{text}"
        );
        assert!(text.contains("rank 7 (recent_use"), "{text}");
        Some(Self {
            env,
            config,
            store,
            plan: out.join("lifecycle-plan.json"),
            digests,
        })
    }

    fn apply(&self, plan: &Path, extra: &[&str]) -> std::process::Output {
        let (config, plan) = (s(&self.config), s(plan));
        let mut args = vec!["apply", &plan, "--config", &config, "--store", &self.store];
        args.extend_from_slice(extra);
        self.env.ecrgc(&args)
    }

    fn apply_ok(&self, extra: &[&str]) -> String {
        let o = self.apply(&self.plan, extra);
        assert!(
            o.status.success(),
            "apply {extra:?} failed ({})\n--- stdout\n{}--- stderr\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// PutLifecyclePolicy calls moto answered.
    fn puts(&self) -> u64 {
        self.calls("PutLifecyclePolicy")
    }

    fn calls(&self, operation: &str) -> u64 {
        self.env
            .moto
            .get("/_ecrgc/calls")
            .as_array()
            .expect("calls")
            .iter()
            .filter(|c| operation == "*" || c["operation"] == operation)
            .map(|c| c["count"].as_u64().unwrap_or(0))
            .sum()
    }

    fn live_policy(&self) -> Option<Value> {
        let script = format!(
            "{ECR_CLIENT}
try:
    print(ecr.get_lifecycle_policy(repositoryName='{REPO}')['lifecyclePolicyText'])
except ecr.exceptions.LifecyclePolicyNotFoundException:
    print('null')
"
        );
        serde_json::from_str(&python(&self.env, &script, &[self.env.moto.url()])).expect("policy")
    }

    fn put_by_hand(&self, count: u32) {
        let script = format!(
            "{ECR_CLIENT}
ecr.put_lifecycle_policy(repositoryName='{REPO}', lifecyclePolicyText=json.dumps({{'rules': [
    {{'rulePriority': 1, 'selection': {{'tagStatus': 'untagged', 'countType': 'imageCountMoreThan',
      'countNumber': {count}}}, 'action': {{'type': 'expire'}}}}]}}))
"
        );
        python(&self.env, &script, &[self.env.moto.url()]);
    }

    fn plan_json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.plan).expect("plan")).expect("json")
    }
}

#[test]
fn a_dry_run_puts_nothing_then_yes_puts_the_policy_once() {
    let Some(lc) = Lc::new() else { return };
    let plan = lc.plan_json();
    assert_eq!(plan["header"]["kind"], "lifecycle");
    let items = plan["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{plan:#}");
    assert_eq!(items[0]["expires_now"]["images"], 4);
    assert!(
        items[0]["kept_digests"]
            .as_array()
            .expect("kept")
            .contains(&json!(lc.digests[7]))
    );

    lc.env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let dry = lc.apply_ok(&[]);
    assert!(
        dry.contains(&format!("would_put\t{CENTRAL}\t{EU}\t{REPO}\t")),
        "{dry}"
    );
    assert!(
        dry.contains("\t4\t"),
        "the simulator expires ci-1 … ci-4 live: {dry}"
    );
    assert_eq!(lc.puts(), 0, "a dry run puts nothing");
    assert!(lc.calls("GetLifecyclePolicy") >= 1);
    assert!(lc.live_policy().is_none());

    let done = lc.apply_ok(&["--yes"]);
    assert!(done.contains("put                    1 policies"), "{done}");
    assert_eq!(lc.puts(), 1);
    let live = lc.live_policy().expect("a policy in place");
    assert_eq!(
        live["rules"][0]["selection"]["tagPrefixList"],
        json!(["ci-"])
    );
    assert_eq!(live["rules"][0]["selection"]["countNumber"], 10);

    let journal = ecrgc_exec::cli::default_journal(&lc.plan);
    let events: Vec<String> = std::fs::read_to_string(&journal)
        .expect("journal")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("line")["event"].to_string())
        .collect();
    assert!(events.contains(&"\"intent\"".to_owned()), "{events:?}");
    assert!(events.contains(&"\"policy_put\"".to_owned()), "{events:?}");

    // Again: done by the earlier apply, never put twice.
    let again = lc.apply_ok(&["--yes"]);
    assert!(again.contains("(done by an earlier apply"), "{again}");
    assert_eq!(lc.puts(), 1);
}

#[test]
fn an_edited_or_extended_plan_is_refused_before_any_call() {
    let Some(lc) = Lc::new() else { return };
    lc.env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let text = std::fs::read_to_string(&lc.plan).expect("plan");
    for (name, edited) in [
        (
            "altered",
            text.replace("\"countNumber\": 10", "\"countNumber\": 1"),
        ),
        (
            "header",
            text.replace("\"expires_at\": \"", "\"expires_at\": \"2099"),
        ),
    ] {
        assert_ne!(edited, text, "{name}: the edit applies");
        let path = lc.env.path(&format!("{name}.json"));
        std::fs::write(&path, edited).expect("write");
        let o = lc.apply(&path, &["--yes"]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("was altered") || err.contains("does not match any lifecycle plan"),
            "{name}: {err}"
        );
    }
    let o = lc.apply(&lc.plan, &["--now", &at(24 * 40)]);
    assert_eq!(o.status.code(), Some(2), "expired");
    assert!(String::from_utf8_lossy(&o.stderr).contains("has passed"));
    assert_eq!(lc.calls("*"), 0, "no AWS call for a refused plan");
    assert!(lc.live_policy().is_none());
}

#[test]
fn a_policy_changed_since_the_plan_is_not_replaced() {
    let Some(lc) = Lc::new() else { return };
    lc.put_by_hand(5);
    lc.env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let out = lc.apply_ok(&["--yes"]);
    assert!(out.contains("policy_changed"), "{out}");
    assert_eq!(lc.puts(), 0);
    let live = lc.live_policy().expect("the hand-made policy");
    assert_eq!(live["rules"][0]["selection"]["countNumber"], 5);
}

#[test]
fn builds_pushed_since_the_snapshot_that_would_expire_a_kept_image_block_the_put() {
    let Some(lc) = Lc::new() else { return };
    // Four new CI builds: ci-8, kept (in use), falls from rank 7 to rank 11, beyond the
    // newest 10 the policy keeps.
    let script = format!(
        "{ECR_CLIENT}
for n in range(15, 19):
    m = {{'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
         'config': {{'mediaType': 'application/vnd.oci.image.config.v1+json', 'size': 100 + n,
                    'digest': 'sha256:' + hashlib.sha256(f'config:ci-{{n}}'.encode()).hexdigest()}},
         'layers': []}}
    ecr.put_image(repositoryName='{REPO}', imageManifest=json.dumps(m), imageTag=f'ci-{{n}}')
"
    );
    python(&lc.env, &script, &[lc.env.moto.url()]);
    lc.env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let out = lc.apply_ok(&["--yes"]);
    assert!(out.contains("would_expire_kept"), "{out}");
    assert_eq!(lc.puts(), 0);
    assert!(lc.live_policy().is_none());
}

/// A demo store (2,000 images, seed 5) planned at DEMO_NOW.
fn demo_store(dir: &Path) -> String {
    demo(dir, 2000, 5);
    s(&dir.join("store"))
}

#[test]
fn suggest_on_the_demo_prints_policies_their_evidence_and_the_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = demo_store(dir.path());
    let out = dir.path().join("lc");
    let o = ecrgc(&[
        "lifecycle",
        "suggest",
        "--store",
        &store,
        "--now",
        DEMO_NOW,
        "--out",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut settings = insta::Settings::clone_current();
    let tmp = dir.path().to_str().expect("utf-8");
    settings.add_filter(&regex_escape(tmp), "[TMP]");
    settings.add_filter(r"\d{8}T\d{6}Z-[0-9a-f]{6}", "[RUN_ID]");
    settings.add_filter(r"plan [0-9a-f]{64}", "plan [PLAN_ID]");
    settings.bind(|| insta::assert_snapshot!(text));

    // The plan holds the opted-in suggestions, and the store records it.
    let plan: Value =
        serde_json::from_slice(&std::fs::read(out.join("lifecycle-plan.json")).expect("plan"))
            .expect("json");
    let text = serde_json::to_string(&plan).expect("json");
    let parsed = ecrgc_lifecycle::LifecyclePlan::from_json("plan", &text).expect("valid plan");
    assert!(!parsed.items.is_empty());
    let record = dir
        .path()
        .join("store/_manifests")
        .join(format!("{}.json", parsed.header.plan_id()));
    assert!(record.exists(), "{}", record.display());

    // JSON carries every repository, with the status of each.
    let o = ecrgc(&[
        "lifecycle",
        "suggest",
        "--store",
        &store,
        "--now",
        DEMO_NOW,
        "--format",
        "json",
    ]);
    let doc: Value = serde_json::from_slice(&o.stdout).expect("json");
    let statuses: std::collections::BTreeSet<&str> = doc["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    for s in ["suggested", "excluded", "coverage_gap"] {
        assert!(statuses.contains(s), "{statuses:?}");
    }
}

#[test]
fn suggest_refuses_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = demo_store(dir.path());
    for (args, message) in [
        (vec!["--repository", "app"], "ACCOUNT/REGION/NAME"),
        (
            vec!["--repository", "999999999999/eu-west-1/nope"],
            "no such repository",
        ),
        (vec!["--now", "yesterday"], "--now"),
    ] {
        let mut all = vec!["lifecycle", "suggest", "--store", &store];
        if !args.contains(&"--now") {
            all.extend(["--now", DEMO_NOW]);
        }
        all.extend(args.iter().copied());
        let out = dir.path().join("never");
        let out_s = s(&out);
        all.extend(["--out", &out_s]);
        let o = ecrgc(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(message),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!out.exists(), "nothing is written");
    }
}
