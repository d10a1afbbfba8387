//! Fixtures the integration tests share: running the binary, reading its output and files,
//! the demo store; [`moto`] the moto organization, [`planned`] that organization planned
//! for `ecrgc apply`.

pub(crate) mod moto;
pub(crate) mod planned;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The `ecrgc` binary with `args`, without colours or the environment's configuration and
/// store.
pub(crate) fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecrgc"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("ECRGC_CONFIG")
        .env_remove("ECRGC_STORE");
    cmd
}

/// `ecrgc` without moto.
pub(crate) fn ecrgc(args: &[&str]) -> Output {
    ecrgc_with_stdin(args, "")
}

/// [`ecrgc`] with `stdin` on standard input.
pub(crate) fn ecrgc_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ecrgc runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("writes");
    child.wait_with_output().expect("ecrgc ends")
}

/// Output bytes as text.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

pub(crate) fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

pub(crate) fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("file exists")).expect("valid JSON")
}

pub(crate) fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_owned()
}

/// `s` with the characters a regular expression gives a meaning escaped.
pub(crate) fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The demo's clock: demo plans are what-ifs anyway, so a fixed instant keeps the snapshots
/// stable.
pub(crate) const DEMO_NOW: &str = "2026-11-21T00:00:00Z";

/// `ecrgc demo` of `images` images with `seed` at [`DEMO_NOW`] into `dir/store`, the plan
/// into `dir/out`.
pub(crate) fn demo(dir: &Path, images: u64, seed: u64) -> Output {
    let o = ecrgc(&[
        "demo",
        "--images",
        &images.to_string(),
        "--seed",
        &seed.to_string(),
        "--now",
        DEMO_NOW,
        "--store",
        &s(&dir.join("store")),
        "--out",
        &s(&dir.join("out")),
    ]);
    assert!(o.status.success(), "demo failed: {}", stderr(&o));
    o
}
