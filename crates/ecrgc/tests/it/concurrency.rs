//! One `apply --yes` at a time per manifest, and what an apply's exit status says.
//!
//! Two applies of one manifest started together: exactly one proceeds, the other exits 2
//! naming the holder, and no image goes to BatchDeleteImage twice; a lease left by an apply
//! that died elsewhere is taken over once expired, and refuses until then; on a local
//! folder and on an S3 store (moto, whose PutObject honours `If-None-Match: *`). A failed
//! sweep or an unavailable role exits 3 (blocked), a failed deletion 1.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use ecrgc_exec::lease::{FOLDER, Holder, LEASE_VERSION, LeaseRecord, LeaseState};
use ecrgc_manifest::Manifest;
use serde_json::{Value, json};

use crate::common::moto::{CONFIG, Env, now};
use crate::common::planned::{APPLY_SETTINGS, Planned, manifest_digests};
use crate::common::stderr;
use crate::common::{s, text};

const BUCKET: &str = "snapshots";
const PREFIX: &str = "ecrgc";

/// The scenario planned into a store in an S3 bucket on moto.
fn planned_on_s3(apply: &str) -> Option<Planned> {
    let env = Env::start(None)?;
    env.moto.create_bucket(BUCKET);
    let store = format!("s3://{BUCKET}/{PREFIX}");
    let config = env.config(
        "ecrgc.toml",
        &format!("store = \"{store}\"\n{CONFIG}{apply}"),
    );
    let (c, out) = (s(&config), env.path("out"));
    env.ok(&["collect", "--config", &c, "--now", now()]);
    env.ok(&["plan", "--config", &c, "--now", now(), "--out", &s(&out)]);
    Some(Planned {
        env,
        config,
        store,
        out,
    })
}

fn manifest_id(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).expect("manifest");
    Manifest::from_json("manifest", &text)
        .expect("valid")
        .header
        .manifest_id()
}

/// `apply MANIFEST --yes` started in the background, its output captured.
fn spawn_apply(p: &Planned, manifest: &Path) -> Child {
    let (config, m) = (s(&p.config), s(manifest));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecrgc"));
    cmd.args([
        "apply", &m, "--config", &config, "--store", &p.store, "--yes",
    ])
    .env("NO_COLOR", "1")
    .env_remove("ECRGC_CONFIG")
    .env_remove("ECRGC_STORE")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in p.env.moto.env() {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn apply")
}

/// Every lease generation of `plan` in the store, by name.
fn leases(p: &Planned, plan: &str) -> BTreeMap<String, LeaseRecord> {
    let bodies: BTreeMap<String, String> = match p.store.strip_prefix("s3://") {
        Some(_) => {
            let script = r#"
import json, sys
import boto3
url, bucket, prefix = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
print(json.dumps({o["Key"][len(prefix):]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
                  for o in listed}))
"#;
            let prefix = format!("{PREFIX}/{FOLDER}/{plan}/");
            let out = p
                .env
                .moto
                .run_python(script, &[p.env.moto.url(), BUCKET, &prefix]);
            serde_json::from_str(&out).expect("listing")
        }
        None => {
            let dir = Path::new(&p.store).join(FOLDER).join(plan);
            std::fs::read_dir(&dir)
                .map(|entries| {
                    // Only finished records: the local store writes each one to a staging
                    // file (`<name>#<n>`) first and links it into place, and a listing
                    // taken meanwhile sees the staging file empty.
                    entries
                        .map(|e| e.expect("entry").path())
                        .filter(|path| path.extension().is_some_and(|x| x == "json"))
                        .map(|path| {
                            let name = path.file_name().expect("name");
                            let body = std::fs::read_to_string(&path).expect("read");
                            (name.to_string_lossy().into_owned(), body)
                        })
                        .collect()
                })
                .unwrap_or_default()
        }
    };
    bodies
        .into_iter()
        .map(|(name, body)| (name, serde_json::from_str(&body).expect("a lease record")))
        .collect()
}

/// Writes a lease generation into the store, as another apply would have.
fn put_lease(p: &Planned, record: &LeaseRecord) {
    let name = format!("{:020}.json", record.generation);
    let body = serde_json::to_string(record).expect("json");
    match p.store.strip_prefix("s3://") {
        Some(_) => {
            let script = r#"
import sys
import boto3
url, bucket, key, body = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
"#;
            let key = format!("{PREFIX}/{FOLDER}/{}/{name}", record.plan_id);
            p.env
                .moto
                .run_python(script, &[p.env.moto.url(), BUCKET, &key, &body]);
        }
        None => {
            let dir = Path::new(&p.store).join(FOLDER).join(&record.plan_id);
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join(name), body).expect("write");
        }
    }
}

