//! AWS access shared by the collectors and the executor.
//!
//! This crate owns everything between ecrgc and the AWS SDK that does not depend on what is
//! being read or deleted:
//!
//! * [`Aws`]: the SDK configuration from the standard credential and endpoint chain
//!   (profiles, `AWS_REGION`, `AWS_ENDPOINT_URL`, …), the caller's own account, and
//!   [`AccountSession`]s that assume the configured role in every other account;
//! * [`call`]: one retry loop for every API call, with per-API concurrency caps, exponential
//!   backoff with jitter on throttling and transient errors, and a pause shared by every
//!   caller of a throttled API (so a storm slows the whole API down instead of every task
//!   hammering it in turn); it counts calls and throttles for the coverage table;
//! * [`StoreCredentials`] and [`open_store`]: the same credential chain for the S3 snapshot
//!   store;
//! * [`replication`]: a registry's replication rules with delete replication, which the
//!   Rust SDK does not model yet;
//! * [`pages`]: the [`TokenGuard`](pages::TokenGuard) every listing loop uses, so that a
//!   repeated or cycling continuation token, or a listing past its page cap, is a failure of
//!   that listing instead of an endless loop;
//! * [`Failure`]: an SDK error classified as throttled, transient, denied, disabled or other,
//!   which is what the coverage table records.
//!
//! The SDK's own retries are turned off: ecrgc's loop sees every attempt, so it can count
//! throttles and share backoff between tasks.

mod call;
mod failure;
pub mod pages;
pub mod replication;
mod session;
mod store_credentials;

pub use call::{ApiLimits, CallStats, Caller, RetrySettings};
pub use failure::{Failure, FailureKind, classify};
pub use session::{AccountSession, Aws, OrgAccount};
pub use store_credentials::{StoreCredentials, open_store};

/// Errors of the AWS layer that are not a single API call's failure.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The caller's identity could not be established (no credentials, endpoint unreachable).
    #[error("cannot establish the caller's AWS identity: {0}")]
    Identity(Failure),
    /// Listing the organization's accounts failed.
    #[error("cannot list the organization's accounts: {0}")]
    Organizations(Failure),
}

/// Result alias of the AWS layer.
pub type Result<T, E = AwsError> = std::result::Result<T, E>;
