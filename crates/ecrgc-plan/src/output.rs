//! Where command results go: a table, CSV, JSON lines or Parquet, on standard output or into
//! a file that appears whole (written beside it under a temporary name, then renamed) or not
//! at all.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::error::{PlanError, Result};

/// Output formats of `ecrgc query` and `ecrgc report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header line, formulas neutralised.
    Csv,
    /// One JSON object per line (`query`), one JSON document (`report`).
    Json,
    /// Apache Parquet.
    Parquet,
    /// One self-contained HTML page with charts (`report` only).
    Html,
}

/// Standard output was closed by its reader before everything was written.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed by its reader")
    }
}

impl std::error::Error for StdoutClosed {}

/// Standard output, locked. A reader that went away (`ecrgc query … | head -1`) shows up
/// as an I/O error carrying [`StdoutClosed`], which the CLI turns into a quiet exit 0; a
/// broken pipe anywhere else (an S3 connection, a child process) stays a failure.
pub struct Stdout(std::io::StdoutLock<'static>);

/// The locked standard output.
pub fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

fn mark_closed(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        e
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(mark_closed)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.write_all(buf).map_err(mark_closed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(mark_closed)
    }
}

/// An output destination: a file (`--out`) or standard output.
pub enum Sink {
    /// Standard output.
    Stdout,
    /// A file written under `.name.partial` and renamed on success.
    File {
        /// The final path.
        path: PathBuf,
        /// The temporary path.
        partial: PathBuf,
    },
}

impl Sink {
    /// The sink for `--out` (standard output without it). Binary formats refuse a terminal.
    pub fn open(out: Option<&Path>, format: Format) -> Result<Self> {
        match out {
            None => {
                if format == Format::Parquet && std::io::stdout().is_terminal() {
                    return Err(PlanError::bad_input(
                        "--format parquet writes binary data: give --out FILE or redirect \
                         standard output",
                    ));
                }
                Ok(Self::Stdout)
            }
            Some(path) => {
                let name = path
                    .file_name()
                    .ok_or_else(|| {
                        PlanError::bad_input(format!("--out {}: not a file name", path.display()))
                    })?
                    .to_string_lossy()
                    .into_owned();
                let partial = path.with_file_name(format!(".{name}.partial"));
                Ok(Self::File {
                    path: path.to_owned(),
                    partial,
                })
            }
        }
    }

    /// Writes `bytes` (the whole output) and finishes.
    pub fn write_all(self, bytes: &[u8]) -> Result<()> {
        match self {
            Self::Stdout => {
                let mut stdout = stdout();
                stdout.write_all(bytes)?;
                stdout.flush()?;
                Ok(())
            }
            Self::File { path, partial } => {
                std::fs::write(&partial, bytes).map_err(|source| PlanError::Io {
                    action: "write",
                    path: partial.display().to_string(),
                    source,
                })?;
                std::fs::rename(&partial, &path).map_err(|source| {
                    let _ = std::fs::remove_file(&partial);
                    PlanError::Io {
                        action: "write",
                        path: path.display().to_string(),
                        source,
                    }
                })
            }
        }
    }
}

/// Renders record batches in one of the tabular formats.
pub fn render_batches(
    format: Format,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match format {
        Format::Table => {
            let table = arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(buf, "{table}")?;
        }
        Format::Csv => {
            let mut w = ecrgc_report::csv::Writer::new(&mut buf);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema))?;
            }
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Format::Parquet => {
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props))?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
        }
        Format::Html => {
            return Err(PlanError::bad_input(
                "--format html is the report's page: use `ecrgc report --format html`",
            ));
        }
    }
    Ok(buf)
}
