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

use ecrgc_model::time::{Micros, rfc3339};
use ecrgc_store::Store;

use crate::error::{ExecError, Result};

mod record;
#[cfg(test)]
mod tests;

pub use record::{FOLDER, Holder, LEASE_VERSION, LeaseRecord, LeaseState, host_name};
use record::{generation_of, object_name};

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
