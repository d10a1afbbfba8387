//! The executor's journal as a table: the one place its columns are defined.
//!
//! Every `apply --yes` appends JSON Lines to the store under
//! `journal/manifest_id=…/session=…/…jsonl`; the executor (`ecrgc-exec`) writes them and the
//! engine reads them back as the `journal` view. A line carries these columns (absent keys
//! read as null) and, on session lines, a structured `detail` object that is not a column.
//! `at` is written as RFC 3339 text; the engine's view casts it to a timestamp.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::column::ColumnDef;

/// The journal's folder below the store root, and the name of its view.
pub const TABLE: &str = "journal";

/// The key of a line's structured detail (session lines): written, not a column.
pub const DETAIL: &str = "detail";

/// The columns of a journal line, in order.
static COLUMNS: [ColumnDef; 15] = [
    ColumnDef {
        name: "at",
        data_type: DataType::Utf8,
        nullable: false,
        doc: "Wall-clock time of the append, RFC 3339.",
    },
    ColumnDef {
        name: "manifest_id",
        data_type: DataType::Utf8,
        nullable: false,
        doc: "The plan applied: a manifest id or a lifecycle plan id.",
    },
    ColumnDef {
        name: "session",
        data_type: DataType::Utf8,
        nullable: false,
        doc: "One `apply` invocation.",
    },
    ColumnDef {
        name: "seq",
        data_type: DataType::Int64,
        nullable: false,
        doc: "Position of the line in its session.",
    },
    ColumnDef {
        name: "event",
        data_type: DataType::Utf8,
        nullable: false,
        doc: "What happened: `session_started`, `intent`, `deleted`, `archived`, `absent`, \
         `already_archived`, `skipped`, `failed`, `session_finished`, `policy_put`, \
         `policy_in_place`.",
    },
    ColumnDef {
        name: "item_id",
        data_type: DataType::Utf8,
        nullable: true,
        doc: "The item, for item events.",
    },
    ColumnDef {
        name: "account_id",
        data_type: DataType::Utf8,
        nullable: true,
        doc: "Registry account.",
    },
    ColumnDef {
        name: "region",
        data_type: DataType::Utf8,
        nullable: true,
        doc: "Registry region.",
    },
    ColumnDef {
        name: "repository_name",
        data_type: DataType::Utf8,
        nullable: true,
        doc: "Repository.",
    },
    ColumnDef {
        name: "image_digest",
        data_type: DataType::Utf8,
        nullable: true,
        doc: "Image digest.",
    },
    ColumnDef {
        name: "bytes",
        data_type: DataType::Int64,
        nullable: true,
        doc: "Size the manifest gives, for deleted and archived images.",
    },
    ColumnDef {
        name: "reason",
        data_type: DataType::Utf8,
        nullable: true,
        doc: "Why an item was skipped (a stable identifier such as `pulled_since_snapshot`).",
    },
    ColumnDef {
        name: "api",
        data_type: DataType::Utf8,
        nullable: true,
        doc: "The API an intent or result belongs to.",
    },
    ColumnDef {
        name: "code",
        data_type: DataType::Utf8,
        nullable: true,
        doc: "The error or failure code.",
    },
    ColumnDef {
        name: "message",
        data_type: DataType::Utf8,
        nullable: true,
        doc: "Human-readable detail: what was found, what the API said.",
    },
];

/// The columns of a journal line, in order.
pub fn columns() -> Vec<ColumnDef> {
    COLUMNS.to_vec()
}

/// The names of the columns, in order.
pub fn column_names() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().map(|c| c.name)
}

/// The Arrow schema the journal's JSON Lines are read with (`detail` left out).
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|c| Field::new(c.name, c.data_type.clone(), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_lists_every_column_once() {
        let schema = schema();
        let names: Vec<&str> = column_names().collect();
        assert_eq!(schema.fields().len(), names.len());
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert!(!names.contains(&DETAIL));
        assert_eq!(columns()[3].data_type, DataType::Int64);
    }
}
