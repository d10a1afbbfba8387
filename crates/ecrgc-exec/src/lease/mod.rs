//! One apply at a time per plan: a lease in the store, built on create-if-absent writes only.
//!
//! ```text
//! <store>/_leases/<plan id>/00000000000000000001.json   generation 1: held by A until T1
//!                          /00000000000000000002.json   generation 2: A renewed, until T2
//!                          /00000000000000000003.json   generation 3: released by A
//! ```
//!
//! The plan id is the manifest's `Header::manifest_id()` (a lifecycle plan's `plan_id()`).
//! The lease is the highest generation. Every change of it is the creation of the next
//! generation with a create-if-absent put (S3 `PutObject` with `If-None-Match: *`, which
//! answers 412 Precondition Failed when the key exists — S3 user guide, "How to prevent object
//! overwrites with conditional writes"; object_store sends it for `PutMode::Create` with its
//! default `S3ConditionalPut::ETagMatch`; a local folder creates with a hard link, which fails
//! when the name exists; the in-memory store checks under its lock). So of two applies that
//! both want generation n+1 exactly one gets it, and the other reads the winner's record.
//! No generation is ever deleted or overwritten, which is what makes "create n+1" a sound
//! compare-and-swap: a key that once existed can never be created again.
//!
//! * **Acquire** (an `apply --yes`, after admission, before the journal session starts and
//!   before any change): no generation yet → create 1; the highest one released or expired
//!   (by this machine's clock) → create the next, taking over; held and unexpired → refused,
//!   naming the holder and when its lease expires ([`crate::ExecError::LeaseHeld`], exit
//!   status 2). A holder that ran on this host and whose process is gone (a killed or
//!   crashed apply, on Linux: same boot, same PID namespace, and its PID no longer names the
//!   process that started then) is taken over at once instead of after its expiry.
//! * **Renew**: a background task creates the next generation every third of the lease. A
//!   renewal that finds its generation taken means another apply took over: the lease is
//!   lost, and [`Lease::check`] fails from then on.
//! * **Check**: the executors call [`Lease::check`] before they journal the intent that
//!   precedes every mutating call (BatchDeleteImage, UpdateImageStorageClass,
//!   PutLifecyclePolicy), after waiting for the journal. It reads only local state: lost, or
//!   less than a quarter of the lease left before the expiry this process wrote (renewals
//!   failing, say the store unreachable), stops the run before its next change.
//! * **Release**: at the end of the run, a last generation in state `released`. A crashed
//!   apply's lease simply expires.
//!
//! Clocks: the expiry is written by the holder's clock and read by the other's. The quarter
//! of the lease a holder keeps in reserve (30 s with the default 120 s) is the clock skew
//! tolerated between the machines that may apply the same plan; NTP keeps hosts within
//! milliseconds. The lease excludes a second apply in normal operation; it is not a fence:
//! a holder frozen between its check and the call it announces (or retrying that call
//! through a long throttling storm) can still send it after its lease expired. Such a late
//! call repeats one another apply has made, ECR deletes by digest idempotently (the late one
//! is answered ImageNotFound), and every image is re-checked live before any call.
//!
//! Each apply leaves three small objects per lease period it runs (about 90 an hour with the
//! default). A store lifecycle rule may expire `_leases/` objects older than the longest
//! apply plus `[safety] manifest_ttl_hours`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecrgc_model::time::{Micros, parse_rfc3339, rfc3339};
use ecrgc_store::Store;
use serde::{Deserialize, Serialize};

use crate::error::{ExecError, Result};

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
    fn is_gone(&self) -> bool {
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
    fn holds_at(&self, now: Micros) -> bool {
        self.state == LeaseState::Held
            && parse_rfc3339(&self.expires_at).is_ok_and(|expires| now < expires)
    }
}

/// The name of generation `n`: zero-padded, so names sort as numbers.
fn object_name(generation: u64) -> String {
    format!("{generation:020}.json")
}

fn generation_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn now() -> Micros {
    chrono::Utc::now().timestamp_micros()
}

