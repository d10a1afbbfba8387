//! The report's breakdowns as one flat table (`report.csv`, `report.parquet`).

use std::sync::Arc;

use arrow::array::RecordBatch;

use super::{FinopsReport, Group};
use crate::Result;

/// The breakdowns as one flat table (`report.csv`, `report.parquet`): one row per
/// dimension and key, the manifest's totals first as dimension `total`.
pub fn groups_batch(report: &FinopsReport) -> Result<RecordBatch> {
    use arrow::array::{Float64Builder, Int64Builder, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("dimension", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("images", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("monthly_usd", DataType::Float64, false),
        Field::new("yearly_usd", DataType::Float64, false),
        Field::new("freed_bytes", DataType::Int64, true),
        Field::new("not_opted_in_images", DataType::Int64, false),
        Field::new("not_opted_in_bytes", DataType::Int64, false),
        Field::new("stored_bytes", DataType::Int64, false),
    ]));
    let total = Group {
        key: "manifest".to_owned(),
        images: report.delete.images,
        bytes: report.delete.bytes,
        monthly_usd: report.delete.monthly_usd,
        yearly_usd: report.savings.delete_yearly_usd,
        freed_bytes: report.savings.freed_bytes,
        not_opted_in_images: report.not_opted_in.images,
        not_opted_in_bytes: report.not_opted_in.bytes,
        stored_bytes: report.stored.bytes,
        pull_through_upstream: None,
    };
    let dims: [(&str, &[Group]); 7] = [
        ("total", std::slice::from_ref(&total)),
        ("rule", &report.by_rule),
        ("account", &report.by_account),
        ("region", &report.by_region),
        ("owner", &report.by_owner),
        ("repository", &report.by_repository),
        ("protected_by", &report.protected_by_reason),
    ];
    let (mut dim, mut key) = (StringBuilder::new(), StringBuilder::new());
    let (mut images, mut bytes, mut freed, mut noi, mut nob, mut stored) = (
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
    );
    let (mut monthly, mut yearly) = (Float64Builder::new(), Float64Builder::new());
    for (name, groups) in dims {
        for g in groups {
            dim.append_value(name);
            key.append_value(&g.key);
            images.append_value(g.images as i64);
            bytes.append_value(g.bytes as i64);
            monthly.append_value(g.monthly_usd);
            yearly.append_value(g.yearly_usd);
            freed.append_option(g.freed_bytes.map(|f| f as i64));
            noi.append_value(g.not_opted_in_images as i64);
            nob.append_value(g.not_opted_in_bytes as i64);
            stored.append_value(g.stored_bytes as i64);
        }
    }
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(dim.finish()),
            Arc::new(key.finish()),
            Arc::new(images.finish()),
            Arc::new(bytes.finish()),
            Arc::new(monthly.finish()),
            Arc::new(yearly.finish()),
            Arc::new(freed.finish()),
            Arc::new(noi.finish()),
            Arc::new(nob.finish()),
            Arc::new(stored.finish()),
        ],
    )?)
}
