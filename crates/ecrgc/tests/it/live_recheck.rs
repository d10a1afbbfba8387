//! `ecrgc apply` re-checks everything live: every workload reference in every configured
//! account and region (not only those made since the snapshot), and each image once more
//! right before the deleting call. A store record re-minted with an extra item whose image a
//! live ACTIVE task definition, a service revision's pin or a Lambda version names deletes
//! nothing of it; an image archived, tagged or pulled after the plan, or between the check
//! and the call, is left alone. moto's call log is the witness of what was deleted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ecrgc_manifest::{Item, Manifest, items_sha256};
use ecrgc_review::ReviewedPlan;
use serde_json::{Value, json};

use crate::common::moto::{Env, Key, python};
use crate::common::planned::{APPLY_SETTINGS, Planned, calls};
use crate::common::s;

/// What a forger who can write the store does: adds an item for `key` (carrying `tags`) to
/// the manifest at `manifest`, fixes its id, the header's figures and `items_sha256`, and
/// records the new plan in the store at `store` (`_manifests/<manifest_id>.json`). Returns
/// the new manifest's path.
fn re_mint(env: &Env, store: &Path, manifest: &Path, key: &Key, tags: &[&str]) -> PathBuf {
    let text = std::fs::read_to_string(manifest).expect("manifest");
    let mut m = Manifest::from_json("manifest.json", &text).expect("a valid manifest");
    let template = m.items.first().expect("the plan has items").clone();
    let (account_id, region, repository_name, image_digest) = key.clone();
    let mut item = Item {
        account_id,
        region,
        repository_name,
        image_digest,
        image_tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        parent_digests: Vec::new(),
        replicas: Vec::new(),
        replica_bytes: 0,
        replica_destinations: Vec::new(),
        ..template
    };
    // Nothing the per-image checks could object to: no push or pull time to compare.
    item.evidence.pushed_at = None;
    item.evidence.last_recorded_pull_time = None;
    item.evidence.last_in_use_at = None;
    item.item_id = item.compute_id();
    m.header.totals.images += 1;
    m.header.totals.bytes += item.image_size_bytes.max(0) as u64;
    m.items.push(item);
    m.header.plan.items_sha256 = items_sha256(m.items.iter().map(|i| i.item_id.as_str()));
    let record = m.record();
    let parts = ecrgc_review::record_parts(&record.plan_id);
    let dir = store.join(&parts[0]);
    std::fs::create_dir_all(&dir).expect("records folder");
    std::fs::write(
        dir.join(&parts[1]),
        serde_json::to_vec_pretty(&record).expect("record json"),
    )
    .expect("write the record");
    let path = env.path("re-minted.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&m).expect("json")).expect("write");
    path
}

/// The journal's last word on `digest` (event, reason, message), intents aside.
fn last_event(manifest: &Path, digest: &str) -> (String, String, String) {
    let path = ecrgc_exec::cli::default_journal(manifest);
    let mut last = (String::new(), String::new(), String::new());
    for line in std::fs::read_to_string(&path).unwrap_or_default().lines() {
        let e: Value = serde_json::from_str(line).expect("journal line");
        if e["image_digest"] != digest || e["event"] == "intent" {
            continue;
        }
        let f = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
        last = (f("event"), f("reason"), f("message"));
    }
    last
}

fn manifest_digests(manifest: &Path) -> BTreeSet<String> {
    let m: Value = serde_json::from_slice(&std::fs::read(manifest).expect("read")).expect("json");
    m["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["image_digest"].as_str().expect("digest").to_owned())
        .collect()
}

#[test]
fn a_re_minted_record_naming_an_image_an_active_task_definition_used_at_the_snapshot_deletes_nothing_of_it()
 {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    // `by-digest` is named by the ACTIVE task definition `api-by-digest` (222/us-east-1),
    // registered before the snapshot: the plan keeps it.
    let target = p.key("by-digest");
    let planned = manifest_digests(&p.manifest());
    assert!(!planned.contains(&target.3), "the plan keeps it");
    let forged = re_mint(&p.env, Path::new(&p.store), &p.manifest(), &target, &[]);

    let summary = p.apply_ok(&forged, &["--yes"]);
    let (event, reason, message) = last_event(&forged, &target.3);
    assert_eq!(
        (event.as_str(), reason.as_str()),
        ("skipped", "in_use_reference"),
        "{message}\n{summary}"
    );
    assert!(message.contains("api-by-digest"), "{message}");
    let deleted: BTreeSet<String> = p.delete_calls().into_iter().collect();
    assert!(!deleted.contains(&target.3), "{deleted:?}");
    // The re-minted record was admitted: everything the plan planned went.
    assert_eq!(deleted, planned, "{summary}");
}

#[test]
fn a_service_revision_pin_keeps_a_re_minted_item() {
    let Some(env) = crate::ecs_pins::start(&[], None) else {
        return;
    };
    let text = format!("{}{APPLY_SETTINGS}", crate::ecs_pins::CONFIG);
    crate::ecs_pins::collect_and_plan(&env, &text);
    let config = env.path("ecrgc.toml");
    let store = env.path("store");
    let manifest = env.path("out").join("manifest.json");
    // `pinned` carries no tag any more; only the scaled-to-zero service's revision pins it.
    let pinned = crate::ecs_pins::key(&env, "pinned");
    let planned = manifest_digests(&manifest);
    assert!(!planned.contains(&pinned.3));
    let forged = re_mint(&env, &store, &manifest, &pinned, &[]);
    let (c, m, st) = (s(&config), s(&forged), s(&store));
    env.ok(&["apply", &m, "--config", &c, "--store", &st, "--yes"]);
    let (event, reason, message) = last_event(&forged, &pinned.3);
    assert_eq!(
        (event.as_str(), reason.as_str()),
        ("skipped", "in_use_reference"),
        "{message}"
    );
    assert!(message.contains("service-revision"), "{message}");
    let deleted: BTreeSet<String> = calls(&env, "BatchDeleteImage").into_iter().collect();
    assert!(!deleted.contains(&pinned.3));
    assert_eq!(deleted, planned);
}

/// Creates the image function `name` in 333333333333/us-east-1 on `first`, publishes it as
/// version 1 with the alias `prod`, then points `$LATEST` at `then`.
fn lambda_version_then_move_on(env: &Env, name: &str, first: &str, then: &str) {
    let script = r#"
import sys
import boto3
from botocore.config import Config
sys.path.insert(0, sys.argv[1])
from scenario import account_credentials
url, name, first, then = sys.argv[2:6]
creds = account_credentials(url, "333333333333", Config(retries={"max_attempts": 1}), {}, "ecrgc-test")
lam = boto3.client("lambda", endpoint_url=url, region_name="us-east-1", **creds)
lam.create_function(FunctionName=name, Role="arn:aws:iam::333333333333:role/lambda-exec",
                    PackageType="Image", Code={"ImageUri": first})
version = lam.publish_version(FunctionName=name)["Version"]
lam.create_alias(FunctionName=name, Name="prod", FunctionVersion=version)
lam.update_function_code(FunctionName=name, ImageUri=then)
assert lam.get_function(FunctionName=name)["Code"]["ImageUri"] == then
assert lam.get_function(FunctionName=name, Qualifier=version)["Code"]["ImageUri"] == first
"#;
    let root = s(&ecrgc_testkit::repo_root().join("testing/moto"));
    python(env, script, &[&root, env.moto.url(), name, first, then]);
}

#[test]
fn a_lambda_version_behind_an_alias_keeps_the_digest_latest_moved_away_from() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    let manifest = p.manifest();
    let (account, region, repo, digest) = p.key("old-unused");
    let host = format!("{account}.dkr.ecr.{region}.amazonaws.com/{repo}");
    // After the plan: version 1 (and the alias `prod`) run `old-unused` by digest; `$LATEST`
    // has moved on to `signed`'s tag.
    lambda_version_then_move_on(
        &p.env,
        "pinned-fn",
        &format!("{host}@{digest}"),
        &format!("{host}:v9"),
    );
    p.apply_ok(&manifest, &["--yes"]);
    let (event, reason, message) = last_event(&manifest, &digest);
    assert_eq!(
        (event.as_str(), reason.as_str()),
        ("skipped", "in_use_reference"),
        "{message}"
    );
    assert!(
        message.contains("function:pinned-fn:1") || message.contains("function:pinned-fn:prod"),
        "{message}"
    );
    // Its signature follows it.
    let sig = p.digest("old-unused-sig");
    assert_eq!(last_event(&manifest, &sig).1, "parent_kept");
    let deleted: BTreeSet<String> = p.delete_calls().into_iter().collect();
    assert!(!deleted.contains(&digest) && !deleted.contains(&sig));
    assert!(deleted.contains(&p.digest("stale")), "the rest went");
}

#[test]
fn an_image_archived_after_the_plan_is_not_deleted() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    let manifest = p.manifest();
    let (account, region, repo, digest) = p.key("stale");
    // Someone archives it between the plan and the apply.
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"images": [{"account_id": account, "region": region, "repository_name": repo,
                            "image_digest": digest, "image_status": "ARCHIVED",
                            "last_archived_at": "2026-11-21T02:00:00Z"}]}),
    );
    p.apply_ok(&manifest, &["--yes"]);
    let (event, reason, message) = last_event(&manifest, &digest);
    assert_eq!(
        (event.as_str(), reason.as_str()),
        ("skipped", "archived_since_plan"),
        "{message}"
    );
    let sbom = p.digest("stale-sbom");
    assert_eq!(last_event(&manifest, &sbom).1, "parent_kept");
    let deleted: BTreeSet<String> = p.delete_calls().into_iter().collect();
    assert!(!deleted.contains(&digest) && !deleted.contains(&sbom));
    assert!(deleted.contains(&p.digest("old-unused")), "the rest went");
}

