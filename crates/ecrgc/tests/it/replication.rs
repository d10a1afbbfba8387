//! Delete replication end to end against the moto server: `collect` reads the replication
//! rules (DescribeRegistry, `deleteReplication`), `plan` keeps a source whose replica stays
//! and lists the replicas a deletion takes along, and `apply` deletes replicas before their
//! sources and refuses an item whose deletion would now replicate somewhere the plan did not
//! consider.
//!
//! The organization: account 111111111111 with `payments/api` in eu-west-1 (the source) and
//! us-east-1 (the destination). Image `a` is in both regions and only its us-east-1 copy is
//! named, by digest, by an ACTIVE task definition in us-east-1; image `b` is in both regions
//! and named by nothing. Both are old, covered by Inspector and never seen in use
//! (`never_used` flags all four copies). ECR itself (and moto) copies images only on push, so
//! the test pushes the same manifest to both regions: the digest is the manifest's hash.

use std::collections::BTreeMap;
use std::process::Command;

use ecrgc_testkit::Moto;
use serde_json::{Value, json};

use crate::common::moto::now;
use crate::common::s;

const CONFIG: &str = r#"
[org]
accounts = ["111111111111"]
regions = ["eu-west-1", "us-east-1"]

[collect]
initial_backoff_ms = 5
max_backoff_ms = 200
"#;

const SOURCE: &str = "eu-west-1";
const DESTINATION: &str = "us-east-1";
const ACCOUNT: &str = "111111111111";

/// Pushes the organization; `argv[2]` is the replication rule's deleteReplication (`on`,
/// `off`). Prints {"a": digest, "b": digest}.
const SEED: &str = r#"
import hashlib, json, sys
import boto3
from botocore.config import Config
url, delete = sys.argv[1], sys.argv[2] == "on"
cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"})
def client(service, region):
    return boto3.client(service, endpoint_url=url, region_name=region, config=cfg,
                        aws_access_key_id="testing", aws_secret_access_key="testing")
OCI, LAYER = "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"
def manifest(name):
    h = lambda t: "sha256:" + hashlib.sha256(t.encode()).hexdigest()
    return json.dumps({"schemaVersion": 2, "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 100, "digest": h("c" + name)},
        "layers": [{"mediaType": LAYER, "size": 5000000, "digest": h("l" + name)}]},
        separators=(",", ":"), sort_keys=True)