fn micros(d: Duration) -> Micros {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A lease this process acquired. Dropping it stops the renewals (the lease then expires);
/// [`Lease::release`] gives it up at once.
pub struct Lease {
    inner: Arc<Inner>,
    renewal: Mutex<Option<tokio::task::JoinHandle<()>>>,
    took_over: Option<LeaseRecord>,
}

struct Inner {
    store: Store,
    plan_id: String,
    holder: Holder,
    ttl: Duration,
    /// The generation this process wrote last.
    generation: AtomicU64,
    /// Its expiry, µs, by this machine's clock.
    expires_at: AtomicI64,
    /// Who took the lease over, once a renewal found its generation taken.
    lost: Mutex<Option<String>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("plan_id", &self.inner.plan_id)
            .field("generation", &self.generation())
            .finish()
    }
}

impl Lease {
    /// Takes the lease of `plan_id` for `holder`, for `ttl`, renewed in the background every
    /// third of it; refused with [`ExecError::LeaseHeld`] while another apply holds it.
    pub async fn acquire(
        store: &Store,
        plan_id: &str,
        holder: Holder,
        ttl: Duration,
    ) -> Result<Self> {
        let lease = Self::take(store, plan_id, holder, ttl).await?;
        if let Some(old) = &lease.took_over {
            let why = if old.holds_at(now()) {
                "its process is gone".to_owned()
            } else {
                format!("it expired at {}", old.expires_at)
            };
            eprintln!(
                "note: took over the apply lease of {} (generation {}): {why}",
                old.holder, old.generation
            );
        }
        let inner = lease.inner.clone();
        let task = tokio::spawn(async move { inner.renew_until_lost().await });
        *lease.renewal.lock().expect("renewal slot") = Some(task);
        Ok(lease)
    }

    /// [`Lease::acquire`] without the renewal task.
    pub(crate) async fn take(
        store: &Store,
        plan_id: &str,
        holder: Holder,
        ttl: Duration,
    ) -> Result<Self> {
        let inner = Arc::new(Inner {
            store: store.clone(),
            plan_id: plan_id.to_owned(),
            holder,
            ttl,
            generation: AtomicU64::new(0),
            expires_at: AtomicI64::new(0),
            lost: Mutex::new(None),
        });
        // Each turn either creates a generation or learns of one another apply created;
        // losing a race more than a few times in a row means something keeps writing.
        for _ in 0..5 {
            let current = inner.current().await?;
            let t = now();
            let (next, took_over) = match current {
                None => (1, None),
                Some(rec) if rec.holds_at(t) && !rec.holder.is_gone() => {
                    return Err(ExecError::LeaseHeld {
                        plan_id: plan_id.to_owned(),
                        holder: rec.holder.to_string(),
                        generation: rec.generation,
                        expires_at: rec.expires_at.clone(),
                    });
                }
                Some(rec) => {
                    let next = rec.generation + 1;
                    (next, (rec.state == LeaseState::Held).then_some(rec))
                }
            };
            if inner.create(next, LeaseState::Held).await? {
                return Ok(Self {
                    inner,
                    renewal: Mutex::new(None),
                    took_over,
                });
            }
        }
        Err(ExecError::LeaseContended {
            plan_id: plan_id.to_owned(),
        })
    }

    /// The generation this process wrote last.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// The lease this one took over (expired, or its process gone), if any.
    pub fn took_over(&self) -> Option<&LeaseRecord> {
        self.took_over.as_ref()
    }

    /// Whether this process may still make a change: no other apply took the lease over,
    /// and more than a quarter of it is left (the reserve for clock skew between hosts).
    /// Reads local state only, so it is cheap enough to ask before every call.
    pub fn still_held(&self) -> bool {
        self.inner.still_held()
    }

    /// [`Lease::still_held`], as the error that stops the run.
    pub fn check(&self) -> Result<()> {
        if self.still_held() {
            return Ok(());
        }
        let why = match self.inner.lost.lock().expect("lost").clone() {
            Some(by) => format!("{by} took it over"),
            None => format!(
                "it could not be renewed and expires at {}",
                rfc3339(self.inner.expires_at.load(Ordering::SeqCst))
            ),
        };
        Err(ExecError::LeaseLost {
            plan_id: self.inner.plan_id.clone(),
            reason: why,
        })
    }

    /// Renews once now: `true` when this process still holds the lease afterwards.
    pub async fn renew(&self) -> Result<bool> {
        self.inner.renew().await
    }

