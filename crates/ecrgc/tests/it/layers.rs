//! `ecrgc collect --layers` against the moto server: which manifests BatchGetImage fetches
//! (a pull each), the `image_layers` rows, the pull-time exclusion check, and layer failures
//! that cost only their repository's layers, never the run or the inventory.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::common::moto::{CONFIG, Env, mismatches, now, python};
use crate::common::s;

const IMAGE_MANIFESTS: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
];

/// Registers the collector role's pull-time exclusion in 222222222222 (both regions) and
/// pushes `layers/shared` to 111111111111/eu-west-1: 103 young, tagged builds (never in a
/// manifest) sharing two base layers, so that one repository needs two BatchGetImage calls.
/// With `bad`, also `layers/bad`, whose only manifest has a negative layer size. Prints
/// {repository: {digest: manifest}}.
const SEED: &str = r#"
import hashlib, json, sys
import boto3
from botocore.config import Config
url, bad = sys.argv[1], sys.argv[2] == "bad"
cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"})
def sha(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1", config=cfg,
                   aws_access_key_id="testing", aws_secret_access_key="testing")
role = "arn:aws:iam::222222222222:role/ecrgc-collector"
c = sts.assume_role(RoleArn=role, RoleSessionName="layers-test")["Credentials"]
for region in ("eu-west-1", "us-east-1"):
    boto3.client("ecr", endpoint_url=url, region_name=region, config=cfg,
                 aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                 aws_session_token=c["SessionToken"]).register_pull_time_update_exclusion(principalArn=role)
ecr = boto3.client("ecr", endpoint_url=url, region_name="eu-west-1", config=cfg,
                   aws_access_key_id="testing", aws_secret_access_key="testing")
out = {}
def push(repo, tag, manifest):
    text = json.dumps(manifest, separators=(",", ":"), sort_keys=True)
    got = ecr.put_image(repositoryName=repo, imageManifest=text, imageTag=tag)["image"]["imageId"]["imageDigest"]
    assert got == sha(text), (got, sha(text))
    out.setdefault(repo, {})[got] = text
OCI, LAYER = "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"
ecr.create_repository(repositoryName="layers/shared")
base = [{"mediaType": LAYER, "size": 30_000_000, "digest": sha("base:os")},
        {"mediaType": LAYER, "size": 80_000_000, "digest": sha("base:runtime")}]
for i in range(103):
    push("layers/shared", f"b{i}", {
        "schemaVersion": 2, "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 1500 + i,
                   "digest": sha(f"config:b{i}")},
        "layers": base + [{"mediaType": LAYER, "size": 1_000_000 + i, "digest": sha(f"app:b{i}")}]})
if bad:
    ecr.create_repository(repositoryName="layers/bad")
    push("layers/bad", "x1", {
        "schemaVersion": 2, "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 10, "digest": sha("config:x1")},
        "layers": [{"mediaType": LAYER, "size": -5, "digest": sha("app:x1")}]})
print(json.dumps(out))
"#;

/// lastRecordedPullTime of one image of the central (111111111111/eu-west-1) or prod
/// (222222222222/us-east-1) registry, as DescribeImages answers it.
const PULLED: &str = r#"
import sys
import boto3
url, account, region, repo, digest = sys.argv[1:6]
sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
if account != "111111111111":
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/ecrgc-collector",
                        RoleSessionName="layers-test")["Credentials"]
    creds = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
             "aws_session_token": c["SessionToken"]}
ecr = boto3.client("ecr", endpoint_url=url, region_name=region, **creds)
d = ecr.describe_images(repositoryName=repo, imageIds=[{"imageDigest": digest}])["imageDetails"][0]
print(d.get("lastRecordedPullTime") or "never")
"#;

/// An image whose manifest is known: account, region, repository, digest, manifest.
struct Pushed {
    account: String,
    region: String,
    repository: String,
    digest: String,
    manifest: Value,
}

