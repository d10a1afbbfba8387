//! The moto organization: a server seeded with the multi-account, multi-region scenario
//! (`testing/moto/scenario.py`), the test's clock, and readers of a plan's manifest and
//! decisions checked against the scenario's truth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ecrgc_testkit::Moto;
use serde_json::Value;

pub(crate) use super::s;

thread_local! {
    /// The real clock when the test (its thread) first asked, to the second: the scenario's
    /// "now", the snapshot time and the plan's `--now`. It must be the real clock, since
    /// `apply --yes` refuses a plan made for another instant (a what-if).
    static NOW: &'static str = Box::leak(
        chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
            .into_boxed_str(),
    );
}

/// The test's "now" (see `NOW`).
pub(crate) fn now() -> &'static str {
    NOW.with(|n| *n)
}

/// The test's "now" moved by `hours` (negative: earlier), RFC 3339.
pub(crate) fn at(hours: i64) -> String {
    let now = chrono::DateTime::parse_from_rfc3339(now()).expect("now");
    (now + chrono::Duration::hours(hours))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(crate) const CONFIG: &str = r#"
[org]
accounts = ["111111111111", "222222222222", "333333333333"]
regions = ["eu-west-1", "us-east-1"]
registry_accounts = ["111111111111", "222222222222"]

[sources]
config_aggregator = { account = "111111111111", region = "eu-west-1", name = "org" }

[collect]
initial_backoff_ms = 5
max_backoff_ms = 200
"#;

/// An image: account, region, repository, digest.
pub(crate) type Key = (String, String, String, String);

pub(crate) struct Env {
    pub(crate) moto: Moto,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) truth: Value,
}

impl Env {
    /// A server seeded with the scenario (plus `faults`), or `None` outside CI without moto.
    pub(crate) fn start(faults: Option<Value>) -> Option<Self> {
        let moto = Moto::start()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let truth = moto.seed_scenario(now(), dir.path(), faults.as_ref());
        Some(Self { moto, dir, truth })
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn config(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// [`super::command`] pointed at the moto server.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = super::command(args);
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        cmd
    }

    pub(crate) fn ecrgc(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("ecrgc runs")
    }

    /// [`Env::ecrgc`] with extra environment variables (the fault hook).
    pub(crate) fn ecrgc_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        cmd.env_remove("ECRGC_FAULT");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("ecrgc runs")
    }

    /// Runs `ecrgc` with `args` and fails the test when it is not done within `limit`: a
    /// listing that never ends must not hang the suite.
    pub(crate) fn ecrgc_within(&self, args: &[&str], limit: std::time::Duration) -> Output {
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("ecrgc starts");
        let deadline = std::time::Instant::now() + limit;
        while child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().expect("kill");
                let _ = child.wait();
                panic!("ecrgc {args:?} did not finish within {limit:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child.wait_with_output().expect("output")
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let o = self.ecrgc(args);
        assert!(
            o.status.success(),
            "ecrgc {args:?} failed ({})\n--- stdout\n{}--- stderr\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// collect into `store`, then plan into `out`; returns collect's stdout.
    pub(crate) fn collect_and_plan(&self, config: &Path, store: &str, out: &str) -> String {
        let (config, store, out) = (s(config), s(&self.path(store)), s(&self.path(out)));
        let collected = self.ok(&[
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
        collected
    }

    /// Every image the truth names, with its expectation.
    pub(crate) fn expectations(&self) -> BTreeMap<Key, (String, String)> {
        self.truth["images"]
            .as_object()
            .expect("truth.images")
            .iter()
            .map(|(name, i)| {
                let key = (
                    i["account_id"].as_str().expect("account").to_owned(),
                    i["region"].as_str().expect("region").to_owned(),
                    i["repository_name"].as_str().expect("repo").to_owned(),
                    i["image_digest"].as_str().expect("digest").to_owned(),
                );
                (
                    key,
                    (
                        name.clone(),
                        i["expect"].as_str().expect("expect").to_owned(),
                    ),
                )
            })
            .collect()
    }
}

/// The manifest's items as keys.
pub(crate) fn manifest_keys(out: &Path) -> BTreeSet<Key> {
    let m: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("json");
    m["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["account_id"].as_str().expect("a").to_owned(),
                i["region"].as_str().expect("r").to_owned(),
                i["repository_name"].as_str().expect("n").to_owned(),
                i["image_digest"].as_str().expect("d").to_owned(),
            )
        })
        .collect()
}

/// decisions.csv as (key → (status, reason, guards)).
pub(crate) fn decisions(out: &Path) -> BTreeMap<Key, (String, String, String)> {
    let text = std::fs::read_to_string(out.join("decisions.csv")).expect("decisions.csv");
    let mut rows = text.lines().map(split_csv);
    let header = rows.next().expect("header");
    let col = |n: &str| {
        header
            .iter()
            .position(|h| h == n)
            .unwrap_or_else(|| panic!("column {n}"))
    };
    let (a, r, n, d) = (
        col("account_id"),
        col("region"),
        col("repository_name"),
        col("image_digest"),
    );
    let (st, why, guards) = (col("status"), col("reason"), col("guards"));
    rows.map(|f| {
        (
            (f[a].clone(), f[r].clone(), f[n].clone(), f[d].clone()),
            (f[st].clone(), f[why].clone(), f[guards].clone()),
        )
    })
    .collect()
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().expect("field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().expect("field").push(c),
        }
    }
    out
}

/// Checks the plan in `out` against the truth, with `adjust` rewriting expectations (for
/// injected failures). Returns a readable list of mismatches (empty when all agree).
pub(crate) fn mismatches(
    env: &Env,
    out: &Path,
    adjust: impl Fn(&Key, &str) -> String,
) -> Vec<String> {
    let manifest = manifest_keys(out);
    let decided = decisions(out);
    let mut wrong = Vec::new();
    let expected = env.expectations();
    for (key, (name, expect)) in &expected {
        let expect = adjust(key, expect);
        let got = decided.get(key);
        let in_manifest = manifest.contains(key);
        let ok = match (expect.as_str(), got) {
            ("delete", Some((st, _, _))) => st == "delete" && in_manifest,
            ("none", None) => !in_manifest,
            ("none", Some((st, _, _))) => st != "delete" && !in_manifest,
            (e, Some((st, reason, guards))) if e.starts_with("protected:") => {
                let guard = &e["protected:".len()..];
                st == "protected"
                    && !in_manifest
                    && (reason == guard || guards.split([',', ';', ' ']).any(|g| g == guard))
            }
            (e, Some((st, _, _))) => st == e && !in_manifest,
            (_, None) => false,
        };
        if !ok {
            wrong.push(format!(
                "{name}: expected {expect}, got {got:?} (in manifest: {in_manifest})"
            ));
        }
    }
    for key in &manifest {
        if !expected.contains_key(key) {
            wrong.push(format!(
                "{key:?} is in the manifest but not in the scenario"
            ));
        }
    }
    wrong
}

/// Runs a Python script against the moto server; returns its standard output.
pub(crate) fn python(env: &Env, script: &str, args: &[&str]) -> String {
    env.moto.run_python(script, args)
}