/// A lease generation held by an apply on another machine, expiring `seconds` from now
/// (the real clock: leases ignore `--now`).
fn held_elsewhere(plan: &str, generation: u64, seconds: i64) -> LeaseRecord {
    let now = chrono::Utc::now();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    LeaseRecord {
        lease_version: LEASE_VERSION,
        plan_id: plan.to_owned(),
        generation,
        state: LeaseState::Held,
        holder: Holder {
            arn: Some("arn:aws:sts::999999999999:assumed-role/ecrgc-executor/nightly".into()),
            host: "ci-runner-7".into(),
            pid: 4242,
            session: "20261121T030000000Z-1092".into(),
            process: None,
        },
        written_at: at(now - chrono::Duration::seconds(120)),
        expires_at: at(now + chrono::Duration::seconds(seconds)),
        lease_seconds: 120,
        tool_version: "0.0.0".into(),
    }
}

fn each_digest_once(deleted: &[String], planned: &BTreeSet<String>) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in deleted {
        *counts.entry(d).or_default() += 1;
    }
    assert!(
        counts.values().all(|n| *n == 1),
        "a digest went to BatchDeleteImage twice: {counts:?}"
    );
    let sent: BTreeSet<String> = counts.keys().map(|d| d.to_string()).collect();
    assert_eq!(&sent, planned, "exactly the manifest was deleted");
}

