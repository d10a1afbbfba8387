//! The decision rows a plan produces (`sql/plan/decisions.sql`): the one place their columns
//! are named and explained.
//!
//! The SQL computes the rows; the manifest writer, the reports, `ecrgc explain` and the DuckDB
//! differential read them by these names. An engine test checks that `decisions.sql`
//! returns exactly these columns with these types, so a column renamed or added in the SQL
//! must be added here first.

use arrow::datatypes::DataType;

use crate::column::{ColumnDef, timestamp_type};

/// The name the decision rows are registered under.
pub const TABLE: &str = "decisions";

const fn text(name: &'static str, nullable: bool, doc: &'static str) -> ColumnDef {
    ColumnDef {
        name,
        data_type: DataType::Utf8,
        nullable,
        doc,
    }
}

/// Text built from a list (`STRING_AGG` and what is split from it): DataFusion types it
/// `LargeUtf8`, and readers accept either text type.
const fn list(name: &'static str, nullable: bool, doc: &'static str) -> ColumnDef {
    ColumnDef {
        name,
        data_type: DataType::LargeUtf8,
        nullable,
        doc,
    }
}

const fn int(name: &'static str, nullable: bool, doc: &'static str) -> ColumnDef {
    ColumnDef {
        name,
        data_type: DataType::Int64,
        nullable,
        doc,
    }
}

/// The columns of a decision row, in order.
pub fn columns() -> Vec<ColumnDef> {
    let time = |name: &'static str, doc: &'static str| ColumnDef {
        name,
        data_type: timestamp_type(),
        nullable: true,
        doc,
    };
    vec![
        text("account_id", false, "Registry account."),
        text("region", false, "Registry region."),
        text("repository_name", false, "Repository."),
        text(
            "image_digest",
            false,
            "Manifest digest of the image decided.",
        ),
        text(
            "status",
            false,
            "`delete`, `not_opted_in`, `protected` or `kept_with_parent` \
             (crate::vocabulary::DECISION_STATUSES).",
        ),
        list(
            "rule",
            true,
            "The first rule of a deletable image (`with_parent` for a child deleted with its \
             parent); the first rule of a flagged image otherwise; null when none flagged it.",
        ),
        list(
            "rules",
            true,
            "Every rule that flagged the image, in order, comma-separated.",
        ),
        list(
            "rule_detail",
            true,
            "What each rule found, `rule: detail; …`.",
        ),
        list(
            "reason",
            true,
            "Why a kept image stays: its first guard, or `parent_kept`; null when deletable.",
        ),
        list(
            "guards",
            true,
            "Every guard that protects the image, in order, comma-separated.",
        ),
        list(
            "guard_detail",
            true,
            "What each guard found, `guard: detail; …`.",
        ),
        list(
            "parent_digests",
            true,
            "The image's parents (index, subject), comma-separated.",
        ),
        int(
            "depth",
            false,
            "Links below its root: 0 for a root, parents before children.",
        ),
        list(
            "image_tags",
            true,
            "The image's tags, comma-separated in tag order.",
        ),
        int("image_size_bytes", true, "ECR's `imageSizeInBytes`."),
        time("image_pushed_at", "When the image was pushed."),
        text(
            "image_manifest_media_type",
            true,
            "The manifest's media type.",
        ),
        text(
            "image_status",
            true,
            "`ACTIVE`, `ARCHIVED` or `ACTIVATING`.",
        ),
        time("last_recorded_pull_time", "ECR's last recorded pull."),
        time("last_in_use_at", "Inspector's `lastInUseAt`."),
        int("in_use_count", true, "Inspector's `inUseCount`."),
        time("image_pulled_at", "Inspector's `imagePulledAt`."),
        text(
            "coverage_state",
            false,
            "Inspector coverage of the image: `active`, `inactive` or `no_coverage`.",
        ),
        int(
            "references_found",
            false,
            "Workload references naming the image.",
        ),
        int(
            "live_references",
            false,
            "Of those, the ones that protect it.",
        ),
        list(
            "replicas",
            true,
            "Registries (`account/region`) whose replica a deletion takes along through \
             delete replication, comma-separated.",
        ),
        int(
            "replica_bytes",
            false,
            "Bytes of those replicas, each billed in its registry.",
        ),
        list(
            "replica_destinations",
            true,
            "Every destination the plan considered, replica present or not.",
        ),
    ]
}

/// The names of the columns, in order.
pub fn column_names() -> Vec<&'static str> {
    columns().iter().map(|c| c.name).collect()
}