    /// Stops the renewals and gives the lease up (a `released` generation), unless another
    /// apply took it over meanwhile. Failing to write it only makes the next apply wait for
    /// the expiry.
    pub async fn release(&self) {
        if let Some(task) = self.renewal.lock().expect("renewal slot").take() {
            task.abort();
        }
        if self.inner.lost.lock().expect("lost").is_some() {
            return;
        }
        let next = self.generation() + 1;
        if let Err(e) = self.inner.create(next, LeaseState::Released).await {
            eprintln!(
                "warning: the apply lease could not be released ({e}); another apply of \
                 this plan waits until it expires"
            );
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.renewal.lock()
            && let Some(task) = slot.take()
        {
            task.abort();
        }
    }
}

impl Inner {
    fn still_held(&self) -> bool {
        let reserve = micros(self.ttl) / 4;
        self.lost.lock().expect("lost").is_none()
            && now()
                < self
                    .expires_at
                    .load(Ordering::SeqCst)
                    .saturating_sub(reserve)
    }

    /// The highest generation, if any.
    async fn current(&self) -> Result<Option<LeaseRecord>> {
        let folder = [FOLDER, self.plan_id.as_str()];
        let names = self.store.list_objects(&folder).await?;
        let Some(top) = names.iter().filter_map(|n| generation_of(n)).max() else {
            return Ok(None);
        };
        self.read(top).await
    }

    async fn read(&self, generation: u64) -> Result<Option<LeaseRecord>> {
        let name = object_name(generation);
        let Some(body) = self
            .store
            .get_object(&[FOLDER, &self.plan_id, &name])
            .await?
        else {
            return Ok(None);
        };
        let corrupt = |reason: String| ExecError::LeaseCorrupt {
            path: format!("{}{name}", self.store.folder_url(&[FOLDER, &self.plan_id])),
            reason,
        };
        let record: LeaseRecord =
            serde_json::from_slice(&body).map_err(|e| corrupt(e.to_string()))?;
        if record.lease_version != LEASE_VERSION {
            return Err(corrupt(format!(
                "lease_version {} is not supported (this ecrgc writes {LEASE_VERSION})",
                record.lease_version
            )));
        }
        if record.generation != generation || record.plan_id != self.plan_id {
            return Err(corrupt(format!(
                "it names generation {} of plan {}",
                record.generation, record.plan_id
            )));
        }
        Ok(Some(record))
    }