#[test]
fn an_image_tagged_or_pulled_between_the_check_and_the_delete_is_left_alone() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    let manifest = p.manifest();
    let tagged = p.key("worker-old");
    let pulled = p.key("private-old");
    let untouched = p.key("stopped-long-ago");
    // Right after the check's DescribeImages of each repository was answered (before the
    // deleting call): a person tags `worker-old`, a pull of `private-old` is recorded.
    let trigger = |key: &Key, change: Value| {
        let mut t = json!({"account_id": key.0, "region": key.1, "service": "ecr",
                           "operation": "DescribeImages", "repository_name": key.2, "after": 1});
        t.as_object_mut()
            .expect("object")
            .extend(change.as_object().expect("object").clone());
        t
    };
    let row = |key: &Key| {
        json!({"account_id": key.0, "region": key.1, "repository_name": key.2,
               "image_digest": key.3})
    };
    let mut tag = row(&tagged);
    tag["tag"] = json!("hotfix");
    let mut pull = row(&pulled);
    pull["last_recorded_pull_time"] = json!("2026-11-21T05:00:00Z");
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"triggers": [
            trigger(&tagged, json!({"tags": [tag]})),
            trigger(&pulled, json!({"images": [pull]})),
        ]}),
    );
    p.apply_ok(&manifest, &["--yes"]);
    let fired: Vec<Value> = p.env.moto.get("/_ecrgc/seed")["triggers"]
        .as_array()
        .expect("triggers")
        .iter()
        .filter(|t| t["fired"] == true)
        .cloned()
        .collect();
    assert_eq!(fired.len(), 2, "both changes happened during the run");
    let (event, reason, message) = last_event(&manifest, &tagged.3);
    assert_eq!(
        (event.as_str(), reason.as_str()),
        ("skipped", "tagged_since_plan"),
        "{message}"
    );
    assert!(message.contains("hotfix") && message.contains("right before the call"));
    let (event, reason, message) = last_event(&manifest, &pulled.3);
    assert_eq!(
        (event.as_str(), reason.as_str()),
        ("skipped", "pulled_since_snapshot"),
        "{message}"
    );
    // The journal had announced both: the intents were written before the last look.
    let intents = std::fs::read_to_string(ecrgc_exec::cli::default_journal(&manifest))
        .expect("journal")
        .lines()
        .filter(|l| l.contains("\"intent\"") && (l.contains(&tagged.3) || l.contains(&pulled.3)))
        .count();
    assert_eq!(intents, 2);
    let deleted: BTreeSet<String> = p.delete_calls().into_iter().collect();
    assert!(!deleted.contains(&tagged.3) && !deleted.contains(&pulled.3));
    assert!(
        deleted.contains(&untouched.3),
        "the unchanged image of the same batch went"
    );
}
