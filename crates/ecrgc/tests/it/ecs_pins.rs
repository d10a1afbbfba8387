//! ECS services always, and the digests they pin: `ecrgc collect` → `ecrgc plan` (→ `apply`
//! dry run) against a moto organization (`testing/moto/ecs_scenario.py`) whose services
//! deployed and whose tags moved since. With ECS version consistency a service starts the
//! digest its revision pinned, so that digest must be kept even when no tag names it; the
//! revisions a deployment inside the rollback window replaced are rollback targets; a task
//! set, and a service on a deregistered task definition, are live; `ecs = false` is a
//! coverage gap; a service or function deleted mid-run is skipped, not a failure.

use std::collections::BTreeSet;
use std::process::Command;

use ecrgc_testkit::{Moto, repo_root};
use serde_json::{Value, json};

use crate::common::moto::{Env, Key, at, manifest_keys, mismatches, now};
use crate::common::s;

pub(crate) const CONFIG: &str = r#"
[org]
accounts = ["111111111111", "222222222222"]
regions = ["eu-west-1", "us-east-1"]
registry_accounts = ["111111111111"]

[collect]
initial_backoff_ms = 5
max_backoff_ms = 200
"#;

/// A server seeded with the ECS layout (`args` go to the script), or `None` without moto.
pub(crate) fn start(args: &[&str], faults: Option<Value>) -> Option<Env> {
    let moto = Moto::start()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let truth_path = dir.path().join("truth.json");
    let mut cmd = Command::new(moto.python());
    cmd.arg(repo_root().join("testing/moto/ecs_scenario.py"))
        .args(["--url", moto.url(), "--now", now()])
        .arg("--out")
        .arg(&truth_path)
        .args(args);
    if let Some(f) = faults {
        let path = dir.path().join("faults.json");
        std::fs::write(&path, serde_json::to_vec(&f).expect("json")).expect("write faults");
        cmd.arg("--faults").arg(&path);
    }
    let out = cmd.output().expect("run ecs_scenario.py");
    assert!(
        out.status.success(),
        "ecs_scenario.py failed\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let truth =
        serde_json::from_slice(&std::fs::read(&truth_path).expect("truth")).expect("truth is JSON");
    Some(Env { moto, dir, truth })
}

pub(crate) fn key(env: &Env, name: &str) -> Key {
    let i = &env.truth["images"][name];
    let f = |k: &str| i[k].as_str().expect(k).to_owned();
    (
        f("account_id"),
        f("region"),
        f("repository_name"),
        f("image_digest"),
    )
}

/// collect → plan with `config`; returns collect's stdout and stderr.
pub(crate) fn collect_and_plan(env: &Env, config: &str) -> (String, String) {
    let config = env.config("ecrgc.toml", config);
    let (c, store, out) = (s(&config), s(&env.path("store")), s(&env.path("out")));
    let collected = env.ecrgc(&["collect", "--config", &c, "--store", &store, "--now", now()]);
    assert!(
        collected.status.success(),
        "collect failed\n{}\n{}",
        String::from_utf8_lossy(&collected.stdout),
        String::from_utf8_lossy(&collected.stderr)
    );
    env.ok(&[
        "plan",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        now(),
        "--out",
        &out,
    ]);
    (
        String::from_utf8_lossy(&collected.stdout).into_owned(),
        String::from_utf8_lossy(&collected.stderr).into_owned(),
    )
}

/// `ecrgc query SQL` over the env's store, as CSV.
pub(crate) fn query(env: &Env, sql: &str) -> String {
    env.ok(&[
        "query",
        sql,
        "--store",
        &s(&env.path("store")),
        "--format",
        "csv",
    ])
}

#[test]
fn a_scaled_to_zero_service_keeps_the_digest_its_revision_pins() {
    let Some(env) = start(&[], None) else { return };
    let (collected, stderr) = collect_and_plan(&env, CONFIG);
    let wrong = mismatches(&env, &env.path("out"), |_, e| e.to_owned());
    assert!(
        wrong.is_empty(),
        "plan differs from the truth:\n{}",
        wrong.join("\n")
    );
    let manifest = manifest_keys(&env.path("out"));
    assert_eq!(
        manifest,
        BTreeSet::from([key(&env, "rb-old"), key(&env, "unused")]),
        "exactly the unpinned old rollback target and the unused image are deleted"
    );
    // The pinned digest is kept by the service revision, not by any tag.
    let pinned = env.truth["images"]["pinned"]["image_digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let refs = query(
        &env,
        &format!(
            "SELECT kind, ref_tag, ref_digest FROM workload_refs WHERE resolved_digest = '{pinned}' \
             ORDER BY kind"
        ),
    );
    assert_eq!(
        refs, "kind,ref_tag,ref_digest\nservice_revision,live,\n",
        "{refs}"
    );
    // The revision a deployment inside the rollback window replaced is a live reference;
    // a deployment older than the window is not even read.
    let digest = |name: &str| {
        env.truth["images"][name]["image_digest"]
            .as_str()
            .expect("digest")
            .to_owned()
    };
    let refs_of = |name: &str| {
        query(
            &env,
            &format!(
                "SELECT kind, status_at >= TIMESTAMP '{}' AS in_window \
                 FROM workload_refs WHERE resolved_digest = '{}' ORDER BY kind",
                at(-24),
                digest(name)
            ),
        )
    };
    assert_eq!(
        refs_of("rb-recent"),
        "kind,in_window\nservice_deployment,true\n"
    );
    assert_eq!(refs_of("rb-old"), "kind,in_window\n");
    // Every kind the ECS unit reads is there.
    let kinds = query(
        &env,
        "SELECT DISTINCT kind FROM workload_refs WHERE source = 'ecs' ORDER BY kind",
    );
    assert_eq!(
        kinds,
        "kind\nservice\nservice_deployment\nservice_revision\ntask_definition\ntask_set\n"
    );
    // The service listed then deleted before DescribeServices is skipped, not a failure.
    assert!(collected.contains("0 of "), "every unit is ok: {collected}");
    assert!(
        stderr.contains("note: 222222222222/us-east-1 ecs: 1 resource(s) gone during the run")
            && stderr.contains("/ghost: MISSING"),
        "{stderr}"
    );

    // apply's dry run lists exactly the manifest and never the pinned digest.
    let c = s(&env.path("ecrgc.toml"));
    let listing = env.ok(&[
        "apply",
        &s(&env.path("out/manifest.json")),
        "--config",
        &c,
        "--store",
        &s(&env.path("store")),
    ]);
    let would: BTreeSet<String> = listing
        .lines()
        .filter(|l| l.split('\t').next() == Some("would_delete"))
        .map(|l| l.split('\t').nth(4).expect("digest").to_owned())
        .collect();
    assert_eq!(
        would,
        manifest.iter().map(|k| k.3.clone()).collect(),
        "{listing}"
    );
    assert!(!would.contains(&pinned));
}

#[test]
fn without_the_pin_the_old_digest_is_deleted() {
    // The same layout, the container's versionConsistency disabled: nothing pins the digest.
    let Some(env) = start(&["--no-pin"], None) else {
        return;
    };
    collect_and_plan(&env, CONFIG);
    let wrong = mismatches(&env, &env.path("out"), |_, e| e.to_owned());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(manifest_keys(&env.path("out")).contains(&key(&env, "pinned")));
}

#[test]
fn ecs_switched_off_is_a_coverage_gap_for_what_its_accounts_can_pull() {
    let Some(env) = start(&[], None) else { return };
    let config = CONFIG.replace(
        "[collect]",
        "[sources]\ninspector = true\necs = false\n\n[collect]",
    );
    let (collected, _) = collect_and_plan(&env, &config);
    // Every workload account × region has an `ecs disabled` row.
    let rows = query(
        &env,
        "SELECT account_id, region, status FROM collection_coverage WHERE source = 'ecs' \
         ORDER BY 1, 2",
    );
    assert_eq!(
        rows,
        "account_id,region,status\n\
         111111111111,eu-west-1,disabled\n111111111111,us-east-1,disabled\n\
         222222222222,eu-west-1,disabled\n222222222222,us-east-1,disabled\n",
        "{collected}"
    );
    // shop/web is pullable by 111 (its registry) and 222 (its policy): every image is blocked.
    let wrong = mismatches(&env, &env.path("out"), |_, _| {
        "protected:usage_coverage_gap".to_owned()
    });
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(manifest_keys(&env.path("out")).is_empty());
    let summary: Value =
        serde_json::from_slice(&std::fs::read(env.path("out/summary.json")).expect("summary"))
            .expect("json");
    let blocked = summary["blocked_sources"].to_string();
    for account in ["111111111111", "222222222222"] {
        assert!(
            blocked.contains(account) && blocked.contains("disabled"),
            "{blocked}"
        );
    }
    assert!(blocked.contains("ecs"), "{blocked}");
}

#[test]
fn a_function_deleted_mid_run_is_skipped_and_another_failure_still_blocks() {
    // GetFunction answers ResourceNotFoundException: the function was deleted after
    // ListFunctions. It runs nothing any more, so its image is unused and the unit is ok.
    let gone = json!([{
        "account_id": "222222222222", "region": "us-east-1", "service": "lambda",
        "operation": "GetFunction", "status": 404, "code": "ResourceNotFoundException",
        "message": "Function not found: arn:aws:lambda:us-east-1:222222222222:function:fn"
    }]);
    let Some(env) = start(&[], Some(gone)) else {
        return;
    };
    let (collected, stderr) = collect_and_plan(&env, CONFIG);
    assert!(collected.contains("0 of "), "{collected}");
    assert!(
        stderr.contains("note: 222222222222/us-east-1 lambda: 1 resource(s) gone"),
        "{stderr}"
    );
    let wrong = mismatches(&env, &env.path("out"), |k, e| {
        if *k == key(&env, "fn") {
            "delete".to_owned()
        } else {
            e.to_owned()
        }
    });
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Denied instead: the function's use is unknown, the unit fails and blocks shop/web.
    let denied = json!([{
        "account_id": "222222222222", "region": "us-east-1", "service": "lambda",
        "operation": "GetFunction", "status": 403, "code": "AccessDeniedException",
        "message": "not authorized to perform: lambda:GetFunction"
    }]);
    let Some(env) = start(&[], Some(denied)) else {
        return;
    };
    let (collected, _) = collect_and_plan(&env, CONFIG);
    assert!(
        collected.contains("222222222222 us-east-1 lambda"),
        "{collected}"
    );
    assert!(manifest_keys(&env.path("out")).is_empty());
}
