//! Counters the command line renders while a collection runs (on stderr).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of a collection; the collectors bump them, a display polls them.
#[derive(Debug, Default)]
pub struct CollectProgress {
    phase: Mutex<String>,
    units_total: AtomicU64,
    units_done: AtomicU64,
    accounts_total: AtomicU64,
    accounts_done: AtomicU64,
    images: AtomicU64,
    refs: AtomicU64,
    errors: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// What the collection is doing.
    pub phase: String,
    /// Units (account × region × source) planned.
    pub units_total: u64,
    /// Units finished, whatever their outcome.
    pub units_done: u64,
    /// Accounts in scope.
    pub accounts_total: u64,
    /// Accounts whose units are all finished.
    pub accounts_done: u64,
    /// Images collected.
    pub images: u64,
    /// Workload references collected.
    pub refs: u64,
    /// Units that ended in an error, a denial or a disabled service.
    pub errors: u64,
}

impl CollectProgress {
    /// Reads every counter.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProgressSnapshot {
            phase: self.phase.lock().map(|p| p.clone()).unwrap_or_default(),
            units_total: g(&self.units_total),
            units_done: g(&self.units_done),
            accounts_total: g(&self.accounts_total),
            accounts_done: g(&self.accounts_done),
            images: g(&self.images),
            refs: g(&self.refs),
            errors: g(&self.errors),
        }
    }

    pub(crate) fn set_phase(&self, phase: impl Into<String>) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.into();
        }
    }

    pub(crate) fn set_totals(&self, units: u64, accounts: u64) {
        self.units_total.store(units, Ordering::Relaxed);
        self.accounts_total.store(accounts, Ordering::Relaxed);
    }

    pub(crate) fn unit_done(&self) {
        self.units_done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn account_done(&self) {
        self.accounts_done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_images(&self, n: u64) {
        self.images.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_refs(&self, n: u64) {
        self.refs.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}
