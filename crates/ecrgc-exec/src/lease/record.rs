//! What a lease generation records: who holds it, until when, and where it is stored.

use ecrgc_model::time::{Micros, parse_rfc3339};
use serde::{Deserialize, Serialize};

/// The store folder of every lease.
pub const FOLDER: &str = "_leases";

/// Format version of a lease record.
pub const LEASE_VERSION: u32 = 1;

/// Who holds (or held) a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The AWS identity (STS `GetCallerIdentity` ARN), when the session has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The journal session of the apply.
    pub session: String,
    /// The process on its host (Linux: boot id, PID namespace, start time), so that a later
    /// apply on the same host can tell that the holder is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
}

impl Holder {
    /// This process, as `arn` (when known) running journal session `session`.
    pub fn this_process(arn: Option<&str>, session: &str) -> Self {
        let pid = std::process::id();
        Self {
            arn: arn.filter(|a| !a.is_empty()).map(str::to_owned),
            host: host_name(),
            pid,
            session: session.to_owned(),
            process: process_identity(pid),
        }
    }

    /// On this host, and its process is gone: a lease it holds can be taken over at once.
    pub(super) fn is_gone(&self) -> bool {
        let Some(recorded) = &self.process else {
            return false;
        };
        if self.host != host_name() {
            return false;
        }
        let Some((place, _)) = recorded.rsplit_once('/') else {
            return false;
        };
        let Some(mine) = process_identity(std::process::id()) else {
            return false;
        };
        let Some((my_place, _)) = mine.rsplit_once('/') else {
            return false;
        };
        if place != my_place {
            // Another boot or another PID namespace: its PIDs mean nothing here.
            return false;
        }
        process_identity(self.pid).as_deref() != Some(recorded.as_str())
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(arn) = &self.arn {
            write!(f, "{arn} on ")?;
        }
        write!(
            f,
            "host {} (pid {}, session {})",
            self.host, self.pid, self.session
        )
    }
}

/// Whether a generation holds the lease or gives it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseState {
    /// Held until `expires_at`.
    Held,
    /// Given up: the next apply may take the next generation at once.
    Released,
}

/// One generation of a lease: `_leases/<plan id>/<generation>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// Format version ([`LEASE_VERSION`]).
    pub lease_version: u32,
    /// The plan applied.
    pub plan_id: String,
    /// This generation; the highest one is the lease.
    pub generation: u64,
    /// Held or released.
    pub state: LeaseState,
    /// Who wrote it.
    pub holder: Holder,
    /// When, by the holder's clock (RFC 3339).
    pub written_at: String,
    /// Until when it holds unless renewed, by the holder's clock (RFC 3339).
    pub expires_at: String,
    /// The lease length the holder used.
    pub lease_seconds: u64,
    /// The ecrgc version of the holder.
    pub tool_version: String,
}

impl LeaseRecord {
    /// Held, and not expired at `now`.
    pub(super) fn holds_at(&self, now: Micros) -> bool {
        self.state == LeaseState::Held
            && parse_rfc3339(&self.expires_at).is_ok_and(|expires| now < expires)
    }
}

/// The name of generation `n`: zero-padded, so names sort as numbers.
pub(super) fn object_name(generation: u64) -> String {
    format!("{generation:020}.json")
}

pub(super) fn generation_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The host name, for people reading who holds a lease.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// `boot id/PID namespace/start time` of process `pid` as this process sees it (Linux),
/// `None` when there is no such (live) process or no `/proc`.
pub(super) fn process_identity(pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state … starttime …`: comm may hold spaces and parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None; // exited, not yet reaped
    }
    let start = fields.get(19)?;
    Some(format!("{}/{}/{start}", boot.trim(), namespace.display()))
}