digests = {}
seed = {"images": [], "coverage": []}
for region in ("eu-west-1", "us-east-1"):
    ecr = client("ecr", region)
    arn = ecr.create_repository(repositoryName="payments/api")["repository"]["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "ecrgc:auto-delete", "Value": "true"}])
    for name in ("a", "b"):
        got = ecr.put_image(repositoryName="payments/api", imageManifest=manifest(name),
                            imageTag=f"v-{name}")["image"]["imageId"]["imageDigest"]
        digests[name] = got
        key = {"account_id": "111111111111", "region": region, "repository_name": "payments/api",
               "image_digest": got}
        seed["images"].append({**key, "image_pushed_at": "2026-01-10T00:00:00Z"})
        seed["coverage"].append({**key, "image_tags": [f"v-{name}"], "last_in_use_at": None,
                                 "in_use_count": 0, "image_pulled_at": None, "scan_status": "ACTIVE"})
client("ecs", "us-east-1").register_task_definition(family="api", containerDefinitions=[{
    "name": "api", "memory": 128,
    "image": f"111111111111.dkr.ecr.us-east-1.amazonaws.com/payments/api@{digests['a']}"}])
rule = {"destinations": [{"region": "us-east-1", "registryId": "111111111111"}],
        "repositoryFilters": [{"filter": "payments/", "filterType": "PREFIX_MATCH"}]}
if delete:
    rule["deleteReplication"] = {"enabled": True}
client("ecr", "eu-west-1").put_replication_configuration(replicationConfiguration={"rules": [rule]})
print(json.dumps({"digests": digests, "seed": seed}))
"#;

/// Turns delete replication on for the eu-west-1 rule (after a plan made without it).
const TURN_ON: &str = r#"
import sys
import boto3
ecr = boto3.client("ecr", endpoint_url=sys.argv[1], region_name="eu-west-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
ecr.put_replication_configuration(replicationConfiguration={"rules": [{
    "destinations": [{"region": "us-east-1", "registryId": "111111111111"}],
    "deleteReplication": {"enabled": True}}]})
"#;

struct Org {
    moto: Moto,
    dir: tempfile::TempDir,
    digests: BTreeMap<String, String>,
}

impl Org {
    fn start(delete_replication: bool) -> Option<Self> {
        let moto = Moto::start()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let out = python(
            &moto,
            SEED,
            &[moto.url(), if delete_replication { "on" } else { "off" }],
        );
        let doc: Value = serde_json::from_str(&out).expect("seed output");
        moto.post("/_ecrgc/seed", &doc["seed"]);
        let digests = doc["digests"]
            .as_object()
            .expect("digests")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("digest").to_owned()))
            .collect();
        std::fs::write(dir.path().join("ecrgc.toml"), CONFIG).expect("config");
        Some(Self { moto, dir, digests })
    }

    fn path(&self, name: &str) -> String {
        s(&self.dir.path().join(name))
    }

    fn ecrgc(&self, args: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecrgc"));
        cmd.args(args)
            .env("NO_COLOR", "1")
            .env_remove("ECRGC_CONFIG")
            .env_remove("ECRGC_STORE");
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        let o = cmd.output().expect("ecrgc runs");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.ecrgc(args);
        assert!(
            ok,
            "ecrgc {args:?} failed\n--- stdout\n{out}--- stderr\n{err}"
        );
        out
    }

    /// collect and plan; returns the manifest.
    fn collect_and_plan(&self) -> Value {
        let (config, store, out) = (
            self.path("ecrgc.toml"),
            self.path("store"),
            self.path("out"),
        );
        self.ok(&[
            "collect",
            "--config",
            &config,
            "--store",
            &store,
            "--now",
            now(),
        ]);
        self.ok(&[
            "plan",
            "--config",
            &config,
            "--store",
            &store,
            "--now",
            now(),
            "--out",
            &out,
        ]);
        let text =
            std::fs::read_to_string(self.dir.path().join("out/manifest.json")).expect("manifest");
        serde_json::from_str(&text).expect("manifest JSON")
    }

    /// (status, reason, guard detail) of every decision row, by "region image".
    fn decisions(&self) -> BTreeMap<String, (String, String, String)> {
        let out = self.path("out");
        // decisions.csv is the plan's own output: read it rather than re-planning.
        let text = std::fs::read_to_string(format!("{out}/decisions.csv")).expect("decisions.csv");
        let mut rows = csv_rows(&text);
        let header = rows.remove(0);
        let col = |name: &str| header.iter().position(|h| h == name).expect(name);
        let (region, digest, status, reason, detail) = (
            col("region"),
            col("image_digest"),
            col("status"),
            col("reason"),
            col("guard_detail"),
        );
        let name_of = |d: &str| {
            self.digests
                .iter()
                .find(|(_, v)| v.as_str() == d)
                .map(|(k, _)| k.clone())
                .unwrap_or_else(|| d.to_owned())
        };
        rows.into_iter()
            .map(|r| {
                (
                    format!("{} {}", r[region], name_of(&r[digest])),
                    (r[status].clone(), r[reason].clone(), r[detail].clone()),
                )
            })
            .collect()
    }

    /// Digests left in `region`'s payments/api.
    fn remaining(&self, region: &str) -> Vec<String> {
        let script = r#"
import sys, json
import boto3
ecr = boto3.client("ecr", endpoint_url=sys.argv[1], region_name=sys.argv[2],
                   aws_access_key_id="testing", aws_secret_access_key="testing")
ids = ecr.list_images(repositoryName="payments/api", filter={"tagStatus": "ANY"})["imageIds"]
print(json.dumps(sorted({i["imageDigest"] for i in ids})))
"#;
        let out = python(&self.moto, script, &[self.moto.url(), region]);
        let digests: Vec<String> = serde_json::from_str(&out).expect("digests");
        let mut names: Vec<String> = digests
            .into_iter()
            .map(|d| {
                self.digests
                    .iter()
                    .find(|(_, v)| **v == d)
                    .map(|(k, _)| k.clone())
                    .unwrap_or(d)
            })
            .collect();
        names.sort();
        names
    }
}

fn python(moto: &Moto, script: &str, args: &[&str]) -> String {
    moto.run_python(script, args)
}

/// A minimal CSV reader for the plan's decisions.csv (quoted fields, no embedded newlines).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut fields = Vec::new();
            let mut cur = String::new();
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '"' if quoted && chars.peek() == Some(&'"') => {
                        cur.push('"');
                        chars.next();
                    }
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(std::mem::take(&mut cur)),
                    c => cur.push(c),
                }
            }
            fields.push(cur);
            fields
        })
        .collect()
}

fn item<'a>(manifest: &'a Value, region: &str, digest: &str) -> Option<&'a Value> {
    manifest["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["region"] == region && i["image_digest"] == digest)
}

