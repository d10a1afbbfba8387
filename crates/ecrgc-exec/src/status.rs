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
//! is the one place that tells them apart.

use crate::executor::Summary;
use crate::lifecycle::lifecycle_reason;
use crate::live::reason;
use crate::replication::reason as replication_reason;
use crate::{ExecError, Result};

/// Every item done, or skipped for a finding.
pub const SUCCESS: u8 = 0;
/// An item failed, or the run could not finish.
pub const FAILURE: u8 = 1;
/// Bad input, or the plan's lease is held: nothing was changed.
pub const REFUSED: u8 = 2;
/// Nothing failed, but a check could not be made for some items.
pub const BLOCKED: u8 = 3;

/// Skip reasons that say a check could not be made, not something about the image.
pub const BLOCKED_REASONS: &[&str] = &[
    reason::ROLE_UNAVAILABLE,
    reason::REFERENCE_CHECK_FAILED,
    reason::REPOSITORY_CHECK_FAILED,
    reason::INSPECTOR_CHECK_FAILED,
    reason::DESCRIBE_FAILED,
    reason::LEASE_LOST,
    replication_reason::REPLICATION_CHECK_FAILED,
    lifecycle_reason::POLICY_CHECK_FAILED,
];

/// Whether a skip for `reason` is blocked (a check could not be made) rather than a finding
/// about the image. A reason named like a failed check (`…_failed`, `…_unavailable`) counts
/// as blocked even before it is listed here, and so does a skip without a reason: unknown is
/// never reported as a success.
pub fn is_blocked(reason: &str) -> bool {
    BLOCKED_REASONS.contains(&reason)
        || reason.ends_with("_failed")
        || reason.ends_with("_unavailable")
        || reason == "unknown"
        || reason.is_empty()
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

    /// Every reason an item can be skipped for today, and whether it is blocked. A new
    /// reason belongs here and, when it means "could not check", in [`BLOCKED_REASONS`].
    #[test]
    fn every_skip_reason_is_either_a_finding_or_blocked() {
        let reasons = [
            (reason::ROLE_UNAVAILABLE, true),
            (reason::REFERENCE_CHECK_FAILED, true),
            (reason::REPOSITORY_CHECK_FAILED, true),
            (reason::INSPECTOR_CHECK_FAILED, true),
            (reason::DESCRIBE_FAILED, true),
            (reason::LEASE_LOST, true),
            (replication_reason::REPLICATION_CHECK_FAILED, true),
            (lifecycle_reason::POLICY_CHECK_FAILED, true),
            (reason::REPOSITORY_EXCLUDED, false),
            (reason::REPOSITORY_NOT_OPTED_IN, false),
            (reason::PARENT_KEPT, false),
            (reason::RESTORING, false),
            (reason::REPUSHED, false),
            (reason::TAGGED_SINCE_PLAN, false),
            (reason::PULLED_SINCE_SNAPSHOT, false),
            (reason::IN_USE, false),
            (reason::IN_USE_REFERENCE, false),
            (reason::ARCHIVED_SINCE_PLAN, false),
            (reason::CHANGED_SINCE_CHECK, false),
            (reason::REFERENCED_BY_INDEX, false),
            (replication_reason::REPLICATION_CHANGED, false),
            (replication_reason::REPLICA_KEPT, false),
            (replication_reason::REPLICATION_CYCLE, false),
            (lifecycle_reason::POLICY_CHANGED, false),
            (lifecycle_reason::WOULD_EXPIRE_KEPT, false),
            (lifecycle_reason::UNKNOWN_IMAGE, false),
        ];
        for (r, blocked) in reasons {
            assert_eq!(is_blocked(r), blocked, "{r}");
        }
        for r in BLOCKED_REASONS {
            assert!(reasons.iter().any(|(x, _)| x == r), "{r} is listed above");
        }
        // Not yet listed: named like a check that could not be made, or a finding.
        assert!(is_blocked("sweep_failed"));
        assert!(is_blocked("registry_unavailable"));
        assert!(is_blocked("unknown"));
        assert!(!is_blocked("in_use_reference"));
        assert!(!is_blocked("archived_since_plan"));
    }

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
