//! ecrgc collectors.
//!
//! A collector turns an organization into one committed store run: [`aws`] reads a live
//! organization through the AWS APIs (`ecrgc collect`); [`demo`] generates a synthetic but
//! realistic one from a seed and knows the right answer for every image it writes
//! ([`demo::DemoTruth`]), so the whole pipeline can be checked end to end without AWS.
//! [`oracle`] holds the decision semantics that right answer (and the engine's property
//! tests) are evaluated with.

pub mod aws;
pub mod demo;
pub mod oracle;
pub mod rng;

/// Errors of the collectors.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Writing the run failed.
    #[error(transparent)]
    Store(#[from] ecrgc_store::StoreError),
    /// AWS could not be reached as a whole (no identity, no account list).
    #[error(transparent)]
    Aws(#[from] ecrgc_aws::AwsError),
    /// The request cannot be collected as given.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of the collectors.
pub type Result<T, E = CollectError> = std::result::Result<T, E>;
