//! The moto organization collected and planned, ready for `ecrgc apply`: the manifest, the
//! journal, and moto's call log as the witness of what was deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use super::moto::{CONFIG, Env, Key};
use super::{read_json, s};

pub(crate) const APPLY_SETTINGS: &str = r#"
[apply]
initial_backoff_ms = 5
max_backoff_ms = 100
"#;

pub(crate) struct Planned {
    pub(crate) env: Env,
    pub(crate) config: PathBuf,
    pub(crate) store: String,
    pub(crate) out: PathBuf,
}

impl Planned {
    /// The scenario collected and planned with `apply` appended to the configuration.
    pub(crate) fn new(faults: Option<Value>, apply: &str) -> Option<Self> {
        let env = Env::start(faults)?;
        let config = env.config("ecrgc.toml", &format!("{CONFIG}{apply}"));
        env.collect_and_plan(&config, "store", "out");
        let (store, out) = (s(&env.path("store")), env.path("out"));
        Some(Self {
            env,
            config,
            store,
            out,
        })
    }

    pub(crate) fn manifest(&self) -> PathBuf {
        self.out.join("manifest.json")
    }

    pub(crate) fn apply(&self, manifest: &Path, extra: &[&str]) -> Output {
        let (config, manifest) = (s(&self.config), s(manifest));
        let mut args = vec![
            "apply",
            &manifest,
            "--config",
            &config,
            "--store",
            &self.store,
        ];
        args.extend_from_slice(extra);
        self.env.ecrgc(&args)
    }

    pub(crate) fn apply_ok(&self, manifest: &Path, extra: &[&str]) -> String {
        let o = self.apply(manifest, extra);
        assert!(
            o.status.success(),
            "apply {extra:?} failed ({})\n--- stdout\n{}--- stderr\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub(crate) fn digest(&self, name: &str) -> String {
        self.env.truth["images"][name]["image_digest"]
            .as_str()
            .unwrap_or_else(|| panic!("no image {name} in the truth"))
            .to_owned()
    }

    pub(crate) fn key(&self, name: &str) -> Key {
        let i = &self.env.truth["images"][name];
        let f = |k: &str| i[k].as_str().expect("truth field").to_owned();
        (
            f("account_id"),
            f("region"),
            f("repository_name"),
            f("image_digest"),
        )
    }

    /// Every digest sent to BatchDeleteImage, in call order (repeats kept).
    pub(crate) fn delete_calls(&self) -> Vec<String> {
        calls(&self.env, "BatchDeleteImage")
    }

    pub(crate) fn journal(&self, manifest: &Path) -> Vec<Value> {
        let path = ecrgc_exec::cli::default_journal(manifest);
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("journal line"))
            .collect()
    }

    /// The final event of every item in the journal, by digest.
    pub(crate) fn final_events(&self, manifest: &Path) -> BTreeMap<String, (String, String)> {
        let mut last = BTreeMap::new();
        for e in self.journal(manifest) {
            let (Some(d), Some(ev)) = (e["image_digest"].as_str(), e["event"].as_str()) else {
                continue;
            };
            if ev == "intent" {
                continue;
            }
            let reason = e["reason"].as_str().unwrap_or_default().to_owned();
            last.insert(d.to_owned(), (ev.to_owned(), reason));
        }
        last
    }

    /// Writes a copy of the manifest without the items of `names`.
    pub(crate) fn cut(&self, names: &[&str]) -> PathBuf {
        let drop: BTreeSet<String> = names.iter().map(|n| self.digest(n)).collect();
        let mut m: Value = read_json(&self.manifest());
        m["items"]
            .as_array_mut()
            .expect("items")
            .retain(|i| !drop.contains(i["image_digest"].as_str().expect("digest")));
        let path = self.env.path("reviewed.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&m).expect("json")).expect("write");
        path
    }
}

pub(crate) fn calls(env: &Env, operation: &str) -> Vec<String> {
    env.moto
        .get("/_ecrgc/calls")
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["operation"] == operation)
        .flat_map(|c| c["image_digests"].as_array().cloned().unwrap_or_default())
        .map(|d| d.as_str().expect("digest").to_owned())
        .collect()
}

pub(crate) fn manifest_digests(manifest: &Path) -> BTreeSet<String> {
    manifest_keys_of(manifest)
        .into_iter()
        .map(|k| k.3)
        .collect()
}

fn manifest_keys_of(manifest: &Path) -> BTreeSet<Key> {
    let m: Value = read_json(manifest);
    m["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let f = |k: &str| i[k].as_str().expect("field").to_owned();
            (
                f("account_id"),
                f("region"),
                f("repository_name"),
                f("image_digest"),
            )
        })
        .collect()
}