fn two_applies_at_once(p: Planned) {
    let manifest = p.manifest();
    let planned = manifest_digests(&manifest);
    let plan = manifest_id(&manifest);
    // Slow deletions: the first apply is still deleting when the second reaches its lease.
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"delays": [{"service": "ecr", "operation": "BatchDeleteImage", "ms": 500}]}),
    );
    let (a, b) = (spawn_apply(&p, &manifest), spawn_apply(&p, &manifest));
    let pids = (a.id(), b.id());
    let (a, b) = (
        a.wait_with_output().expect("apply a"),
        b.wait_with_output().expect("apply b"),
    );
    let report = |o: &Output| format!("{}\n{}", text(&o.stdout), text(&o.stderr));
    let (winner, winner_pid, loser) = match (a.status.code(), b.status.code()) {
        (Some(0), Some(2)) => (&a, pids.0, &b),
        (Some(2), Some(0)) => (&b, pids.1, &a),
        codes => panic!(
            "one apply proceeds and one is refused, got {codes:?}\n--- a\n{}\n--- b\n{}",
            report(&a),
            report(&b)
        ),
    };
    let refused = text(&loser.stderr);
    for part in [
        "is being applied by arn:aws:",
        &format!("on host {}", ecrgc_exec::lease::host_name()),
        &format!("(pid {winner_pid}, session "),
        "expires at",
        &plan,
    ] {
        assert!(refused.contains(part), "{part:?} in:\n{refused}");
    }
    assert!(loser.stdout.is_empty(), "the refused apply did nothing");
    assert!(
        text(&winner.stdout).contains("deleted               12 images"),
        "{}",
        report(winner)
    );
    each_digest_once(&p.delete_calls(), &planned);
    let sessions: BTreeSet<String> = p
        .journal(&manifest)
        .iter()
        .filter_map(|e| e["session"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(sessions.len(), 1, "the refused apply journaled nothing");

    // The winner held generation 1 and released it.
    let held = leases(&p, &plan);
    let states: Vec<(u64, LeaseState, u32)> = held
        .values()
        .map(|r| (r.generation, r.state, r.holder.pid))
        .collect();
    assert_eq!(
        states,
        vec![
            (1, LeaseState::Held, winner_pid),
            (2, LeaseState::Released, winner_pid)
        ]
    );
    assert!(held.values().all(|r| r.holder.arn.is_some()), "{held:?}");

    // Released: the next apply needs no wait, and repeats nothing.
    let again = p.apply_ok(&manifest, &["--yes"]);
    assert!(again.contains("earlier               12"), "{again}");
    assert_eq!(p.delete_calls().len(), planned.len());
}

fn a_stale_lease_is_taken_over(p: Planned) {
    let manifest = p.manifest();
    let planned = manifest_digests(&manifest);
    let plan = manifest_id(&manifest);

    // Held on another machine for another hour: refused, naming it; nothing is done.
    put_lease(&p, &held_elsewhere(&plan, 1, 3600));
    let o = p.apply(&manifest, &["--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let refused = stderr(&o);
    assert!(
        refused.contains(
            "is being applied by arn:aws:sts::999999999999:assumed-role/ecrgc-executor/nightly \
             on host ci-runner-7 (pid 4242, session 20261121T030000000Z-1092)"
        ) && refused.contains("lease (generation 1) expires at"),
        "{refused}"
    );
    assert!(p.delete_calls().is_empty(), "nothing deleted");
    assert!(p.journal(&manifest).is_empty(), "nothing journaled");
    // A dry run takes no lease and is not refused.
    let listing = p.apply_ok(&manifest, &[]);
    assert!(listing.contains("would_delete"), "{listing}");
    assert_eq!(leases(&p, &plan).len(), 1);

    // That apply died and its lease expired a minute ago: the next apply takes it over.
    put_lease(&p, &held_elsewhere(&plan, 2, -60));
    let o = p.apply(&manifest, &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "took over the apply lease of arn:aws:sts::999999999999:assumed-role/\
             ecrgc-executor/nightly on host ci-runner-7"
        ),
        "{}",
        stderr(&o)
    );
    each_digest_once(&p.delete_calls(), &planned);
    let held: Vec<(u64, LeaseState, String)> = leases(&p, &plan)
        .into_values()
        .map(|r| (r.generation, r.state, r.holder.host))
        .collect();
    let here = ecrgc_exec::lease::host_name();
    assert_eq!(
        held,
        vec![
            (1, LeaseState::Held, "ci-runner-7".into()),
            (2, LeaseState::Held, "ci-runner-7".into()),
            (3, LeaseState::Held, here.clone()),
            (4, LeaseState::Released, here),
        ]
    );
}

#[test]
fn two_applies_of_one_manifest_one_proceeds_the_other_is_refused() {
    let settings = format!("{APPLY_SETTINGS}batch_size = 1\nparallel_repositories = 1\n");
    let Some(p) = Planned::new(None, &settings) else {
        return;
    };
    two_applies_at_once(p);
}

#[test]
fn two_applies_of_one_manifest_on_an_s3_store() {
    let settings = format!("{APPLY_SETTINGS}batch_size = 1\nparallel_repositories = 1\n");
    let Some(p) = planned_on_s3(&settings) else {
        return;
    };
    two_applies_at_once(p);
}

#[test]
fn a_stale_lease_is_taken_over_a_live_one_refuses() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    a_stale_lease_is_taken_over(p);
}

#[test]
fn a_stale_lease_is_taken_over_on_an_s3_store() {
    let Some(p) = planned_on_s3(APPLY_SETTINGS) else {
        return;
    };
    a_stale_lease_is_taken_over(p);
}

#[test]
fn an_apply_whose_lease_is_taken_over_stops_before_its_next_deletion() {
    // A 10 s lease, renewed every 3⅓ s; one image a second.
    let settings =
        format!("{APPLY_SETTINGS}batch_size = 1\nparallel_repositories = 1\nlease_seconds = 10\n");
    let Some(p) = Planned::new(None, &settings) else {
        return;
    };
    let manifest = p.manifest();
    let plan = manifest_id(&manifest);
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"delays": [{"service": "ecr", "operation": "BatchDeleteImage", "ms": 1000}]}),
    );
    let child = spawn_apply(&p, &manifest);
    let started = std::time::Instant::now();
    while leases(&p, &plan).is_empty() {
        assert!(started.elapsed().as_secs() < 60, "the apply took no lease");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Another apply (wrongly believing generation 1 expired) takes generation 2 before the
    // holder's first renewal can.
    put_lease(&p, &held_elsewhere(&plan, 2, 3600));
    let o = child.wait_with_output().expect("apply");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("was lost")
            && err.contains("on host ci-runner-7 (pid 4242")
            && err.contains("stopped before its next change"),
        "{err}"
    );
    let deleted = p.delete_calls();
    assert!(
        !deleted.is_empty() && deleted.len() < manifest_digests(&manifest).len(),
        "stopped mid-run: {deleted:?}"
    );
    let journal = p.journal(&manifest);
    let last_intent = journal.iter().rposition(|e| e["event"] == "intent");
    let answered = journal
        .iter()
        .filter(|e| matches!(e["event"].as_str(), Some("deleted" | "absent" | "failed")))
        .count();
    assert!(last_intent.is_some());
    assert_eq!(
        answered,
        deleted.len(),
        "every deletion sent was journaled; none after the loss: {journal:?}"
    );
    // It released nothing over the new holder's lease.
    let last = leases(&p, &plan).into_values().last().expect("lease");
    assert_eq!(
        (last.generation, last.holder.host.as_str()),
        (2, "ci-runner-7")
    );
}

