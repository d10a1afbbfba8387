//! The FinOps report in each of its formats: JSON (the reference every other format is
//! checked against), a flat table as CSV and Parquet, text for a terminal, and the HTML page.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::finops::{FinopsReport, groups_batch};
use crate::{ReportError, Result};

/// The report's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Text tables for a terminal.
    Table,
    /// The breakdowns as one CSV table, text cells neutralised ([`crate::csv`]).
    Csv,
    /// The whole report as one JSON document.
    Json,
    /// The breakdowns as one Parquet table.
    Parquet,
    /// One self-contained HTML page with charts.
    Html,
}

/// Renders the report in one format.
pub fn render_report(report: &FinopsReport, format: ReportFormat) -> Result<Vec<u8>> {
    Ok(match format {
        ReportFormat::Table => crate::text::render_finops(report).into_bytes(),
        ReportFormat::Json => {
            let mut buf = serde_json::to_vec_pretty(report)?;
            buf.push(b'\n');
            buf
        }
        ReportFormat::Html => crate::html::render(report)?.into_bytes(),
        ReportFormat::Csv => {
            let batch = groups_batch(report)?;
            let mut buf = Vec::new();
            let mut w = crate::csv::Writer::new(&mut buf);
            w.write(&batch)?;
            drop(w);
            buf
        }
        ReportFormat::Parquet => {
            let batch = groups_batch(report)?;
            let mut buf = Vec::new();
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let mut w =
                parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
            w.write(&batch)?;
            w.close()?;
            buf
        }
    })
}

/// The files a plan writes for its report, by name.
pub const REPORT_FILES: &[(&str, ReportFormat)] = &[
    ("report.json", ReportFormat::Json),
    ("report.html", ReportFormat::Html),
    ("report.csv", ReportFormat::Csv),
    ("report.parquet", ReportFormat::Parquet),
];

/// Writes every report file; `path_for` names where each goes (a plan stages them).
pub fn write_report_files(
    report: &FinopsReport,
    mut path_for: impl FnMut(&'static str) -> PathBuf,
) -> Result<()> {
    for (name, format) in REPORT_FILES {
        let path = path_for(name);
        write_file(&path, &render_report(report, *format)?)?;
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| ReportError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.flush().map_err(io)
}
