//! The in-use graph beyond ECS and Lambda: `ecrgc collect` → `ecrgc plan` against a moto
//! organization (`testing/moto/workloads_scenario.py`) whose images are named by an EKS
//! cluster (a fake Kubernetes API, `testing/kube/`, reached with an EKS token over TLS with
//! the CA DescribeCluster gives), an AWS Batch job definition, an App Runner service, a
//! SageMaker model, a CodeBuild project and a declared reference in a GitOps file. Inspector
//! covers none of the images, so the untagged fallback flags every untagged one: only the
//! workloads keep them. A cluster that refuses the token blocks what its account can pull,
//! and `apply` reads the clusters again: a Deployment created after the plan keeps the image
//! it names.

use std::collections::BTreeSet;
use std::process::Command;

use ecrgc_testkit::{FakeKube, Moto, repo_root};

use crate::common::moto::{Env, manifest_keys, mismatches, now};
use crate::common::planned::{APPLY_SETTINGS, calls};
use crate::common::s;
use crate::ecs_pins::{key, query};

const CONFIG: &str = r#"
[org]
accounts = ["111111111111", "222222222222"]
regions = ["eu-west-1", "us-east-1"]
registry_accounts = ["111111111111"]

[collect]
initial_backoff_ms = 5
max_backoff_ms = 200
"#;

/// The organization and its cluster, or `None` without the test Python.
fn start(refuse: bool) -> Option<(Env, FakeKube)> {
    let moto = Moto::start()?;
    let kube = FakeKube::start_tls()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let truth_path = dir.path().join("truth.json");
    let mut cmd = Command::new(moto.python());
    cmd.arg(repo_root().join("testing/moto/workloads_scenario.py"))
        .args([
            "--url",
            moto.url(),
            "--now",
            now(),
            "--kube-url",
            kube.url(),
        ])
        .arg("--kube-ca")
        .arg(kube.ca())
        .arg("--out")
        .arg(&truth_path)
        .arg("--references")
        .arg(dir.path().join("gitops"));
    if refuse {
        cmd.arg("--kube-refuse");
    }
    let out = cmd.output().expect("run workloads_scenario.py");
    assert!(
        out.status.success(),
        "workloads_scenario.py failed\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let truth =
        serde_json::from_slice(&std::fs::read(&truth_path).expect("truth")).expect("truth is JSON");
    Some((Env { moto, dir, truth }, kube))
}

/// collect → plan; returns the plan's stdout.
fn collect_and_plan(env: &Env) -> String {
    let gitops = env.path("gitops");
    let config = env.config(
        "ecrgc.toml",
        &format!(
            "{}{APPLY_SETTINGS}",
            CONFIG.replace(
                "[collect]",
                &format!(
                    "[sources]\nreferences = [{:?}]\n\n[collect]",
                    format!("{}/**/*.yaml", s(&gitops))
                ),
            )
        ),
    );
    let (c, store, out) = (s(&config), s(&env.path("store")), s(&env.path("out")));
    env.ok(&["collect", "--config", &c, "--store", &store, "--now", now()]);
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
    ])
}

#[test]
fn every_workload_source_keeps_the_image_it_names() {
    let Some((env, _kube)) = start(false) else {
        return;
    };
    collect_and_plan(&env);
    let wrong = mismatches(&env, &env.path("out"), |_, e| e.to_owned());
    assert!(
        wrong.is_empty(),
        "plan differs from the truth:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        manifest_keys(&env.path("out")),
        BTreeSet::from([key(&env, "k8s-done"), key(&env, "unused")]),
        "only the image a finished pod named and the unused one are deleted"
    );
    let sources = query(
        &env,
        "SELECT source, kind, COUNT(*) AS refs FROM workload_refs \
         WHERE source NOT IN ('ecs', 'lambda') GROUP BY source, kind ORDER BY source, kind",
    );
    assert_eq!(
        sources,
        "source,kind,refs\n\
         apprunner,apprunner_service,1\n\
         batch,batch_job_definition,1\n\
         codebuild,codebuild_project,1\n\
         eks,deployment,1\n\
         eks,pod,2\n\
         references,file,1\n\
         sagemaker,sagemaker_endpoint_config,1\n\
         sagemaker,sagemaker_model,1\n",
        "{sources}"
    );
    let coverage = query(
        &env,
        "SELECT source, status FROM collection_coverage \
         WHERE source IN ('eks', 'batch', 'apprunner', 'sagemaker', 'codebuild', 'references') \
           AND status <> 'ok' ORDER BY source",
    );
    assert_eq!(coverage, "source,status\n", "{coverage}");
}

