//! Plan → review → approve → apply against moto: a what-if plan never deletes, a plan needs
//! the approvals `[safety]` asks for from principals other than the planner, and applies
//! only what every approval kept. moto's call log is the witness of what was deleted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::moto::{CONFIG, Env, at};
use crate::common::{s, text};

const FAST: &str = "
[apply]
initial_backoff_ms = 5
max_backoff_ms = 100
";

/// Every digest sent to BatchDeleteImage.
fn deleted(env: &Env) -> BTreeSet<String> {
    env.moto
        .get("/_ecrgc/calls")
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["operation"] == "BatchDeleteImage")
        .flat_map(|c| c["image_digests"].as_array().cloned().unwrap_or_default())
        .map(|d| d.as_str().expect("digest").to_owned())
        .collect()
}

fn digests(manifest: &Path) -> BTreeSet<String> {
    let m: Value =
        serde_json::from_slice(&std::fs::read(manifest).expect("manifest")).expect("json");
    m["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["image_digest"].as_str().expect("digest").to_owned())
        .collect()
}

/// `ecrgc` with the moto environment and `creds` (access key, secret, session token)
/// instead of the planner's.
fn ecrgc_as(env: &Env, creds: &(String, String, String), args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecrgc"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("ECRGC_CONFIG")
        .env_remove("ECRGC_STORE");
    for (k, v) in env.moto.env() {
        cmd.env(k, v);
    }
    cmd.env("AWS_ACCESS_KEY_ID", &creds.0)
        .env("AWS_SECRET_ACCESS_KEY", &creds.1)
        .env("AWS_SESSION_TOKEN", &creds.2);
    cmd.output().expect("ecrgc runs")
}

/// Credentials of a session of `role` (moto's STS AssumeRole).
fn assume(env: &Env, role: &str, session: &str) -> (String, String, String) {
    let out = env.moto.run_python(
        "import boto3, sys
sts = boto3.client('sts', endpoint_url=sys.argv[1], region_name='eu-west-1',
                   aws_access_key_id='testing', aws_secret_access_key='testing')
c = sts.assume_role(RoleArn=sys.argv[2], RoleSessionName=sys.argv[3])['Credentials']
print(c['AccessKeyId'], c['SecretAccessKey'], c['SessionToken'])",
        &[env.moto.url(), role, session],
    );
    let parts: Vec<&str> = out.split_whitespace().collect();
    (
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
    )
}

struct Reviewed {
    env: Env,
    config: PathBuf,
    store: String,
    manifest: PathBuf,
}

impl Reviewed {
    fn new(extra_config: &str) -> Option<Self> {
        let env = Env::start(None)?;
        let config = env.config("ecrgc.toml", &format!("{CONFIG}{FAST}{extra_config}"));
        env.collect_and_plan(&config, "store", "out");
        let store = s(&env.path("store"));
        let manifest = env.path("out").join("manifest.json");
        env.moto.post("/_ecrgc/calls/reset", &json!({}));
        Some(Self {
            env,
            config,
            store,
            manifest,
        })
    }

    fn apply(&self, manifest: &Path, extra: &[&str]) -> Output {
        let (c, m) = (s(&self.config), s(manifest));
        let mut args = vec!["apply", &m, "--config", &c, "--store", &self.store];
        args.extend_from_slice(extra);
        self.env.ecrgc(&args)
    }
}

#[test]
fn a_plan_made_for_another_instant_is_shown_but_never_applied() {
    let Some(r) = Reviewed::new("") else {
        return;
    };
    let ahead = r.env.path("ahead");
    let later = at(24 * 200);
    r.env.ok(&[
        "plan",
        "--config",
        &s(&r.config),
        "--store",
        &r.store,
        "--now",
        &later,
        "--out",
        &s(&ahead),
    ]);
    let manifest = ahead.join("manifest.json");
    // 200 days on, the plan flags more than tonight's: what a what-if is for.
    assert!(digests(&manifest).len() > digests(&r.manifest).len());
    r.env.moto.post("/_ecrgc/calls/reset", &json!({}));

    let o = r.apply(&manifest, &["--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("a what-if plan cannot be applied"), "{err}");
    assert!(
        err.contains("d 23 h ahead of the real clock") || err.contains("200 d ahead of"),
        "{err}"
    );
    assert_eq!(
        r.env.moto.get("/_ecrgc/calls"),
        json!([]),
        "refused before any API call"
    );

    // A dry run shows it, with the warning.
    let o = r.apply(&manifest, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("apply --yes would refuse this plan"));
    assert!(text(&o.stdout).contains("would_delete"));
    assert!(deleted(&r.env).is_empty());

    // The same configuration with a changed threshold: refused naming the key.
    let changed = r.env.config(
        "changed.toml",
        &format!("{CONFIG}{FAST}\n[rules]\nunused_days = 30\n"),
    );
    let (c, m) = (s(&changed), s(&r.manifest));
    let o = r
        .env
        .ecrgc(&["apply", &m, "--config", &c, "--store", &r.store, "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("in rules.unused_days;"));
    // And without any configuration.
    let o = r.env.ecrgc(&["apply", &m, "--store", &r.store, "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("pass it with --config"));
    assert!(deleted(&r.env).is_empty());
}

#[test]
fn approvals_by_others_are_required_and_only_what_they_kept_is_deleted() {
    let Some(r) = Reviewed::new("\n[safety]\napprovals_required = 1\n") else {
        return;
    };
    let planned = digests(&r.manifest);
    assert!(planned.len() >= 3, "{planned:?}");

    let o = r.apply(&r.manifest, &["--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("needs 1 approval"));
    assert_eq!(r.env.moto.get("/_ecrgc/calls"), json!([]));

    // The planner approving its own plan does not count.
    let (c, m) = (s(&r.config), s(&r.manifest));
    let mine = r
        .env
        .ok(&["approve", &m, "--config", &c, "--store", &r.store]);
    assert!(mine.contains("approved deletion plan"), "{mine}");
    let again = r
        .env
        .ecrgc(&["approve", &m, "--config", &c, "--store", &r.store]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("already approved"));
    let o = r.apply(&r.manifest, &["--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("(the planner)"),
        "{}",
        text(&o.stderr)
    );

    // A reviewer removes one item (no other item's parent), then approves the rest under a
    // role of their own.
    let mut m: Value =
        serde_json::from_slice(&std::fs::read(&r.manifest).expect("read")).expect("json");
    let items = m["items"].as_array_mut().expect("items");
    let parents: BTreeSet<String> = items
        .iter()
        .flat_map(|i| i["parent_digests"].as_array().cloned().unwrap_or_default())
        .map(|d| d.as_str().expect("digest").to_owned())
        .collect();
    let index = items
        .iter()
        .position(|i| !parents.contains(i["image_digest"].as_str().expect("digest")))
        .expect("a leaf item");
    let removed = items.remove(index)["image_digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let reviewed = r.env.path("reviewed.json");
    std::fs::write(&reviewed, serde_json::to_vec_pretty(&m).expect("json")).expect("write");
    let reviewer = assume(
        &r.env,
        "arn:aws:iam::123456789012:role/ecrgc-reviewer",
        "alice",
    );
    let o = ecrgc_as(
        &r.env,
        &reviewer,
        &[
            "approve",
            &s(&reviewed),
            "--store",
            &r.store,
            "--comment",
            "CHG-1234",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("as arn:aws:iam::123456789012:role/ecrgc-reviewer"),
        "{}",
        text(&o.stdout)
    );

    // The planner applies the full file: only what the reviewer kept is deleted.
    let o = r.apply(&r.manifest, &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("1 item(s) of the file are left alone"));
    let gone = deleted(&r.env);
    assert!(
        !gone.contains(&removed),
        "the item the reviewer removed was deleted"
    );
    let kept: BTreeSet<String> = planned.iter().filter(|d| **d != removed).cloned().collect();
    assert_eq!(gone, kept, "{}", text(&o.stdout));
}