    /// Creates generation `n`: `true` when this call created it.
    async fn create(&self, generation: u64, state: LeaseState) -> Result<bool> {
        let written = now();
        let expires = match state {
            LeaseState::Held => written.saturating_add(micros(self.ttl)),
            LeaseState::Released => written,
        };
        let record = LeaseRecord {
            lease_version: LEASE_VERSION,
            plan_id: self.plan_id.clone(),
            generation,
            state,
            holder: self.holder.clone(),
            written_at: rfc3339(written),
            expires_at: rfc3339(expires),
            lease_seconds: self.ttl.as_secs(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let body = serde_json::to_vec_pretty(&record).expect("a lease record serializes");
        let name = object_name(generation);
        let created = self
            .store
            .put_object_if_absent(&[FOLDER, &self.plan_id, &name], body)
            .await?;
        if created {
            self.generation.store(generation, Ordering::SeqCst);
            self.expires_at.store(expires, Ordering::SeqCst);
        }
        Ok(created)
    }

    async fn renew(&self) -> Result<bool> {
        if self.lost.lock().expect("lost").is_some() {
            return Ok(false);
        }
        let next = self.generation.load(Ordering::SeqCst) + 1;
        // A create that fails with nothing there (S3 answers 409 to a conflicting
        // concurrent conditional write) is tried again.
        for _ in 0..3 {
            if self.create(next, LeaseState::Held).await? {
                return Ok(true);
            }
            if let Some(other) = self.read(next).await? {
                *self.lost.lock().expect("lost") = Some(other.holder.to_string());
                return Ok(false);
            }
        }
        Err(ExecError::LeaseContended {
            plan_id: self.plan_id.clone(),
        })
    }

    async fn renew_until_lost(self: Arc<Self>) {
        let every = self.ttl / 3;
        loop {
            tokio::time::sleep(every).await;
            match self.renew().await {
                Ok(true) => {}
                Ok(false) => {
                    let by = self.lost.lock().expect("lost").clone().unwrap_or_default();
                    eprintln!(
                        "warning: {by} took over the apply lease; this apply stops before \
                         its next change"
                    );
                    return;
                }
                Err(e) => eprintln!(
                    "warning: the apply lease could not be renewed ({e}); this apply stops \
                     before its next change unless a renewal succeeds by {}",
                    rfc3339(
                        self.expires_at
                            .load(Ordering::SeqCst)
                            .saturating_sub(micros(self.ttl) / 4)
                    )
                ),
            }
        }
    }
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
fn process_identity(pid: u32) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn holder(session: &str) -> Holder {
        Holder::this_process(
            Some("arn:aws:sts::111111111111:assumed-role/ops/alice"),
            session,
        )
    }

    fn record(generation: u64, state: LeaseState, holder: Holder, expires_at: Micros) -> Vec<u8> {
        serde_json::to_vec(&LeaseRecord {
            lease_version: LEASE_VERSION,
            plan_id: "plan".into(),
            generation,
            state,
            holder,
            written_at: rfc3339(expires_at - 60_000_000),
            expires_at: rfc3339(expires_at),
            lease_seconds: 60,
            tool_version: "test".into(),
        })
        .expect("json")
    }

    fn elsewhere() -> Holder {
        Holder {
            arn: Some("arn:aws:sts::222222222222:assumed-role/ci/runner".into()),
            host: "build-7".into(),
            pid: 4242,
            session: "20261121T030000000Z-1092".into(),
            process: None,
        }
    }

    async fn generations(store: &Store) -> Vec<String> {
        store.list_objects(&[FOLDER, "plan"]).await.expect("list")
    }

    #[tokio::test]
    async fn a_second_apply_is_refused_naming_the_holder_until_the_first_releases() {
        let store = Store::in_memory();
        let first = Lease::acquire(&store, "plan", holder("s1"), TTL)
            .await
            .expect("free");
        assert_eq!(first.generation(), 1);
        assert!(first.still_held());
        first.check().expect("held");

        let err = Lease::acquire(&store, "plan", holder("s2"), TTL)
            .await
            .expect_err("held");
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        for part in [
            "arn:aws:sts::111111111111:assumed-role/ops/alice",
            &format!("host {}", host_name()),
            &format!("pid {}", std::process::id()),
            "session s1",
            "expires",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }

        first.release().await;
        let second = Lease::acquire(&store, "plan", holder("s2"), TTL)
            .await
            .expect("released");
        assert_eq!(second.generation(), 3, "after the released generation 2");
        assert!(
            second.took_over().is_none(),
            "a released lease is not taken over"
        );
        assert_eq!(generations(&store).await.len(), 3, "nothing is overwritten");
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_an_unexpired_one_of_another_host_is_not() {
        let store = Store::in_memory();
        let path = |g: u64| object_name(g);
        store
            .put_object(
                &[FOLDER, "plan", &path(7)],
                record(7, LeaseState::Held, elsewhere(), now() + 3_600_000_000),
            )
            .await
            .expect("seed");
        let err = Lease::take(&store, "plan", holder("s"), TTL)
            .await
            .expect_err("held elsewhere");
        let text = err.to_string();
        assert!(
            text.contains(
                "arn:aws:sts::222222222222:assumed-role/ci/runner on host build-7 (pid 4242"
            ),
            "{text}"
        );

        store
            .put_object(
                &[FOLDER, "plan", &path(8)],
                record(8, LeaseState::Held, elsewhere(), now() - 1_000_000),
            )
            .await
            .expect("seed");
        let lease = Lease::take(&store, "plan", holder("s"), TTL)
            .await
            .expect("expired");
        assert_eq!(lease.generation(), 9);
        assert_eq!(lease.took_over().map(|r| r.generation), Some(8));
        assert!(lease.still_held());
    }

    #[tokio::test]
    async fn the_lease_of_a_dead_process_on_this_host_is_taken_over_at_once() {
        if process_identity(std::process::id()).is_none() {
            return; // no /proc: only expiry frees a lease
        }
        let store = Store::in_memory();
        let mut dead = holder("crashed");
        // A process that started at another time under this PID: not the holder.
        let identity = dead.process.clone().expect("identity");
        let (place, _) = identity.rsplit_once('/').expect("place");
        dead.process = Some(format!("{place}/1"));
        store
            .put_object(
                &[FOLDER, "plan", &object_name(1)],
                record(1, LeaseState::Held, dead, now() + 3_600_000_000),
            )
            .await
            .expect("seed");
        let lease = Lease::take(&store, "plan", holder("s"), TTL)
            .await
            .expect("the holder is gone");
        assert_eq!(lease.generation(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_racing_applies_exactly_one_wins() {
        for round in 0..20 {
            let store = Store::in_memory();
            let tries = (0..6).map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    Lease::take(&store, "plan", holder(&format!("s{i}")), TTL).await
                })
            });
            let results = futures::future::join_all(tries).await;
            let won: Vec<_> = results
                .into_iter()
                .map(|r| r.expect("task"))
                .filter_map(|r| match r {
                    Ok(lease) => Some(lease),
                    Err(ExecError::LeaseHeld { .. }) => None,
                    Err(e) => panic!("round {round}: {e}"),
                })
                .collect();
            assert_eq!(won.len(), 1, "round {round}");
            assert_eq!(generations(&store).await.len(), 1);
        }
    }

    #[tokio::test]
    async fn a_renewal_that_finds_its_generation_taken_loses_the_lease() {
        let store = Store::in_memory();
        let lease = Lease::take(&store, "plan", holder("s"), TTL)
            .await
            .expect("free");
        assert!(lease.renew().await.expect("renewed"));
        assert_eq!(lease.generation(), 2);
        assert!(lease.still_held());

        // Another apply believed generation 2 expired and took generation 3 first.
        store
            .put_object_if_absent(
                &[FOLDER, "plan", &object_name(3)],
                record(3, LeaseState::Held, elsewhere(), now() + 60_000_000),
            )
            .await
            .expect("seed");
        assert!(!lease.renew().await.expect("answered"));
        assert!(!lease.still_held());
        let err = lease.check().expect_err("lost");
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("host build-7"), "{err}");
        // Releasing a lost lease writes nothing over the new holder's.
        lease.release().await;
        assert_eq!(generations(&store).await.len(), 3);
        let current = lease.inner.current().await.expect("read").expect("some");
        assert_eq!(current.holder, elsewhere());
    }

    #[tokio::test]
    async fn the_holder_renews_in_the_background_and_releases_at_the_end() {
        let store = Store::in_memory();
        let lease = Lease::acquire(&store, "plan", holder("s"), Duration::from_millis(600))
            .await
            .expect("free");
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(lease.generation() >= 3, "renewed every 200 ms: {lease:?}");
        assert!(lease.still_held());
        Lease::take(&store, "plan", holder("other"), TTL)
            .await
            .expect_err("renewed, so still held");
        lease.release().await;
        let current = lease.inner.current().await.expect("read").expect("some");
        assert_eq!(current.state, LeaseState::Released);
        assert_eq!(current.generation, lease.generation());
        let written = generations(&store).await.len();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            generations(&store).await.len(),
            written,
            "no renewal after release"
        );
    }