/// Every image of the scenario and of the extra repositories, with its manifest.
fn pushed(env: &Env, extra: &Value) -> Vec<Pushed> {
    let mut out = Vec::new();
    for (name, image) in env.truth["images"].as_object().expect("images") {
        let text = env.truth["manifests"][name]
            .as_str()
            .expect("manifest text");
        out.push(Pushed {
            account: image["account_id"].as_str().expect("a").to_owned(),
            region: image["region"].as_str().expect("r").to_owned(),
            repository: image["repository_name"].as_str().expect("n").to_owned(),
            digest: image["image_digest"].as_str().expect("d").to_owned(),
            manifest: serde_json::from_str(text).expect("manifest JSON"),
        });
    }
    for (repository, images) in extra.as_object().expect("extra") {
        for (digest, text) in images.as_object().expect("images") {
            out.push(Pushed {
                account: "111111111111".into(),
                region: "eu-west-1".into(),
                repository: repository.clone(),
                digest: digest.clone(),
                manifest: serde_json::from_str(text.as_str().expect("text")).expect("JSON"),
            });
        }
    }
    out
}

/// Single-platform image manifests BatchGetImage may read for their layers: not indexes,
/// not the archived image.
fn layered(p: &Pushed, env: &Env) -> bool {
    let archived = env.truth["images"]["worker-archived"]["image_digest"] == p.digest.as_str();
    IMAGE_MANIFESTS.contains(&p.manifest["mediaType"].as_str().unwrap_or_default()) && !archived
}

/// The `image_layers` rows a manifest gives, as the CSV query below prints them.
fn expected_rows(p: &Pushed) -> Vec<String> {
    let key = format!("{},{},{},{}", p.account, p.region, p.repository, p.digest);
    let blob = |b: &Value, kind: &str, index: i64| {
        format!(
            "{key},{},{},{},{kind},{index}",
            b["digest"].as_str().expect("digest"),
            b["size"].as_i64().expect("size"),
            b["mediaType"].as_str().expect("mediaType"),
        )
    };
    let mut rows = vec![blob(&p.manifest["config"], "config", -1)];
    for (i, layer) in p.manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .enumerate()
    {
        rows.push(blob(layer, "layer", i as i64));
    }
    rows
}

