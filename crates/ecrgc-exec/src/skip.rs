//! Every reason an item is left alone, in one enum.
//!
//! The journal's `reason` column, the summary's `skipped_by_reason` and the dry-run listing
//! write [`SkipReason::as_str`]: stable identifiers that journals already on disk hold, so a
//! name never changes. A skip is either a *finding* about the image (it is kept for a reason,
//! and that is a successful apply) or *blocked*: a check could not be made, so nothing is
//! known about the image and the next apply tries again (exit status 3, see
//! [`crate::status`]). [`is_blocked`] is the one place that tells them apart.

use std::fmt;

/// Why an item is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    // Blocked: a check could not be made.
    /// The role could not be assumed in the registry account.
    RoleUnavailable,
    /// The live workload references could not all be read.
    ReferenceCheckFailed,
    /// The repository or its tags could not be read.
    RepositoryCheckFailed,
    /// Inspector coverage could not be read.
    InspectorCheckFailed,
    /// The images could not be described.
    DescribeFailed,
    /// The apply lease was lost right before the call (another apply took it over, or it
    /// could not be renewed): not sent, and the run stops.
    LeaseLost,
    /// The registry's replication rules could not be read.
    ReplicationCheckFailed,
    /// GetLifecyclePolicy failed (lifecycle plans).
    PolicyCheckFailed,

    // Findings about the repository.
    /// The repository carries the exclude tag now.
    RepositoryExcluded,
    /// The repository no longer carries the opt-in tag.
    RepositoryNotOptedIn,

    // Findings about the image.
    /// A parent (index or subject) of the image is kept.
    ParentKept,
    /// The image is being restored from the archive.
    Restoring,
    /// The digest was pushed again after the plan.
    Repushed,
    /// The image carries a tag the manifest does not list.
    TaggedSincePlan,
    /// ECR or Inspector recorded a pull after the snapshot.
    PulledSinceSnapshot,
    /// Inspector sees the image in use.
    InUse,
    /// A live workload reference names the image (whether or not it existed at the
    /// snapshot): a task definition, service, pinned digest, task, Lambda version or alias.
    InUseReference,
    /// The image is ARCHIVED now and was not when planned: archiving was a person's decision.
    ArchivedSincePlan,
    /// The image's tags, push time, pull time or status changed between the check and the
    /// description made right before the call.
    ChangedSinceCheck,
    /// ECR refused: an image index in the repository still lists it.
    ReferencedByIndex,

    // Findings about delete replication (see [`crate::checks::replication`]).
    /// The registry's delete replication now reaches a destination the plan did not consider.
    ReplicationChanged,
    /// A replica the deletion would take along is not deleted (not in the manifest, or kept).
    ReplicaKept,
    /// The item's replicas lead back to it.
    ReplicationCycle,

    // Findings about a lifecycle policy (lifecycle plans).
    /// The policy in place is not the one the plan replaces.
    PolicyChanged,
    /// The policy would expire an image the plan kept.
    WouldExpireKept,
    /// The policy would expire an image pushed after the snapshot.
    UnknownImage,
}

impl SkipReason {
    /// Every reason, blocked ones first.
    pub const ALL: [Self; 26] = [
        Self::RoleUnavailable,
        Self::ReferenceCheckFailed,
        Self::RepositoryCheckFailed,
        Self::InspectorCheckFailed,
        Self::DescribeFailed,
        Self::LeaseLost,
        Self::ReplicationCheckFailed,
        Self::PolicyCheckFailed,
        Self::RepositoryExcluded,
        Self::RepositoryNotOptedIn,
        Self::ParentKept,
        Self::Restoring,
        Self::Repushed,
        Self::TaggedSincePlan,
        Self::PulledSinceSnapshot,
        Self::InUse,
        Self::InUseReference,
        Self::ArchivedSincePlan,
        Self::ChangedSinceCheck,
        Self::ReferencedByIndex,
        Self::ReplicationChanged,
        Self::ReplicaKept,
        Self::ReplicationCycle,
        Self::PolicyChanged,
        Self::WouldExpireKept,
        Self::UnknownImage,
    ];

