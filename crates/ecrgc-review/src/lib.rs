//! The reviewed plan: what a deletion manifest and a lifecycle plan share, and the rules an
//! executor applies before it trusts one.
//!
//! ecrgc never changes a registry on a file alone. `plan` (or `lifecycle suggest --out`)
//! writes a plan file for a person to review, and records in the store what it planned: the
//! header and every item id ([`PlanRecord`], `_manifests/<plan_id>.json`). The plan's identity
//! is the SHA-256 of its header, which carries the SHA-256 of its item ids, so the record
//! binds both. A reviewer may remove items; reviewers who must sign off record an
//! [`Approval`] (`_approvals/<plan_id>/…`). [`admit`] is the one gate both executors pass
//! through before their first AWS call, the equivalent of Terraform refusing a saved plan made
//! from other state or configuration:
//!
//! * the header is the recorded one, every item a planned one, and the record names the
//!   store in use ([`check_against`]);
//! * the plan is not a what-if ([`PlanHeader::what_if`]: a `--now` away from the real clock,
//!   a catalog other than the shipped one, `--rule` overrides, a snapshot from the future, a
//!   demo organization) and was not made in the future: such a plan may be shown by a dry
//!   run, never applied;
//! * it has not expired, by the real clock;
//! * the configuration in force binds the same safety settings the plan was made with
//!   ([`Binding`]), else the differing keys are named;
//! * with `[safety] approvals_required = N`, N approvals by principals other than the
//!   planner exist, and only the items every counted approval kept are applied.
//!
//! A plan kind is one implementation of [`ReviewedPlan`]; every rule above is written and
//! tested here once.

mod admit;
mod approval;
mod digest;
mod header;
mod record;

pub use admit::{Admission, ApprovalPolicy, Gate, admit, read_record};
pub use approval::{
    APPROVALS_FOLDER, Approval, approval_parts, principal_key, read_approvals, write_approval,
};
pub use digest::{header_id, hex, items_sha256};
pub use header::{
    Binding, HeaderFields, MAX_CLOCK_SKEW_SECONDS, MAX_PLAN_LIFETIME_HOURS, PlanHeader, WhatIf,
};
pub use record::{PlanItem, PlanRecord, RECORDS_FOLDER, ReviewedPlan, check_against, record_parts};

