//! The words the tables, the SQL and the reports share: decision statuses, the `plan_totals`
//! statuses of what a run stores, usage sources and manifest media types. Each is defined
//! here once; SQL files spell the same strings, and the tests of `sql/` check them.

/// The status of one decision row (`sql/plan/decisions.sql`, column `status`).
pub mod status {
    /// In the manifest: flagged, unguarded, and its repository opted in.
    pub const DELETE: &str = "delete";
    /// Would be deleted, but its repository lacks the opt-in tag.
    pub const NOT_OPTED_IN: &str = "not_opted_in";
    /// Flagged, and kept by a guard.
    pub const PROTECTED: &str = "protected";
    /// Kept because an index or subject it belongs to is kept.
    pub const KEPT_WITH_PARENT: &str = "kept_with_parent";
    /// `plan_totals`: every image the run stores in the standard storage class.
    pub const STORED: &str = "stored";
    /// `plan_totals`: every image the run holds in the archive storage class.
    pub const STORED_ARCHIVED: &str = "stored_archived";
}

/// Every status a decision row can carry.
pub const DECISION_STATUSES: &[&str] = &[
    status::DELETE,
    status::NOT_OPTED_IN,
    status::PROTECTED,
    status::KEPT_WITH_PARENT,
];

/// The rule of a child deleted with its parent (an index's child, a referrer), which no rule
/// flagged on its own.
pub const WITH_PARENT: &str = "with_parent";

/// The guard named by a report when a protected row has none (never in practice).
pub const UNKNOWN_REASON: &str = "unknown";

/// The guard whose detail names the usage source failure that blocked an image.
pub const USAGE_COVERAGE_GAP: &str = "usage_coverage_gap";

/// Usage sources: a failure of one of them hides use, so it blocks deletion.
pub const USAGE_SOURCES: &[&str] = &[
    "inspector",
    "config_aggregator",
    "aggregator_source",
    "ecs",
    "lambda",
    "eks",
    "batch",
    "apprunner",
    "sagemaker",
    "codebuild",
    "kubernetes",
    "references",
];

/// `imageStatus` of an image in the archive storage class (ECR's DescribeImages).
pub const IMAGE_STATUS_ARCHIVED: &str = "ARCHIVED";

/// `manifest_reads.pull_time_exclusion` when the collector's role was excluded from
/// pull-time updates, so its BatchGetImage did not move `lastRecordedPullTime`.
pub const PULL_TIME_EXCLUDED: &str = "ok";

/// `manifest_reads.pull_time_exclusion` when the role was known not to be excluded.
pub const PULL_TIME_NOT_EXCLUDED: &str = "not_excluded";

/// Manifest media types.
pub mod media_type {
    /// OCI image index (multi-platform image).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Docker manifest list (multi-platform image).
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
}

/// Manifest media types of image indexes (multi-platform images).
pub const INDEX_MEDIA_TYPES: &[&str] = &[media_type::OCI_INDEX, media_type::DOCKER_MANIFEST_LIST];

/// Whether a manifest media type is an image index.
pub fn is_index_media_type(media_type: &str) -> bool {
    INDEX_MEDIA_TYPES.contains(&media_type)
}
