//! A read-only collector: BatchGetImage (a pull, for ECR) reads a manifest at most once per
//! digest per store. A second collect of an unchanged organization makes no BatchGetImage
//! call and plans the same; a digest pushed in between is read once; the pull-time update
//! exclusion is checked in every registry, registered on request, and a pull time the
//! collector may have moved is said so by `explain` and the plan's report.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::moto::{CONFIG, Env, decisions, now, python};
use crate::common::s;

/// Pushes to 111111111111/eu-west-1 `ro/new`: two OCI image manifests and an OCI index
/// listing them. Prints {"index": digest, "children": [digest, digest]}.
const PUSH_INDEX: &str = r#"
import hashlib, json, sys
import boto3
url = sys.argv[1]
def sha(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
ecr = boto3.client("ecr", endpoint_url=url, region_name="eu-west-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
ecr.create_repository(repositoryName="ro/new")
def push(manifest, tag=None):
    text = json.dumps(manifest, separators=(",", ":"), sort_keys=True)
    kw = {"imageTag": tag} if tag else {}
    got = ecr.put_image(repositoryName="ro/new", imageManifest=text, **kw)["image"]["imageId"]["imageDigest"]
    assert got == sha(text), (got, sha(text))
    return got, len(text)
OCI, LAYER = "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"
children = []
for arch in ("amd64", "arm64"):
    d, n = push({"schemaVersion": 2, "mediaType": OCI,
                 "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 1200,
                            "digest": sha("ro-config:" + arch)},
                 "layers": [{"mediaType": LAYER, "size": 5_000_000, "digest": sha("ro-layer:" + arch)}]})
    children.append({"mediaType": OCI, "digest": d, "size": n,
                     "platform": {"architecture": arch, "os": "linux"}})
index, _ = push({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": children}, tag="v1")
print(json.dumps({"index": index, "children": [c["digest"] for c in children]}))
"#;

/// Every digest BatchGetImage asked for since the last reset, in order.
fn batch_get_digests(env: &Env) -> Vec<String> {
    let mut out = Vec::new();
    for c in env.moto.get("/_ecrgc/calls").as_array().expect("calls") {
        if c["operation"] == "BatchGetImage" {
            for d in c["image_digests"].as_array().into_iter().flatten() {
                out.push(d.as_str().expect("digest").to_owned());
            }
        }
    }
    out
}

/// Calls of `operation` per (account, region) since the last reset.
fn calls_of(env: &Env, operation: &str) -> BTreeSet<(String, String)> {
    env.moto
        .get("/_ecrgc/calls")
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["operation"] == operation)
        .map(|c| {
            (
                c["account_id"].as_str().expect("a").to_owned(),
                c["region"].as_str().expect("r").to_owned(),
            )
        })
        .collect()
}

/// Runs collect; gives its stdout, stderr and the run it committed. Every collect of a
/// test takes the same `now()`, so runs are named by id, never as "the latest".
fn collect(env: &Env, store: &str, extra: &[&str]) -> (String, String, String) {
    let config = s(&env.path("ecrgc.toml"));
    let mut args = vec![
        "collect",
        "--config",
        &config,
        "--store",
        store,
        "--now",
        now(),
    ];
    args.extend_from_slice(extra);
    let o = env.ecrgc(&args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let run = stdout
        .split("committed run ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in {stdout}"))
        .to_owned();
    (stdout, stderr, run)
}

fn plan(env: &Env, store: &str, run: &str, out: &str) -> std::path::PathBuf {
    let config = s(&env.path("ecrgc.toml"));
    let out = env.path(out);
    env.ok(&[
        "plan",
        "--config",
        &config,
        "--store",
        store,
        "--now",
        now(),
        "--run",
        run,
        "--out",
        &s(&out),
    ]);
    out
}

/// `sql` over the `latest_*` tables of `run`.
fn query(env: &Env, store: &str, run: &str, sql: &str) -> Vec<String> {
    env.ok(&[
        "query", sql, "--store", store, "--run", run, "--format", "csv",
    ])
    .lines()
    .skip(1)
    .map(str::to_owned)
    .collect()
}

/// The `pull_time_exclusion` status of one registry account and region in the latest run.
fn exclusion_status(env: &Env, store: &str, run: &str, account: &str, region: &str) -> String {
    let rows = query(
        env,
        store,
        run,
        &format!(
            "SELECT status FROM latest_collection_coverage WHERE source = 'pull_time_exclusion' \
             AND account_id = '{account}' AND region = '{region}'"
        ),
    );
    assert_eq!(rows.len(), 1, "{account}/{region}: {rows:?}");
    rows[0].clone()
}

fn second_collect_reads_nothing(layers: bool) {
    let Some(env) = Env::start(None) else { return };
    env.config("ecrgc.toml", CONFIG);
    let store = s(&env.path("store"));
    let flags: &[&str] = if layers { &["--layers"] } else { &[] };

    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let (_, _, run1) = collect(&env, &store, flags);
    let first = batch_get_digests(&env);
    assert!(!first.is_empty(), "the scenario has image indexes");
    let unique: BTreeSet<&String> = first.iter().collect();
    assert_eq!(unique.len(), first.len(), "a manifest was read twice");
    // Every registry was checked for the exclusion, with or without --layers.
    let checked = calls_of(&env, "ListPullTimeUpdateExclusions");
    for a in ["111111111111", "222222222222"] {
        for r in ["eu-west-1", "us-east-1"] {
            assert!(
                checked.contains(&(a.into(), r.into())),
                "{a}/{r}: {checked:?}"
            );
        }
    }
    let out1 = plan(&env, &store, &run1, "out1");
    let relations1 = query(
        &env,
        &store,
        &run1,
        "SELECT account_id, region, repository_name, parent_digest, child_digest, relation \
         FROM latest_image_relations ORDER BY 1, 2, 3, 4, 5, 6",
    );
    let layers1 = query(
        &env,
        &store,
        &run1,
        "SELECT account_id, region, repository_name, image_digest, layer_digest, \
         layer_size_bytes, layer_kind, COALESCE(layer_index, -1) FROM latest_image_layers \
         ORDER BY 1, 2, 3, 4, 8",
    );
    assert_eq!(!layers1.is_empty(), layers);
    let reads1 = query(
        &env,
        &store,
        &run1,
        "SELECT account_id, region, repository_name, image_digest, manifest_kind, read_run_id \
         FROM latest_manifest_reads ORDER BY 1, 2, 3, 4",
    );
    assert_eq!(reads1.len(), first.len(), "one manifest_reads row per read");

    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let (_, _, run2) = collect(&env, &store, flags);
    assert_eq!(
        batch_get_digests(&env),
        Vec::<String>::new(),
        "the second collect pulled"
    );
    // The same relations and layers, carried forward; the reads keep their first run.
    assert_eq!(
        query(
            &env,
            &store,
            &run2,
            "SELECT account_id, region, repository_name, parent_digest, child_digest, relation \
             FROM latest_image_relations ORDER BY 1, 2, 3, 4, 5, 6",
        ),
        relations1
    );
    assert_eq!(
        query(
            &env,
            &store,
            &run2,
            "SELECT account_id, region, repository_name, image_digest, layer_digest, \
             layer_size_bytes, layer_kind, COALESCE(layer_index, -1) FROM latest_image_layers \
             ORDER BY 1, 2, 3, 4, 8",
        ),
        layers1
    );
    assert_eq!(
        query(
            &env,
            &store,
            &run2,
            "SELECT account_id, region, repository_name, image_digest, manifest_kind, \
             read_run_id FROM latest_manifest_reads ORDER BY 1, 2, 3, 4",
        ),
        reads1
    );
    let out2 = plan(&env, &store, &run2, "out2");
    let (d1, d2) = (decisions(&out1), decisions(&out2));
    assert!(!d1.is_empty());
    assert_eq!(d1, d2, "the second plan decided differently");
}

#[test]
fn a_second_collect_of_an_unchanged_organization_reads_no_manifest() {
    second_collect_reads_nothing(false);
}

#[test]
fn a_second_collect_with_layers_reads_no_manifest() {
    second_collect_reads_nothing(true);
}

#[test]
fn a_digest_pushed_between_two_collects_is_read_once() {
    let Some(env) = Env::start(None) else { return };
    env.config("ecrgc.toml", CONFIG);
    let store = s(&env.path("store"));
    collect(&env, &store, &["--layers"]);
    let pushed: Value =
        serde_json::from_str(&python(&env, PUSH_INDEX, &[env.moto.url()])).expect("pushed");
    let index = pushed["index"].as_str().expect("index").to_owned();
    let children: Vec<String> = pushed["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| c.as_str().expect("child").to_owned())
        .collect();

    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let (_, _, run2) = collect(&env, &store, &["--layers"]);
    let mut read = batch_get_digests(&env);
    read.sort();
    let mut want: Vec<String> = children.iter().cloned().chain([index.clone()]).collect();
    want.sort();
    assert_eq!(read, want, "only the new digests, once each");
    let edges = query(
        &env,
        &store,
        &run2,
        "SELECT child_digest FROM latest_image_relations WHERE repository_name = 'ro/new' \
         AND relation = 'index_child' ORDER BY 1",
    );
    let mut sorted = children.clone();
    sorted.sort();
    assert_eq!(edges, sorted);

    // A third collect reads nothing, and keeps the edges of the new index.
    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let (_, _, run3) = collect(&env, &store, &["--layers"]);
    assert_eq!(batch_get_digests(&env), Vec::<String>::new());
    assert_eq!(
        query(
            &env,
            &store,
            &run3,
            "SELECT child_digest FROM latest_image_relations WHERE repository_name = 'ro/new' \
             AND relation = 'index_child' ORDER BY 1",
        ),
        sorted
    );
}

#[test]
fn register_pull_time_exclusion_registers_what_is_missing() {
    let Some(env) = Env::start(None) else { return };
    env.moto
        .post("/_ecrgc/seed", &json!({"ecr_record_pulls": true}));
    env.config("ecrgc.toml", CONFIG);
    let store = s(&env.path("store"));

    // Off by default: a plain collect only checks, warns and records `not_excluded`.
    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let (_, stderr, run1) = collect(&env, &store, &[]);
    assert!(calls_of(&env, "RegisterPullTimeUpdateExclusion").is_empty());
    assert!(
        stderr.contains("--register-pull-time-exclusion"),
        "{stderr}"
    );
    for r in ["eu-west-1", "us-east-1"] {
        assert_eq!(
            exclusion_status(&env, &store, &run1, "222222222222", r),
            "not_excluded"
        );
    }
    // The first collect read the indexes without an exclusion: their pull times moved,
    // and explain and the report say so.
    let index_read = query(
        &env,
        &store,
        &run1,
        "SELECT image_digest FROM latest_manifest_reads WHERE manifest_kind = 'index' \
         AND pull_time_exclusion = 'not_excluded' ORDER BY 1 LIMIT 1",
    );
    let digest = index_read
        .first()
        .expect("an index read without an exclusion")
        .clone();

    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let (stdout, _, run2) = collect(&env, &store, &["--register-pull-time-exclusion"]);
    let registered = calls_of(&env, "RegisterPullTimeUpdateExclusion");
    for r in ["eu-west-1", "us-east-1"] {
        assert!(
            registered.contains(&("222222222222".into(), r.into())),
            "{registered:?}\n{stdout}"
        );
        assert_eq!(
            exclusion_status(&env, &store, &run2, "222222222222", r),
            "ok"
        );
    }
    assert_eq!(
        batch_get_digests(&env),
        Vec::<String>::new(),
        "nothing new to read"
    );
    // The caller's own identity in 111111111111 is no IAM role or user ARN: nothing to
    // register, it stays a warning.
    assert!(
        !registered.iter().any(|(a, _)| a == "111111111111"),
        "{registered:?}"
    );
    for r in ["eu-west-1", "us-east-1"] {
        assert_eq!(
            exclusion_status(&env, &store, &run2, "111111111111", r),
            "not_excluded"
        );
    }
    let explained = env.ok(&[
        "explain",
        &digest,
        "--store",
        &store,
        "--now",
        now(),
        "--run",
        &run2,
    ]);
    assert!(
        explained.contains("may be the collector's own read"),
        "{explained}"
    );
    let out = plan(&env, &store, &run2, "out");
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    assert!(summary.contains("collector_pulls"), "{summary}");

    // A later collect finds the exclusion and registers nothing.
    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let (_, _, run3) = collect(&env, &store, &[]);
    assert!(calls_of(&env, "RegisterPullTimeUpdateExclusion").is_empty());
    for r in ["eu-west-1", "us-east-1"] {
        assert_eq!(
            exclusion_status(&env, &store, &run3, "222222222222", r),
            "ok"
        );
    }
}

/// Every Parquet file of `table` in `run` of the local store.
fn table_files(store: &str, table: &str, run: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for dt in std::fs::read_dir(std::path::Path::new(store).join(table)).expect("table dir") {
        let dir = dt.expect("dt").path().join(format!("run={run}"));
        for f in std::fs::read_dir(&dir).into_iter().flatten() {
            let f = f.expect("file").path();
            if f.extension().is_some_and(|e| e == "parquet") {
                out.push(f);
            }
        }
    }
    out
}

#[test]
fn an_earlier_run_that_cannot_be_read_means_reading_again_never_losing_relations() {
    let Some(env) = Env::start(None) else { return };
    env.config("ecrgc.toml", CONFIG);
    let store = s(&env.path("store"));
    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let (_, _, run1) = collect(&env, &store, &[]);
    let mut first = batch_get_digests(&env);
    first.sort();
    let relations = "SELECT account_id, region, repository_name, parent_digest, child_digest, \
         relation FROM latest_image_relations ORDER BY 1, 2, 3, 4, 5, 6";
    let before = query(&env, &store, &run1, relations);
    // The earlier run's relations are damaged after it committed.
    let files = table_files(&store, "image_relations", &run1);
    assert!(!files.is_empty());
    for f in files {
        std::fs::write(&f, b"not parquet").expect("overwrite");
    }

    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let (_, stderr, run2) = collect(&env, &store, &[]);
    let mut second = batch_get_digests(&env);
    second.sort();
    assert_eq!(second, first, "every index is read again");
    assert!(
        stderr.contains("no earlier run could be reused"),
        "{stderr}"
    );
    assert_eq!(query(&env, &store, &run2, relations), before);
}