/// Why a plan is refused. Every variant but [`ReviewError::Store`] is bad input: nothing
/// was touched (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The store holds no record of this plan: its header was edited, or it was planned from
    /// another store.
    #[error(
        "{path}: header.{field} does not match any plan recorded in the store {store} \
         (no record {plan_id}): the header was altered, or the plan comes from another store"
    )]
    NotPlanned {
        /// The file.
        path: String,
        /// The header field that differs from the record (or `*` when no record is close).
        field: String,
        /// The id the header hashes to.
        plan_id: String,
        /// The store searched.
        store: String,
    },
    /// An item that was not in the plan.
    #[error(
        "{path}: item {index} ({label}, item_id {item_id}) was not planned: \
         a plan may only lose items in review, never gain them"
    )]
    ItemNotPlanned {
        /// The file.
        path: String,
        /// Position in `items`.
        index: usize,
        /// What the item names.
        label: String,
        /// The id it claims.
        item_id: String,
    },
    /// The header names another store than the one in use.
    #[error(
        "{path}: header.store is {planned:?} but the store in use is {store:?}: a plan is \
         applied against the store it was made from"
    )]
    OtherStore {
        /// The file.
        path: String,
        /// The header's store.
        planned: String,
        /// The store in use.
        store: String,
    },
    /// A header time that cannot be read.
    #[error("{path}: header.{field} {value:?} is not an RFC 3339 time")]
    BadTime {
        /// The file.
        path: String,
        /// The field.
        field: String,
        /// The value.
        value: String,
    },
    /// The plan's lifetime, from `created_at` to `expires_at`, is longer than
    /// [`MAX_PLAN_LIFETIME_HOURS`].
    #[error(
        "{path}: header.expires_at {expires_at} is more than {MAX_PLAN_LIFETIME_HOURS} hours \
         after header.created_at {created_at}: plan again with [safety] manifest_ttl_hours \
         of at most {MAX_PLAN_LIFETIME_HOURS}"
    )]
    LifetimeTooLong {
        /// The file.
        path: String,
        /// When the plan was made.
        created_at: String,
        /// Its expiry.
        expires_at: String,
    },
    /// The plan is past its expiry.
    #[error(
        "{path}: header.expires_at {expires_at} has passed (now {now}); plan again for a fresh plan"
    )]
    Expired {
        /// The file.
        path: String,
        /// The expiry.
        expires_at: String,
        /// The clock used.
        now: String,
    },
    /// A plan time later than the real clock.
    #[error(
        "{path}: header.{field} {value} is later than now ({now}, {MAX_CLOCK_SKEW_SECONDS} s \
         of clock skew allowed): a plan made for the future is a what-if and cannot be applied"
    )]
    FromTheFuture {
        /// The file.
        path: String,
        /// The field.
        field: String,
        /// Its value.
        value: String,
        /// The real clock.
        now: String,
    },
    /// A what-if plan given to `apply --yes`.
    #[error(
        "{path}: a what-if plan cannot be applied ({}); a dry run may show it. \
         Plan again without these options to apply",
        reasons.join("; ")
    )]
    WhatIf {
        /// The file.
        path: String,
        /// Why the plan is a what-if.
        reasons: Vec<String>,
    },
    /// The configuration in force is not the one the plan was made with.
    #[error(
        "{path}: the configuration differs from the one the plan was made with, in {}; \
         apply with the planning configuration, or plan again",
        keys.join(", ")
    )]
    ConfigurationChanged {
        /// The file.
        path: String,
        /// The settings that differ, as `section.key`.
        keys: Vec<String>,
    },
    /// A plan made with a configuration file applied without one.
    #[error(
        "{path}: the plan was made with a configuration file (binding {sha256}); pass it with \
         --config (or ECRGC_CONFIG)"
    )]
    ConfigurationMissing {
        /// The file.
        path: String,
        /// The planned binding's hash.
        sha256: String,
    },
    /// Not enough approvals for `apply --yes`.
    #[error(
        "{path}: plan {plan_id} needs {required} approval(s) by principals other than the \
         planner ({planner}); {counted} counted{}. A reviewer records one with `ecrgc approve`",
        if not_counted.is_empty() { String::new() } else { format!(", not counted: {}", not_counted.join("; ")) }
    )]
    ApprovalsMissing {
        /// The file.
        path: String,
        /// The plan.
        plan_id: String,
        /// `[safety] approvals_required`.
        required: u32,
        /// Approvals that count.
        counted: usize,
        /// The planner, as recorded.
        planner: String,
        /// Approvals that do not count, and why.
        not_counted: Vec<String>,
    },
    /// Approvals must come from someone other than the planner, who is not known.
    #[error(
        "{path}: the plan names no planner (it was made without an AWS identity), so no \
         approval can be shown to come from someone else; plan again with credentials, or set \
         [safety] approver_must_differ = false"
    )]
    NoPlanner {
        /// The file.
        path: String,
    },
    /// A second approval by the same principal.
    #[error(
        "plan {plan_id} is already approved by {principal} (at {approved_at}); an approval is \
         never replaced: plan again to review anew"
    )]
    AlreadyApproved {
        /// The plan.
        plan_id: String,
        /// The principal.
        principal: String,
        /// When the earlier approval was made.
        approved_at: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ecrgc_store::StoreError),
}

impl ReviewError {
    /// Exit status: 2 for a refused plan (nothing was touched), 1 when the store failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Store(ecrgc_store::StoreError::InvalidLocation { .. }) => 2,
            Self::Store(_) => 1,
            _ => 2,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = ReviewError> = std::result::Result<T, E>;
