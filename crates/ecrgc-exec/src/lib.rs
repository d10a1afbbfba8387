//! The executor: applies a reviewed deletion manifest.
//!
//! This crate owns everything between a manifest a person has reviewed and the images that
//! are gone afterwards. It depends on no query engine, so a locked-down deletion role can run
//! its own binary (`ecrgc-exec`) alone; `ecrgc apply` calls the same [`cli::run`].
//!
//! * [`admit`]: before any API call, the plan must parse, be of a known version, have every
//!   item match its id, and pass the rules every reviewed plan shares
//!   ([`ecrgc_review::admit`]): a subset of a plan recorded in the store it names (a
//!   reviewer may remove items, never add or change them), not a what-if, not expired by the
//!   real clock, made under the same safety configuration, and approved as `[safety]` asks.
//!   Anything else is bad input (exit status 2) and nothing is touched.
//! * [`approve`]: `ecrgc approve`, a reviewer's approval recorded in the store.
//! * [`journal`]: every decision and API result, appended as JSON Lines to a local file and
//!   to the store (`journal/manifest_id=…/session=…/…jsonl`), durable before the API call it
//!   announces. A second `apply` of the same manifest reads it back and never repeats what
//!   is done.
//! * [`references`]: every live workload reference in every configured account and region
//!   (ECS task definitions, services and the digests their revisions and deployments pin,
//!   tasks, Lambda versions and aliases), whether or not it existed at the snapshot, read
//!   again when older than `[apply] reference_max_age_seconds`.
//! * [`live`]: per repository, the live checks (still opted in and not excluded, Inspector's
//!   usage now) and, per batch, the image itself (same digest and push, no new tag, no pull
//!   since the snapshot, not archived since the plan, named by no live reference); then,
//!   right before BatchDeleteImage or UpdateImageStorageClass, the batch described once more
//!   and anything changed since the check left alone.
//! * [`lifecycle`]: a lifecycle plan from `ecrgc lifecycle suggest` instead of a manifest:
//!   admitted the same way, then per repository the live policy, tags and images are read,
//!   the planned policy is simulated on the live images, and PutLifecyclePolicy is called
//!   only when nothing it would expire is kept, in use or newly referenced.
//! * [`replication`]: delete replication: every registry's rules re-read live, replicas
//!   deleted (as items of their own) before the source whose deletion would take them along.
//! * [`lease`]: one `apply --yes` at a time per plan: a lease in the store, taken after
//!   admission and before the journal session and the first change, renewed while the run
//!   lasts, checked before every change, released at the end.
//! * [`status`]: the exit status, decided in one place for both binaries: 0 done, 1 items
//!   failed, 2 refused (bad input, or the lease is held), 3 items blocked (a check could not
//!   be made) and none failed.
//! * [`executor`]: the order (an index before its children, a child never while its index
//!   stays; replicas before their sources), the parallelism and the summary.

pub mod admit;
pub mod approve;
pub mod cli;
pub mod executor;
pub mod journal;
pub mod lease;
pub mod lifecycle;
pub mod live;
pub mod references;
pub mod replication;
pub mod status;

pub use cli::{ApplyArgs, run};
pub use executor::{Mode, Summary};

/// Errors of the executor.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The manifest is refused (corrupt, unknown version, altered, extended, expired).
    #[error(transparent)]
    Manifest(#[from] ecrgc_manifest::ManifestError),
    /// The lifecycle plan is refused (corrupt, unknown version, altered).
    #[error(transparent)]
    Lifecycle(#[from] ecrgc_lifecycle::LifecycleError),
    /// The plan is refused by review: not recorded, extended, expired, a what-if, made
    /// under another configuration, not approved.
    #[error(transparent)]
    Review(#[from] ecrgc_review::ReviewError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ecrgc_config::ConfigError),
    /// The manifest file cannot be read.
    #[error("cannot read manifest {path}: {source}")]
    ReadManifest {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A command-line value that cannot be used.
    #[error("{flag} {value:?}: {reason}")]
    BadArgument {
        /// The flag.
        flag: &'static str,
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
    /// A journal that cannot be used for this manifest.
    #[error("journal {path}: {reason}")]
    BadJournal {
        /// The journal file or store folder.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the journal failed: the run stops before the next API call.
    #[error("cannot write the journal {path}: {source}")]
    JournalWrite {
        /// The journal file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ecrgc_store::StoreError),
    /// AWS could not be reached as a whole (identity, organization listing).
    #[error(transparent)]
    Aws(#[from] ecrgc_aws::AwsError),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
    /// Another apply of the same plan holds its lease: nothing was changed.
    #[error(
        "plan {plan_id} is being applied by {holder}, whose lease (generation {generation}) \
         expires at {expires_at}; one apply at a time: wait for it to finish, or run again \
         after {expires_at} if it stopped"
    )]
    LeaseHeld {
        /// The manifest id or lifecycle plan id.
        plan_id: String,
        /// Who holds it.
        holder: String,
        /// The lease generation.
        generation: u64,
        /// When it expires unless renewed (RFC 3339, the holder's clock).
        expires_at: String,
    },
    /// This apply lost its lease and stopped before its next change.
    #[error(
        "the apply lease of plan {plan_id} was lost: {reason}; this apply stopped before its \
         next change (what it did is in the journal)"
    )]
    LeaseLost {
        /// The manifest id or lifecycle plan id.
        plan_id: String,
        /// Who took it over, or why it lapsed.
        reason: String,
    },
    /// Applies kept creating lease generations faster than this one could read them.
    #[error("the apply lease of plan {plan_id} keeps changing hands; try again")]
    LeaseContended {
        /// The manifest id or lifecycle plan id.
        plan_id: String,
    },
    /// A lease record that cannot be read: a person must look at it.
    #[error("corrupt apply lease {path}: {reason}")]
    LeaseCorrupt {
        /// The object.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The run finished, and items failed (exit status 1).
    #[error("{failed} items failed; they are in the journal and the next apply retries them")]
    ItemsFailed {
        /// How many.
        failed: u64,
    },
    /// The run finished, nothing failed, but items were skipped because a check could not
    /// be made (exit status 3).
    #[error(
        "nothing failed, but {blocked} items were blocked ({reasons}): a check could not be \
         made, so they were left alone; the next apply checks them again"
    )]
    ItemsBlocked {
        /// How many.
        blocked: u64,
        /// Count by reason, e.g. `2 role_unavailable, 1 reference_check_failed`.
        reasons: String,
    },
}

impl ExecError {
    /// Exit status (see [`status`]): 2 for bad input or a lease another apply holds (nothing
    /// was done), 3 for items blocked, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Review(e) => e.exit_code(),
            Self::ItemsBlocked { .. } => status::BLOCKED,
            Self::Manifest(_)
            | Self::Lifecycle(_)
            | Self::Config(_)
            | Self::ReadManifest { .. }
            | Self::BadArgument { .. }
            | Self::BadJournal { .. }
            | Self::LeaseHeld { .. }
            | Self::Store(ecrgc_store::StoreError::InvalidLocation { .. }) => status::REFUSED,
            _ => status::FAILURE,
        }
    }
}

/// Result alias of the executor.
pub type Result<T, E = ExecError> = std::result::Result<T, E>;
