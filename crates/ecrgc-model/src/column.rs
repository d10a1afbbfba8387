//! Column kinds and the `table!` macro that turns one declaration into a schema, a typed row
//! and a batch builder, so a column's name, type, nullability and meaning live in one line.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::time::Micros;

/// The time zone every timestamp column carries.
pub const UTC: &str = "UTC";

/// The Arrow type of every timestamp column.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// How one kind of column is typed in Arrow and appended from Rust.
pub trait ColumnKind {
    /// The Arrow builder that accumulates the column.
    type Builder;
    /// The Rust value one row supplies.
    type Value<'a>;
    /// The Arrow data type.
    fn data_type() -> DataType;
    /// Whether the column admits nulls.
    fn nullable() -> bool;
    /// A builder with room for `capacity` rows.
    fn builder(capacity: usize) -> Self::Builder;
    /// Appends one value.
    fn append(builder: &mut Self::Builder, value: Self::Value<'_>);
    /// Finishes the builder into an array, leaving it empty for reuse.
    fn finish(builder: &mut Self::Builder) -> ArrayRef;
}

macro_rules! column_kind {
    ($name:ident, $doc:literal, $builder:ty, $value:ty, $nullable:literal, $dt:expr,
     |$cap:ident| $new:expr, |$b:ident, $v:ident| $append:expr, |$bf:ident| $finish:expr) => {
        #[doc = $doc]
        pub struct $name;
        impl ColumnKind for $name {
            type Builder = $builder;
            type Value<'a> = $value;
            fn data_type() -> DataType {
                $dt
            }
            fn nullable() -> bool {
                $nullable
            }
            fn builder($cap: usize) -> Self::Builder {
                $new
            }
            fn append($b: &mut Self::Builder, $v: Self::Value<'_>) {
                $append
            }
            fn finish($bf: &mut Self::Builder) -> ArrayRef {
                $finish
            }
        }
    };
}

column_kind!(
    Text,
    "A non-null UTF-8 string.",
    StringBuilder,
    &'a str,
    false,
    DataType::Utf8,
    |c| StringBuilder::with_capacity(c, c * 16),
    |b, v| b.append_value(v),
    |b| Arc::new(b.finish())
);
column_kind!(
    OptText,
    "A nullable UTF-8 string.",
    StringBuilder,
    Option<&'a str>,
    true,
    DataType::Utf8,
    |c| StringBuilder::with_capacity(c, c * 16),
    |b, v| b.append_option(v),
    |b| Arc::new(b.finish())
);
column_kind!(
    Int,
    "A non-null 64-bit integer.",
    Int64Builder,
    i64,
    false,
    DataType::Int64,
    |c| Int64Builder::with_capacity(c),
    |b, v| b.append_value(v),
    |b| Arc::new(b.finish())
);
column_kind!(
    OptInt,
    "A nullable 64-bit integer.",
    Int64Builder,
    Option<i64>,
    true,
    DataType::Int64,
    |c| Int64Builder::with_capacity(c),
    |b, v| b.append_option(v),
    |b| Arc::new(b.finish())
);
column_kind!(
    Flag,
    "A non-null boolean.",
    BooleanBuilder,
    bool,
    false,
    DataType::Boolean,
    |c| BooleanBuilder::with_capacity(c),
    |b, v| b.append_value(v),
    |b| Arc::new(b.finish())
);
column_kind!(
    Time,
    "A non-null UTC timestamp in microseconds.",
    TimestampMicrosecondBuilder,
    Micros,
    false,
    timestamp_type(),
    |c| TimestampMicrosecondBuilder::with_capacity(c).with_timezone(UTC),
    |b, v| b.append_value(v),
    |b| Arc::new(b.finish().with_timezone(UTC))
);
column_kind!(
    OptTime,
    "A nullable UTC timestamp in microseconds.",
    TimestampMicrosecondBuilder,
    Option<Micros>,
    true,
    timestamp_type(),
    |c| TimestampMicrosecondBuilder::with_capacity(c).with_timezone(UTC),
    |b, v| b.append_option(v),
    |b| Arc::new(b.finish().with_timezone(UTC))
);

/// A column as documentation and DDL generators see it.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    /// Column name, snake_case.
    pub name: &'static str,
    /// Arrow type.
    pub data_type: DataType,
    /// Whether nulls are allowed.
    pub nullable: bool,
    /// What the column means.
    pub doc: &'static str,
}

