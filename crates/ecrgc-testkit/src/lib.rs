//! Test support shared by the integration tests of every crate.
//!
//! * [`python`]: the Python that `scripts/test` installs the test tools into (DuckDB, moto),
//!   named by `ECRGC_PYTHON`. A developer running plain `cargo test` gets a notice and the
//!   test is skipped; under CI (`CI` set) a missing Python fails the test instead, so a
//!   skipped suite can never pass unnoticed.
//! * [`Moto`]: a moto server with ecrgc's extension (`testing/moto/ecrgc_moto.py`), one per
//!   test, on a free port, stopped when dropped. It speaks the real AWS wire protocols.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::Value;

/// The repository root.
///
/// Read from the environment cargo gives the running test, not from the build: the build
/// cache is shared between clones, and a path compiled in would point at whichever clone
/// built first.
pub fn repo_root() -> PathBuf {
    manifest_dir()
        .join("../..")
        .canonicalize()
        .expect("repository root exists")
}

/// The running crate's folder: `CARGO_MANIFEST_DIR` as cargo sets it when it runs a test.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

/// The test Python, or `None` after a notice when a developer runs plain `cargo test`.
pub fn python(what: &str) -> Option<String> {
    match std::env::var("ECRGC_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => panic!(
            "ECRGC_PYTHON is not set, so {what} cannot run: run scripts/test, which installs \
             the test tools into .venv-test and sets it"
        ),
        _ => {
            eprintln!("skipping {what}: ECRGC_PYTHON is not set (scripts/test sets it)");
            None
        }
    }
}

/// Fake static credentials: moto needs signed requests, any keys do.
pub const ACCESS_KEY: &str = "testing";
/// See [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "testing";

/// A running moto server with ecrgc's extension.
pub struct Moto {
    child: Child,
    // Held open: the server exits when its stdin closes, so it cannot outlive the test.
    _stdin: ChildStdin,
    url: String,
    python: String,
}

impl Moto {
    /// Starts a server, or `None` when the test Python is missing outside CI.
    pub fn start() -> Option<Self> {
        let python = python("the moto-backed tests")?;
        let script = repo_root().join("testing/moto/ecrgc_moto.py");
        let mut cmd = Command::new(&python);
        cmd.arg(&script).args(["--port", "0"]);
        let (child, stdin, url) = spawn_server(cmd, &script);
        Some(Self {
            child,
            _stdin: stdin,
            url,
            python,
        })
    }

    /// The endpoint, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The test Python (with boto3, moto and DuckDB).
    pub fn python(&self) -> &str {
        &self.python
    }

    /// Environment for a process that talks to this server through the standard AWS chain.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            (
                "AWS_CONFIG_FILE",
                "/nonexistent/ecrgc-test-aws-config".to_owned(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/ecrgc-test-aws-credentials".to_owned(),
            ),
        ]
    }

    /// Runs `testing/moto/scenario.py` against this server and returns its truth document.
    pub fn seed_scenario(&self, now: &str, out_dir: &Path, faults: Option<&Value>) -> Value {
        let truth = out_dir.join("truth.json");
        let mut cmd = Command::new(&self.python);
        cmd.arg(repo_root().join("testing/moto/scenario.py"))
            .args(["--url", &self.url, "--now", now])
            .arg("--out")
            .arg(&truth);
        if let Some(f) = faults {
            let path = out_dir.join("faults.json");
            std::fs::write(&path, serde_json::to_vec_pretty(f).expect("json"))
                .expect("write faults");
            cmd.arg("--faults").arg(&path);
        }
        let out = cmd.output().expect("run scenario.py");
        assert!(
            out.status.success(),
            "scenario.py failed\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&std::fs::read(&truth).expect("truth.json written"))
            .expect("truth is JSON")
    }

    /// `POST` JSON to an extension route, e.g. `/_ecrgc/seed`; returns the JSON answer.
    pub fn post(&self, path: &str, body: &Value) -> Value {
        self.request("POST", path, &serde_json::to_vec(body).expect("json"))
    }

    /// Runs a Python `script` with the test Python (boto3 at hand) and `args`; panics with
    /// its stderr when it fails; returns its trimmed stdout.
    pub fn run_python(&self, script: &str, args: &[&str]) -> String {
        let out = Command::new(&self.python)
            .args(["-c", script])
            .args(args)
            .output()
            .expect("the test Python runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `GET` an extension route, e.g. `/_ecrgc/calls`.
    pub fn get(&self, path: &str) -> Value {
        self.request("GET", path, b"")
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> Value {
        let host = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).expect("connect to moto");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("send");
        stream.write_all(body).expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("receive");
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        assert!(
            head.starts_with("HTTP/1.1 2") || head.starts_with("HTTP/1.0 2"),
            "{method} {path}: {head}\n{body}"
        );
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))
        }
    }

    /// Creates an S3 bucket (through boto3: object stores cannot create buckets).
    pub fn create_bucket(&self, bucket: &str) {
        let script = format!(
            "import boto3\nboto3.client('s3', endpoint_url={:?}, region_name='us-east-1', \
             aws_access_key_id='testing', aws_secret_access_key='testing').create_bucket(Bucket={:?})\n",
            self.url, bucket
        );
        let out = Command::new(&self.python)
            .args(["-c", &script])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "create_bucket: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n.min(after.len())]);
        rest = after.get(n + 2..).unwrap_or("");
    }
    out
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns a test server that prints `READY URL` once it listens and exits when its stdin
/// closes: the child, its stdin (to hold open) and the URL.
fn spawn_server(mut cmd: Command, script: &Path) -> (Child, ChildStdin, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the server's first line");
    let url = line
        .trim()
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("{} did not start: {line:?}", script.display()))
        .to_owned();
    (child, stdin, url)
}

/// A running fake Kubernetes API server (`testing/kube/fake_apiserver.py`): the list
/// endpoints of pods and the workload kinds, bearer-token checked, with a state a test sets.
pub struct FakeKube {
    child: Child,
    // Held open: the server exits when its stdin closes, so it cannot outlive the test.
    _stdin: ChildStdin,
    url: String,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakeKube {
    /// Starts a server serving HTTPS with a CA of its own (`ca()`), or `None` when the test
    /// Python is missing outside CI.
    pub fn start_tls() -> Option<Self> {
        let python = python("the Kubernetes-backed tests")?;
        let script = repo_root().join("testing/kube/fake_apiserver.py");
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state.json");
        std::fs::write(&state, br#"{"auth": {"bearer": "unset"}, "objects": {}}"#)
            .expect("write state");
        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .arg("--state")
            .arg(&state)
            .arg("--tls-dir")
            .arg(dir.path())
            .args(["--port", "0"]);
        let (child, stdin, url) = spawn_server(cmd, &script);
        Some(Self {
            child,
            _stdin: stdin,
            url,
            ca: dir.path().join("ca.pem"),
            _dir: dir,
        })
    }

    /// The endpoint, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA certificate (PEM) the server's certificate is signed by.
    pub fn ca(&self) -> &Path {
        &self.ca
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
