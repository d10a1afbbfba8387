//! ecrgc collectors.
//!
//! A collector turns an organization into one committed store run. This crate starts with
//! the demo collector, which generates a synthetic but realistic organization from a seed
//! and knows the right answer for every image it writes ([`demo::DemoTruth`]), so the whole
//! pipeline can be checked end to end without AWS.

pub mod demo;
pub mod rng;

/// Errors of the collectors.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Writing the run failed.
    #[error(transparent)]
    Store(#[from] ecrgc_store::StoreError),
    /// The request cannot be collected as given.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of the collectors.
pub type Result<T, E = CollectError> = std::result::Result<T, E>;