/// A snapshot table as the store, the engine and the documentation see it.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Table name, also its top-level folder in the store.
    pub name: &'static str,
    /// What one row is.
    pub doc: &'static str,
    /// Columns in order, `run_id` and `snapshot_time` first.
    pub columns: Vec<ColumnDef>,
}

impl TableDef {
    /// The Arrow schema of the table's Parquet files.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(c.name, c.data_type.clone(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }
}

/// Declares a snapshot table: its row struct, its batch builder and its [`TableDef`].
///
/// `run_id` and `snapshot_time` are added to every table by the builder itself.
#[macro_export]
macro_rules! table {
    (
        $(#[doc = $doc:literal])*
        $name:literal => $row:ident, $builder:ident {
            $( $(#[doc = $cdoc:literal])* $col:ident : $kind:ident ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $row<'a> {
            $( $(#[doc = $cdoc])* pub $col: <$crate::column::$kind as $crate::column::ColumnKind>::Value<'a>, )*
        }

        $(#[doc = $doc])*
        ///
        /// Accumulates rows of the table into Arrow record batches.
        pub struct $builder {
            run_id: String,
            snapshot_time: $crate::time::Micros,
            len: usize,
            schema: arrow::datatypes::SchemaRef,
            run_ids: arrow::array::StringBuilder,
            snapshot_times: arrow::array::TimestampMicrosecondBuilder,
            $( $col: <$crate::column::$kind as $crate::column::ColumnKind>::Builder, )*
        }

        impl $builder {
            /// The table's name in the store and in SQL.
            pub const NAME: &'static str = $name;

            /// A builder whose rows all belong to one run.
            pub fn new(run_id: &str, snapshot_time: $crate::time::Micros, capacity: usize) -> Self {
                Self {
                    run_id: run_id.to_owned(),
                    snapshot_time,
                    len: 0,
                    schema: Self::def().schema(),
                    run_ids: arrow::array::StringBuilder::with_capacity(capacity, capacity * 24),
                    snapshot_times: arrow::array::TimestampMicrosecondBuilder::with_capacity(capacity)
                        .with_timezone($crate::column::UTC),
                    $( $col: <$crate::column::$kind as $crate::column::ColumnKind>::builder(capacity), )*
                }
            }

            /// The table definition: name, meaning and columns.
            pub fn def() -> $crate::column::TableDef {
                $crate::column::TableDef {
                    name: $name,
                    doc: concat!($($doc, "\n"),*).trim_ascii(),
                    columns: vec![
                        $crate::column::ColumnDef {
                            name: "run_id",
                            data_type: arrow::datatypes::DataType::Utf8,
                            nullable: false,
                            doc: "Identifier of the snapshot run the row belongs to.",
                        },
                        $crate::column::ColumnDef {
                            name: "snapshot_time",
                            data_type: $crate::column::timestamp_type(),
                            nullable: false,
                            doc: "The instant the run describes (its `--now`).",
                        },
                        $( $crate::column::ColumnDef {
                            name: stringify!($col),
                            data_type: <$crate::column::$kind as $crate::column::ColumnKind>::data_type(),
                            nullable: <$crate::column::$kind as $crate::column::ColumnKind>::nullable(),
                            doc: concat!($($cdoc),*).trim_ascii(),
                        }, )*
                    ],
                }
            }

            /// Appends one row.
            pub fn append(&mut self, row: $row<'_>) {
                self.run_ids.append_value(&self.run_id);
                self.snapshot_times.append_value(self.snapshot_time);
                $( <$crate::column::$kind as $crate::column::ColumnKind>::append(&mut self.$col, row.$col); )*
                self.len += 1;
            }

            /// Rows appended since the last [`Self::finish`].
            pub fn len(&self) -> usize {
                self.len
            }

            /// Whether no row was appended since the last [`Self::finish`].
            pub fn is_empty(&self) -> bool {
                self.len == 0
            }

            /// Turns the rows appended so far into a batch and starts afresh.
            pub fn finish(&mut self) -> arrow::record_batch::RecordBatch {
                self.len = 0;
                let columns: Vec<arrow::array::ArrayRef> = vec![
                    std::sync::Arc::new(self.run_ids.finish()),
                    std::sync::Arc::new(self.snapshot_times.finish().with_timezone($crate::column::UTC)),
                    $( <$crate::column::$kind as $crate::column::ColumnKind>::finish(&mut self.$col), )*
                ];
                arrow::record_batch::RecordBatch::try_new(self.schema.clone(), columns)
                    .expect("builder columns match the declared schema")
            }
        }
    };
}
