//! `[engine] memory_limit`: a plan within its memory limit decides exactly as an unbounded
//! one, and a limit written without its unit is refused.
//!
//! A plan beyond its limit is not run here: which operator runs out first depends on how
//! the concurrent operators interleave, so the retry with sort-merge joins and the final
//! error are checked where they are decided (`ecrgc_plan::error` tests the error's
//! classification; `ecrgc-engine`'s `materialize` tests the step that goes to disk).

use std::path::Path;

use ecrgc_manifest::Manifest;

use crate::common::{DEMO_NOW as NOW, demo, ecrgc, s, stderr};

/// Plans `dir/store` with `config` into `dir/<name>`.
fn plan_with(dir: &Path, name: &str, config: &str) -> std::process::Output {
    let config_path = dir.join(format!("{name}.toml"));
    std::fs::write(&config_path, config).expect("config");
    ecrgc(&[
        "plan",
        "--store",
        &s(&dir.join("store")),
        "--out",
        &s(&dir.join(name)),
        "--now",
        NOW,
        "--config",
        &s(&config_path),
    ])
}

/// Files anywhere under `dir`.
fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    files_under(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

fn items(dir: &Path) -> Vec<ecrgc_manifest::Item> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).expect("manifest");
    Manifest::from_json("manifest.json", &text)
        .expect("valid manifest")
        .items
}

#[test]
fn a_plan_within_a_memory_limit_decides_as_an_unbounded_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 20_000, 11);
    let roomy = plan_with(dir.path(), "roomy", "[engine]\nmemory_limit = \"4GiB\"\n");
    assert!(roomy.status.success(), "{}", stderr(&roomy));

    // 48 MiB is about a third of what this plan takes unbounded (160 MiB of peak RSS, most
    // of it the binary and the scans): the held steps and the operators share it.
    let spill = dir.path().join("spill");
    let config = |limit: &str| {
        format!(
            "[engine]\nmemory_limit = \"{limit}\"\nspill_dir = \"{}\"\n",
            s(&spill)
        )
    };
    let bounded = plan_with(dir.path(), "bounded", &config("48MiB"));
    assert!(bounded.status.success(), "{}", stderr(&bounded));
    assert!(spill.is_dir(), "the spill folder is created");
    assert_eq!(files_under(&spill), 0, "no spill file is left behind");
    assert_eq!(
        std::fs::read(dir.path().join("roomy/decisions.csv")).expect("csv"),
        std::fs::read(dir.path().join("bounded/decisions.csv")).expect("csv"),
        "the same decisions, byte for byte"
    );
    let (a, b) = (
        items(&dir.path().join("roomy")),
        items(&dir.path().join("bounded")),
    );
    assert!(!a.is_empty());
    assert_eq!(a, b, "the same manifest items");
}

#[test]
fn a_memory_limit_without_a_unit_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo(dir.path(), 2_000, 11);
    let o = plan_with(dir.path(), "out2", "[engine]\nmemory_limit = \"4\"\n");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let log = stderr(&o);
    assert!(
        log.contains("out2.toml") && log.contains("engine.memory_limit") && log.contains("\"4\""),
        "{log}"
    );
    assert!(!dir.path().join("out2").exists(), "nothing written");
}