#[test]
fn explain_names_the_deployment_that_pins_an_untagged_image_by_digest() {
    let Some((env, _kube)) = start(false) else {
        return;
    };
    collect_and_plan(&env);
    let (_, _, _, digest) = key(&env, "k8s-pinned");
    let explained = env.ok(&[
        "explain",
        &digest,
        "--store",
        &s(&env.path("store")),
        "--now",
        now(),
    ]);
    assert!(
        explained.contains("cluster/prod/namespaces/shop/deployments/web"),
        "{explained}"
    );
    assert!(explained.contains("live_reference"), "{explained}");
    // The running pod's digest keeps the image its tag named when it started.
    let (_, _, _, running) = key(&env, "k8s-running");
    let refs = query(
        &env,
        &format!(
            "SELECT kind, ref_tag, resolved_digest = '{running}' AS resolved FROM workload_refs \
             WHERE source = 'eks' AND kind = 'pod' AND resource_arn LIKE '%worker-1'"
        ),
    );
    assert_eq!(refs, "kind,ref_tag,resolved\npod,moving,true\n", "{refs}");
}

#[test]
fn a_cluster_that_refuses_the_token_blocks_what_its_account_can_pull() {
    let Some((env, _kube)) = start(true) else {
        return;
    };
    let planned = collect_and_plan(&env);
    let wrong = mismatches(&env, &env.path("out"), |_, e| e.to_owned());
    assert!(
        wrong.is_empty(),
        "plan differs from the truth:\n{}",
        wrong.join("\n")
    );
    assert!(manifest_keys(&env.path("out")).is_empty());
    assert!(
        planned.contains("eks error in 222222222222/us-east-1"),
        "the plan names the failed source:\n{planned}"
    );
    assert!(
        planned.contains("cluster/prod"),
        "the plan names the cluster:\n{planned}"
    );
    let coverage = query(
        &env,
        "SELECT error FROM collection_coverage WHERE source = 'eks' AND status <> 'ok'",
    );
    assert!(coverage.contains("Unauthorized"), "{coverage}");
}

/// Adds a Deployment naming `image` to the fake cluster's state.
fn deploy(env: &Env, kube: &FakeKube, name: &str, image: &str) {
    const SCRIPT: &str = r#"
import json, ssl, sys, urllib.request
url, ca, name, image = sys.argv[1:5]
context = ssl.create_default_context(cafile=ca)
with urllib.request.urlopen(url + "/_fake/state", context=context) as r:
    state = json.load(r)["state"]
state["objects"].setdefault("deployments", []).append({
    "metadata": {"name": name, "namespace": "late"},
    "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": image}]}}}})
request = urllib.request.Request(url + "/_fake/state", data=json.dumps(state).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
urllib.request.urlopen(request, context=context).read()
"#;
    env.moto
        .run_python(SCRIPT, &[kube.url(), &s(kube.ca()), name, image]);
}

#[test]
fn apply_reads_the_clusters_again_and_keeps_what_a_new_deployment_names() {
    let Some((env, kube)) = start(false) else {
        return;
    };
    collect_and_plan(&env);
    let (account, region, repository, unused) = key(&env, "unused");
    let (_, _, _, done) = key(&env, "k8s-done");
    // After the plan, a Deployment starts naming `unused` by digest.
    deploy(
        &env,
        &kube,
        "late",
        &format!("{account}.dkr.ecr.{region}.amazonaws.com/{repository}@{unused}"),
    );
    let manifest = env.path("out").join("manifest.json");
    let (c, m, st) = (
        s(&env.path("ecrgc.toml")),
        s(&manifest),
        s(&env.path("store")),
    );
    env.ok(&["apply", &m, "--config", &c, "--store", &st, "--yes"]);
    let deleted: BTreeSet<String> = calls(&env, "BatchDeleteImage").into_iter().collect();
    assert_eq!(
        deleted,
        BTreeSet::from([done]),
        "only the finished pod's image goes"
    );
    let journal =
        std::fs::read_to_string(ecrgc_exec::cli::default_journal(&manifest)).expect("journal");
    let skipped = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("journal line"))
        .find(|e| e["image_digest"] == unused.as_str() && e["event"] == "skipped")
        .expect("the image is skipped");
    assert_eq!(skipped["reason"], "in_use_reference", "{skipped}");
    assert!(
        skipped["message"]
            .as_str()
            .is_some_and(|m| m.contains("namespaces/late/deployments/late")),
        "{skipped}"
    );
}
