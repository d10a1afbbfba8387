//! The executor: applies a reviewed deletion manifest.
//!
//! This crate owns everything between a manifest a person has reviewed and the images that
//! are gone afterwards. It depends on no query engine, so a locked-down deletion role can run
//! its own binary (`ecrgc-exec`) alone; `ecrgc apply` calls the same [`cli::run`].
//!
//! The modules depend one way, each only on those listed before it:
//!
//! * [`error`], [`skip`], `timestamp`: the crate's errors; every reason an item is left
//!   alone ([`skip::SkipReason`]); AWS timestamps in microseconds.
//! * [`journal`]: every decision and API result, appended as JSON Lines to a local file and
//!   to the store (`journal/manifest_id=…/session=…/…jsonl`, the columns of
//!   [`ecrgc_model::journal`]), durable before the API call it announces. A second `apply`
//!   of the same manifest reads it back and never repeats what is done.
//! * [`lease`]: one `apply --yes` at a time per plan: a lease in the store, taken after
//!   admission and before the journal session and the first change, renewed while the run
//!   lasts, checked before every change, released at the end.
//! * [`summary`]: the mode, the final word on each item, the figures over every session.
//! * [`status`]: the exit status, decided in one place for both binaries: 0 done, 1 items
//!   failed, 2 refused (bad input, or the lease is held), 3 items blocked (a check could not
//!   be made) and none failed.
//! * [`output`]: standard output, where a reader that went away is no failure.
//! * [`admit`]: before any API call, the plan must parse, be of a known version, have every
//!   item match its id, and pass the rules every reviewed plan shares
//!   ([`ecrgc_review::admit`]): a subset of a plan recorded in the store it names (a
//!   reviewer may remove items, never add or change them), not a what-if, not expired by the
//!   real clock, made under the same safety configuration, and approved as `[safety]` asks.
//!   Anything else is bad input (exit status 2) and nothing is touched.
//! * [`checks`]: what is read again live, each source a module: every live workload
//!   reference in every configured account and region (ECS task definitions, services and
//!   the digests their revisions and deployments pin, tasks, Lambda versions and aliases),
//!   whether or not it existed at the snapshot, read again when older than `[apply]
//!   reference_max_age_seconds`; delete replication (every registry's rules re-read live,
//!   replicas deleted, as items of their own, before the source whose deletion would take
//!   them along); the repository's tags; Inspector's usage; each image against the plan.
//! * [`context`]: what every apply prepares before its first change: the call gates, a
//!   session per account, the live references, the lease and the journal.
//! * [`approve`]: `ecrgc approve`, a reviewer's approval recorded in the store.
//! * [`deletion`]: per repository, the live checks (still opted in and not excluded,
//!   Inspector's usage now) and, per batch, the image itself (same digest and push, no new
//!   tag, no pull since the snapshot, not archived since the plan, named by no live
//!   reference); then, right before BatchDeleteImage or UpdateImageStorageClass, the batch
//!   described once more and anything changed since the check left alone.
//! * [`executor`]: the order (an index before its children, a child never while its index
//!   stays; replicas before their sources), the parallelism and the summary.
//! * [`lifecycle`]: a lifecycle plan from `ecrgc lifecycle suggest` instead of a manifest:
//!   admitted the same way, then per repository the live policy, tags and images are read,
//!   the planned policy is simulated on the live images, and PutLifecyclePolicy is called
//!   only when nothing it would expire is kept, in use or newly referenced.
//! * [`cli`]: the command line of `apply`, on top, calling down only.

pub mod error;
pub mod skip;
mod timestamp;

pub mod journal;
pub mod lease;
pub mod output;
pub mod status;
pub mod summary;

pub mod admit;
pub mod checks;
pub mod context;

pub mod approve;
pub mod deletion;
pub mod executor;
pub mod lifecycle;

pub mod cli;

pub use cli::{ApplyArgs, run};
pub use error::{ExecError, Result};
pub use summary::{Mode, Summary};