fn query(env: &Env, store: &str, sql: &str) -> Vec<String> {
    env.ok(&["query", sql, "--store", store, "--format", "csv"])
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

const LAYER_ROWS: &str = "SELECT account_id, region, repository_name, image_digest, layer_digest, \
     layer_size_bytes, media_type, layer_kind, COALESCE(layer_index, -1) AS i \
     FROM image_layers ORDER BY 1, 2, 3, 4, 9";

const COVERAGE: &str = "SELECT account_id, region, source, status, items FROM collection_coverage \
     WHERE source IN ('ecr', 'ecr_layers', 'pull_time_exclusion') ORDER BY 1, 2, 3";

/// (digests requested by BatchGetImage, in order over every call; calls per account/region).
fn batch_get_calls(env: &Env) -> (Vec<String>, BTreeMap<(String, String), u64>) {
    let mut digests = Vec::new();
    let mut calls = BTreeMap::new();
    for c in env.moto.get("/_ecrgc/calls").as_array().expect("calls") {
        if c["operation"] == "BatchGetImage" {
            for d in c["image_digests"].as_array().into_iter().flatten() {
                digests.push(d.as_str().expect("digest").to_owned());
            }
            let key = (
                c["account_id"].as_str().expect("a").to_owned(),
                c["region"].as_str().expect("r").to_owned(),
            );
            *calls.entry(key).or_default() += c["count"].as_u64().expect("count");
        }
    }
    (digests, calls)
}

#[test]
fn layers_read_every_single_platform_manifest_once_and_check_the_pull_time_exclusion() {
    let Some(env) = Env::start(None) else { return };
    let extra: Value =
        serde_json::from_str(&python(&env, SEED, &[env.moto.url(), "good"])).expect("seed output");
    env.moto
        .post("/_ecrgc/seed", &json!({"ecr_record_pulls": true}));
    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let config = env.config("ecrgc.toml", CONFIG);
    let (c, store) = (s(&config), s(&env.path("store")));
    let o = env.ecrgc(&[
        "collect",
        "--config",
        &c,
        "--store",
        &store,
        "--now",
        now(),
        "--layers",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(" image layers) to "), "{stdout}");

    // BatchGetImage fetched each index and each single-platform ACTIVE image exactly once,
    // and nothing else (no archived image); at most 100 ids a call.
    let images = pushed(&env, &extra);
    let indexes: Vec<&Pushed> = images
        .iter()
        .filter(|p| p.manifest.get("manifests").is_some())
        .collect();
    let fetched_for_layers: Vec<&Pushed> = images.iter().filter(|p| layered(p, &env)).collect();
    let (digests, calls) = batch_get_calls(&env);
    let unique: BTreeSet<&String> = digests.iter().collect();
    assert_eq!(unique.len(), digests.len(), "a manifest was fetched twice");
    let expected: BTreeSet<&String> = indexes
        .iter()
        .chain(&fetched_for_layers)
        .map(|p| &p.digest)
        .collect();
    assert_eq!(unique, expected);
    let archived = env.truth["images"]["worker-archived"]["image_digest"]
        .as_str()
        .expect("digest");
    assert!(
        !digests.iter().any(|d| d == archived),
        "archived images cannot be pulled"
    );
    // One call per repository for its indexes, one per 100 images for its layers.
    let mut per_repo: BTreeMap<(&str, &str, &str), (u64, bool)> = BTreeMap::new();
    for p in &fetched_for_layers {
        per_repo
            .entry((p.account.as_str(), p.region.as_str(), p.repository.as_str()))
            .or_default()
            .0 += 1;
    }
    for p in &indexes {
        per_repo
            .entry((p.account.as_str(), p.region.as_str(), p.repository.as_str()))
            .or_default()
            .1 = true;
    }
    let mut want_calls: BTreeMap<(String, String), u64> = BTreeMap::new();
    for ((a, r, _), (n, has_index)) in per_repo {
        *want_calls.entry((a.into(), r.into())).or_default() += n.div_ceil(100) + has_index as u64;
    }
    assert_eq!(calls, want_calls);

    // The rows are the manifests' blobs, config first, layers in order.
    let mut want: Vec<String> = fetched_for_layers
        .iter()
        .flat_map(|p| expected_rows(p))
        .collect();
    want.sort();
    let mut got = query(&env, &store, LAYER_ROWS);
    got.sort();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);

    // 222222222222 excluded the collector role; 111111111111 (the caller's own account,
    // no exclusion) is warned about on stderr and recorded, and its pull times did move.
    let coverage = query(&env, &store, COVERAGE);
    let status = |a: &str, r: &str, src: &str| {
        coverage
            .iter()
            .find(|l| l.starts_with(&format!("{a},{r},{src},")))
            .unwrap_or_else(|| panic!("no {src} row for {a}/{r}: {coverage:?}"))
            .split(',')
            .nth(3)
            .expect("status")
            .to_owned()
    };
    for r in ["eu-west-1", "us-east-1"] {
        for a in ["111111111111", "222222222222"] {
            assert_eq!(status(a, r, "ecr"), "ok");
            assert_eq!(status(a, r, "ecr_layers"), "ok");
        }
        assert_eq!(status("222222222222", r, "pull_time_exclusion"), "ok");
        assert_eq!(
            status("111111111111", r, "pull_time_exclusion"),
            "not_excluded"
        );
        assert!(
            stderr.contains(&format!("warning: 111111111111/{r}:"))
                && !stderr.contains(&format!("warning: 222222222222/{r}:")),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("register-pull-time-update-exclusion"),
        "{stderr}"
    );
    let layer_items: i64 = coverage
        .iter()
        .filter(|l| l.contains(",ecr_layers,"))
        .map(|l| {
            l.rsplit(',')
                .next()
                .expect("items")
                .parse::<i64>()
                .expect("n")
        })
        .sum();
    assert_eq!(layer_items as usize, want.len(), "items count the rows");
    let pulled = |name: &str| {
        let i = &env.truth["images"][name];
        python(
            &env,
            PULLED,
            &[
                env.moto.url(),
                i["account_id"].as_str().expect("a"),
                i["region"].as_str().expect("r"),
                i["repository_name"].as_str().expect("n"),
                i["image_digest"].as_str().expect("d"),
            ],
        )
    };
    assert_ne!(
        pulled("worker-old"),
        "never",
        "not excluded: the pull counted"
    );
    assert_eq!(pulled("private-old"), "never", "excluded: no pull recorded");

    // Layers change no decision.
    let out = s(&env.path("out"));
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
    let wrong = mismatches(&env, &env.path("out"), |_, e| e.to_owned());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn layer_failures_cost_their_repository_or_unit_only() {
    let faults = json!([{
        "account_id": "222222222222", "service": "ecr", "operation": "BatchGetImage",
        "status": 400, "code": "AccessDeniedException",
        "message": "User: arn:aws:sts::222222222222:assumed-role/ecrgc-collector/ecrgc is not authorized to perform: ecr:BatchGetImage"
    }]);
    let Some(env) = Env::start(Some(faults)) else {
        return;
    };
    python(&env, SEED, &[env.moto.url(), "bad"]);
    // The flag wins over the config, both ways.
    let config = env.config(
        "ecrgc.toml",
        &CONFIG.replace("[sources]", "[sources]\nlayers = true"),
    );
    let (c, store) = (s(&config), s(&env.path("store")));
    let collected = env.ok(&["collect", "--config", &c, "--store", &store, "--now", now()]);
    assert!(collected.contains("committed run"), "{collected}");
    let coverage = query(&env, &store, COVERAGE);
    let row = |a: &str, r: &str, src: &str| {
        coverage
            .iter()
            .find(|l| l.starts_with(&format!("{a},{r},{src},")))
            .unwrap_or_else(|| panic!("no {src} row for {a}/{r}: {coverage:?}"))
            .clone()
    };
    assert!(row("222222222222", "us-east-1", "ecr").contains(",ok,"));
    assert!(row("111111111111", "eu-west-1", "ecr").contains(",ok,"));
    assert!(row("222222222222", "us-east-1", "ecr_layers").contains(",error,"));
    assert!(row("111111111111", "eu-west-1", "ecr_layers").contains(",error,"));
    let errors = query(
        &env,
        &store,
        "SELECT account_id, region, error FROM collection_coverage \
         WHERE source = 'ecr_layers' AND status <> 'ok' ORDER BY 1, 2",
    )
    .join("\n");
    assert!(
        errors.contains("layers/bad")
            && errors.contains("layers[0].size: expected a non-negative integer, got -5"),
        "{errors}"
    );
    assert!(
        errors.contains("AccessDeniedException") && errors.contains("skipped"),
        "{errors}"
    );
    // Whole or nothing per repository; the inventory is whole either way.
    let repos = query(
        &env,
        &store,
        "SELECT DISTINCT account_id || '/' || repository_name FROM image_layers ORDER BY 1",
    );
    assert!(
        repos.contains(&"111111111111/payments/api".to_owned()),
        "{repos:?}"
    );
    assert!(
        repos.contains(&"111111111111/layers/shared".to_owned()),
        "{repos:?}"
    );
    assert!(
        !repos
            .iter()
            .any(|r| r.starts_with("222222222222/") || r.ends_with("layers/bad")),
        "{repos:?}"
    );
    let bad = query(
        &env,
        &store,
        "SELECT COUNT(*) FROM images WHERE repository_name = 'layers/bad'",
    );
    assert_eq!(bad, vec!["1"]);

    // --no-layers wins over the config: no layer unit, no layer row.
    env.moto.post("/_ecrgc/calls/reset", &json!({}));
    let store2 = s(&env.path("store2"));
    env.ok(&[
        "collect",
        "--config",
        &c,
        "--store",
        &store2,
        "--now",
        now(),
        "--no-layers",
    ]);
    let (digests, _) = batch_get_calls(&env);
    assert_eq!(digests.len(), 2, "the two indexes only: {digests:?}");
    assert!(query(&env, &store2, "SELECT * FROM image_layers").is_empty());
    assert!(
        query(&env, &store2, COVERAGE)
            .iter()
            .all(|l| !l.contains(",ecr_layers,")),
        "no layer units"
    );
}
