//! The executor's errors: one enum for everything that stops or refuses an apply. Which exit
//! status each one means is [`crate::status`]'s decision.

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

/// Result alias of the executor.
pub type Result<T, E = ExecError> = std::result::Result<T, E>;