/// The blocked line of the summary: `  blocked   N (…)`.
fn blocked_count(summary: &str) -> Option<u64> {
    summary
        .lines()
        .find(|l| l.trim_start().starts_with("blocked "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
}

#[test]
fn a_failed_sweep_exits_3_and_the_next_apply_finishes() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    let manifest = p.manifest();
    // ECS in one workload account cannot be read once: new references there are unknown.
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"faults": [{"account_id": "333333333333", "region": "us-east-1",
                            "service": "ecs", "operation": "ListTaskDefinitions",
                            "status": 400, "code": "AccessDeniedException", "times": 1}]}),
    );
    let o = p.apply(&manifest, &["--yes"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let summary = text(&o.stdout);
    assert_eq!(blocked_count(&summary), Some(12), "{summary}");
    assert!(
        stderr(&o).contains("12 items were blocked (12 reference_check_failed)"),
        "{}",
        stderr(&o)
    );
    assert!(p.delete_calls().is_empty());

    // A dry run says the same with the same status.
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"faults": [{"account_id": "333333333333", "region": "us-east-1",
                            "service": "ecs", "operation": "ListTaskDefinitions",
                            "status": 400, "code": "AccessDeniedException", "times": 1}]}),
    );
    assert_eq!(p.apply(&manifest, &[]).status.code(), Some(3));

    // The fault is spent: blocked items are checked again, and deleted.
    let summary = p.apply_ok(&manifest, &["--yes"]);
    assert!(
        summary.contains("deleted               12 images"),
        "{summary}"
    );
    assert_eq!(blocked_count(&summary), None, "{summary}");
}

#[test]
fn an_unavailable_role_exits_3() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    let manifest = p.manifest();
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"faults": [{"account_id": "222222222222", "service": "sts",
                            "operation": "AssumeRole", "status": 403, "code": "AccessDenied",
                            "message": "not authorized to perform sts:AssumeRole"}]}),
    );
    let o = p.apply(&manifest, &["--yes"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let summary = text(&o.stdout);
    assert_eq!(blocked_count(&summary), Some(12), "{summary}");
    assert!(summary.contains("role_unavailable"), "{summary}");
    assert!(stderr(&o).contains("role_unavailable"), "{}", stderr(&o));
    assert!(p.delete_calls().is_empty());
}

#[test]
fn a_failed_deletion_exits_1() {
    let Some(p) = Planned::new(None, APPLY_SETTINGS) else {
        return;
    };
    let manifest = p.manifest();
    p.env.moto.post(
        "/_ecrgc/seed",
        &json!({"faults": [{"service": "ecr", "operation": "BatchDeleteImage",
                            "status": 400, "code": "AccessDeniedException"}]}),
    );
    let o = p.apply(&manifest, &["--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("items failed"), "{}", stderr(&o));
    let summary = text(&o.stdout);
    assert!(summary.contains("AccessDeniedException"), "{summary}");
    let events: Vec<Value> = p.journal(&manifest);
    assert!(
        events.iter().any(|e| e["event"] == "failed"),
        "failures are journaled"
    );
}

#[test]
fn help_documents_the_lease_and_every_exit_status() {
    // `ecrgc-exec --help` ends with the same text: both take it from `ApplyArgs`.
    let o = Command::new(env!("CARGO_BIN_EXE_ecrgc"))
        .args(["apply", "--help"])
        .output()
        .expect("runs");
    assert!(o.status.success());
    let help = text(&o.stdout);
    for part in [
        "One apply --yes at a time per manifest",
        "lease_seconds",
        "  0  every item",
        "  1  an item failed",
        "  2  bad input, or another apply holds the manifest's lease",
        "  3  nothing failed, but items were blocked",
    ] {
        assert!(help.contains(part), "{part:?} in\n{help}");
    }
}