    /// The identifier journals, summaries and listings write.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RoleUnavailable => "role_unavailable",
            Self::ReferenceCheckFailed => "reference_check_failed",
            Self::RepositoryCheckFailed => "repository_check_failed",
            Self::InspectorCheckFailed => "inspector_check_failed",
            Self::DescribeFailed => "describe_failed",
            Self::LeaseLost => "lease_lost",
            Self::ReplicationCheckFailed => "replication_check_failed",
            Self::PolicyCheckFailed => "policy_check_failed",
            Self::RepositoryExcluded => "repository_excluded",
            Self::RepositoryNotOptedIn => "repository_not_opted_in",
            Self::ParentKept => "parent_kept",
            Self::Restoring => "restoring",
            Self::Repushed => "repushed",
            Self::TaggedSincePlan => "tagged_since_plan",
            Self::PulledSinceSnapshot => "pulled_since_snapshot",
            Self::InUse => "in_use",
            Self::InUseReference => "in_use_reference",
            Self::ArchivedSincePlan => "archived_since_plan",
            Self::ChangedSinceCheck => "changed_since_check",
            Self::ReferencedByIndex => "referenced_by_index",
            Self::ReplicationChanged => "replication_changed",
            Self::ReplicaKept => "replica_kept",
            Self::ReplicationCycle => "replication_cycle",
            Self::PolicyChanged => "policy_changed",
            Self::WouldExpireKept => "would_expire_kept",
            Self::UnknownImage => "unknown_image",
        }
    }

    /// Whether the skip says a check could not be made, rather than something about the
    /// image.
    pub const fn is_blocked(self) -> bool {
        matches!(
            self,
            Self::RoleUnavailable
                | Self::ReferenceCheckFailed
                | Self::RepositoryCheckFailed
                | Self::InspectorCheckFailed
                | Self::DescribeFailed
                | Self::LeaseLost
                | Self::ReplicationCheckFailed
                | Self::PolicyCheckFailed
        )
    }

    /// The reason named `name`, if it is one of today's.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a skip recorded as `reason` (a journal's or a summary's string) is blocked (a
/// check could not be made) rather than a finding about the image. A reason named like a
/// failed check (`…_failed`, `…_unavailable`) counts as blocked even when this version does
/// not know it (a journal written by a newer one), and so does a skip without a reason:
/// unknown is never reported as a success.
pub fn is_blocked(reason: &str) -> bool {
    SkipReason::from_name(reason).is_some_and(SkipReason::is_blocked)
        || reason.ends_with("_failed")
        || reason.ends_with("_unavailable")
        || reason == "unknown"
        || reason.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason an item can be skipped for, and whether it is blocked: the names are
    /// the ones journals on disk hold.
    #[test]
    fn every_skip_reason_is_either_a_finding_or_blocked() {
        let reasons = [
            ("role_unavailable", true),
            ("reference_check_failed", true),
            ("repository_check_failed", true),
            ("inspector_check_failed", true),
            ("describe_failed", true),
            ("lease_lost", true),
            ("replication_check_failed", true),
            ("policy_check_failed", true),
            ("repository_excluded", false),
            ("repository_not_opted_in", false),
            ("parent_kept", false),
            ("restoring", false),
            ("repushed", false),
            ("tagged_since_plan", false),
            ("pulled_since_snapshot", false),
            ("in_use", false),
            ("in_use_reference", false),
            ("archived_since_plan", false),
            ("changed_since_check", false),
            ("referenced_by_index", false),
            ("replication_changed", false),
            ("replica_kept", false),
            ("replication_cycle", false),
            ("policy_changed", false),
            ("would_expire_kept", false),
            ("unknown_image", false),
        ];
        assert_eq!(reasons.len(), SkipReason::ALL.len());
        for ((name, blocked), reason) in reasons.into_iter().zip(SkipReason::ALL) {
            assert_eq!(reason.as_str(), name);
            assert_eq!(reason.is_blocked(), blocked, "{name}");
            assert_eq!(is_blocked(name), blocked, "{name}");
            assert_eq!(SkipReason::from_name(name), Some(reason));
        }
        // Not known to this version: named like a check that could not be made, or a finding.
        assert!(is_blocked("sweep_failed"));
        assert!(is_blocked("registry_unavailable"));
        assert!(is_blocked("unknown"));
        assert!(is_blocked(""));
        assert!(!is_blocked("some_new_finding"));
    }
}