#[test]
fn a_replica_in_use_keeps_its_delete_replicating_source_and_apply_deletes_replicas_first() {
    let Some(org) = Org::start(true) else { return };
    let manifest = org.collect_and_plan();
    let d = org.decisions();
    let (a, b) = (&org.digests["a"], &org.digests["b"]);

    // Neither copy of `a` goes: the us-east-1 one is referenced, the eu-west-1 one would
    // take it along.
    assert_eq!(d[&format!("{DESTINATION} a")].1, "live_reference", "{d:?}");
    let source_a = &d[&format!("{SOURCE} a")];
    assert_eq!(
        (source_a.0.as_str(), source_a.1.as_str()),
        ("protected", "replica_kept"),
        "{d:?}"
    );
    assert!(
        source_a
            .2
            .contains("replica in 111111111111/us-east-1 kept: protected (live_reference)"),
        "{source_a:?}"
    );
    assert!(item(&manifest, SOURCE, a).is_none() && item(&manifest, DESTINATION, a).is_none());

    // `b` goes in both regions; the source lists the replica it takes along, and its bytes.
    let source_b = item(&manifest, SOURCE, b).expect("source b in the manifest");
    assert_eq!(
        source_b["replicas"],
        json!([format!("{ACCOUNT}/{DESTINATION}")])
    );
    assert_eq!(
        source_b["replica_destinations"],
        json!([format!("{ACCOUNT}/{DESTINATION}")])
    );
    assert!(source_b["replica_bytes"].as_i64().expect("bytes") > 0);
    let replica_b = item(&manifest, DESTINATION, b).expect("replica b in the manifest");
    assert!(replica_b.get("replicas").is_none(), "{replica_b}");
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(org.dir.path().join("out/summary.json")).expect("summary"),
    )
    .expect("summary JSON");
    assert_eq!(summary["replicas_taken_along"]["images"], 1);

    // apply --yes: the replica first, then its source; `a` untouched everywhere.
    let (config, store) = (org.path("ecrgc.toml"), org.path("store"));
    let m = org.path("out/manifest.json");
    let out = org.ok(&["apply", &m, "--config", &config, "--store", &store, "--yes"]);
    assert!(out.contains("deleted"), "{out}");
    assert_eq!(org.remaining(SOURCE), vec!["a".to_owned()]);
    assert_eq!(org.remaining(DESTINATION), vec!["a".to_owned()]);
    // One BatchDeleteImage in each region, for `b` alone.
    let calls = org.moto.get("/_ecrgc/calls");
    let mut deletes: Vec<(String, Vec<String>)> = calls
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["operation"] == "BatchDeleteImage")
        .map(|c| {
            let digests = c["image_digests"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d.as_str().expect("digest").to_owned())
                .collect();
            (c["region"].as_str().expect("region").to_owned(), digests)
        })
        .collect();
    deletes.sort();
    assert_eq!(
        deletes,
        vec![
            (SOURCE.to_owned(), vec![b.clone()]),
            (DESTINATION.to_owned(), vec![b.clone()])
        ]
    );
    let journal = std::fs::read_to_string(org.path("out/manifest.journal.jsonl")).expect("journal");
    let deleted_regions: Vec<String> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "deleted")
        .map(|e| e["region"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        deleted_regions,
        vec![DESTINATION.to_owned(), SOURCE.to_owned()],
        "{journal}"
    );
}

#[test]
fn without_delete_replication_the_unused_source_goes_and_a_rule_turned_on_since_stops_apply() {
    let Some(org) = Org::start(false) else { return };
    let manifest = org.collect_and_plan();
    let d = org.decisions();
    let a = &org.digests["a"];
    assert_eq!(d[&format!("{DESTINATION} a")].1, "live_reference", "{d:?}");
    assert_eq!(d[&format!("{SOURCE} a")].0, "delete", "{d:?}");
    let source_a = item(&manifest, SOURCE, a).expect("source a in the manifest");
    assert!(source_a.get("replicas").is_none() && source_a.get("replica_destinations").is_none());

    // Delete replication turned on after the plan: deleting the eu-west-1 copies would now
    // delete the us-east-1 ones, which the plan never weighed.
    python(&org.moto, TURN_ON, &[org.moto.url()]);
    let (config, store) = (org.path("ecrgc.toml"), org.path("store"));
    let m = org.path("out/manifest.json");
    let out = org.ok(&["apply", &m, "--config", &config, "--store", &store, "--yes"]);
    assert!(out.contains("replication_changed"), "{out}");
    let journal = std::fs::read_to_string(org.path("out/manifest.journal.jsonl")).expect("journal");
    let skipped: Vec<Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["reason"] == "replication_changed")
        .collect();
    assert_eq!(skipped.len(), 2, "both eu-west-1 items refused:\n{journal}");
    assert!(skipped.iter().all(|e| e["region"] == SOURCE), "{journal}");
    assert!(
        skipped.iter().all(|e| e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("111111111111/us-east-1")),
        "{journal}"
    );
    assert_eq!(org.remaining(SOURCE), vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(org.remaining(DESTINATION), vec!["a".to_owned()]);
}