    #[tokio::test]
    async fn a_lease_that_could_not_be_renewed_stops_a_quarter_before_its_expiry() {
        let store = Store::in_memory();
        let lease = Lease::take(&store, "plan", holder("s"), TTL)
            .await
            .expect("free");
        // As if the last renewal had succeeded 44 s ago: 16 s left, under the 15 s reserve
        // only in 1 s; then 14 s left.
        lease
            .inner
            .expires_at
            .store(now() + 16_000_000, Ordering::SeqCst);
        assert!(lease.still_held());
        lease
            .inner
            .expires_at
            .store(now() + 14_000_000, Ordering::SeqCst);
        assert!(!lease.still_held());
        assert!(
            lease
                .check()
                .expect_err("reserve reached")
                .to_string()
                .contains("could not be renewed"),
        );
    }

    #[tokio::test]
    async fn a_corrupt_lease_is_reported_not_overwritten() {
        let store = Store::in_memory();
        store
            .put_object(&[FOLDER, "plan", &object_name(1)], b"{not json".to_vec())
            .await
            .expect("seed");
        let err = Lease::take(&store, "plan", holder("s"), TTL)
            .await
            .expect_err("corrupt");
        assert!(
            matches!(err, ExecError::LeaseCorrupt { .. })
                && err.to_string().contains("_leases/plan/"),
            "{err}"
        );
    }

    #[test]
    fn generations_sort_by_name() {
        assert_eq!(object_name(12), "00000000000000000012.json");
        assert_eq!(generation_of(&object_name(12)), Some(12));
        assert_eq!(generation_of("12.json"), None);
        assert_eq!(generation_of("00000000000000000012.json#1"), None);
        assert!(object_name(9) < object_name(10));
    }
}
