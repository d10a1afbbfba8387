//! The exit status of an apply, decided here for `ecrgc apply` and `ecrgc-exec` alike.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | every item ended deleted, archived, already gone, or skipped for a finding about it |
//! | 1 | an item failed, or the run could not finish (store, journal, lease lost) |
//! | 2 | bad input, or another apply holds the plan's lease: refused, nothing was changed |
//! | 3 | nothing failed, but items were blocked: skipped because a check could not be made |
//!
//! A skip is either a *finding* about the image (`in_use`, `tagged_since_plan`,
//! `pulled_since_snapshot`, `parent_kept`, `replica_kept`, `repository_excluded`, …): the
//! image is kept for a reason, and that is a successful apply; or it is *blocked*: a check
//! could not be made (`role_unavailable`, `reference_check_failed`, `describe_failed`, …),
//! so nothing is known about the image and the next apply should try again. [`is_blocked`]
//! ([`crate::skip`]) is the one place that tells them apart.

pub use crate::skip::is_blocked;

use crate::error::{ExecError, Result};
use crate::summary::Summary;

/// Every item done, or skipped for a finding.
pub const SUCCESS: u8 = 0;
/// An item failed, or the run could not finish.
pub const FAILURE: u8 = 1;
/// Bad input, or the plan's lease is held: nothing was changed.
pub const REFUSED: u8 = 2;
/// Nothing failed, but a check could not be made for some items.
pub const BLOCKED: u8 = 3;

impl ExecError {
    /// Exit status (see [`crate::status`]): 2 for bad input or a lease another apply holds
    /// (nothing was done), 3 for items blocked, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Review(e) => e.exit_code(),
            Self::ItemsBlocked { .. } => BLOCKED,
            Self::Manifest(_)
            | Self::Lifecycle(_)
            | Self::Config(_)
            | Self::ReadManifest { .. }
            | Self::BadArgument { .. }
            | Self::BadJournal { .. }
            | Self::LeaseHeld { .. }
            | Self::Store(ecrgc_store::StoreError::InvalidLocation { .. }) => REFUSED,
            _ => FAILURE,
        }
    }
}

/// The outcome of a finished apply: `Ok` for exit status 0, else the error whose
/// [`ExecError::exit_code`] is 1 (items failed) or 3 (items blocked, none failed).
pub fn outcome(summary: &Summary) -> Result<()> {
    if summary.failed() > 0 {
        return Err(ExecError::ItemsFailed {
            failed: summary.failed(),
        });
    }
    let blocked = summary.blocked();
    if blocked > 0 {
        let reasons = summary
            .blocked_by_reason()
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ExecError::ItemsBlocked { blocked, reasons });
    }
    Ok(())
}

/// The exit status of an apply that ended with `result`.
pub fn exit_status(result: &Result<()>) -> u8 {
    match result {
        Ok(()) => SUCCESS,
        Err(e) => e.exit_code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(skipped: &[(&str, u64)], failed: u64) -> Summary {
        let mut s = Summary::default();
        for (r, n) in skipped {
            s.skipped_by_reason.insert((*r).to_owned(), *n);
            *s.by_event.entry("skipped".into()).or_default() += n;
        }
        if failed > 0 {
            s.by_event.insert("failed".into(), failed);
        }
        s.by_event.insert("deleted".into(), 4);
        s
    }

    #[test]
    fn failures_exit_1_blocked_items_3_findings_0() {
        let findings = summary(&[("in_use", 2), ("tagged_since_plan", 1)], 0);
        assert_eq!(findings.blocked(), 0);
        assert_eq!(exit_status(&outcome(&findings)), SUCCESS);

        let blocked = summary(
            &[
                ("in_use", 2),
                ("role_unavailable", 3),
                ("reference_check_failed", 1),
            ],
            0,
        );
        assert_eq!(blocked.blocked(), 4);
        let e = outcome(&blocked).expect_err("blocked");
        assert_eq!(exit_status(&Err(e)), BLOCKED);
        let text = outcome(&blocked).expect_err("blocked").to_string();
        assert!(
            text.contains("4 items were blocked")
                && text.contains("1 reference_check_failed, 3 role_unavailable"),
            "{text}"
        );

        let failed = summary(&[("role_unavailable", 3)], 1);
        assert_eq!(exit_status(&outcome(&failed)), FAILURE, "failures win");
        assert_eq!(exit_status(&outcome(&Summary::default())), SUCCESS);
    }
}
