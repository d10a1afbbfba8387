//! `ecrgc report`: the FinOps report of a plan folder.

use anyhow::Result;
use ecrgc_plan::output::Sink;
use ecrgc_report::output::{ReportFormat, render_report};

use crate::args::{Format, ReportArgs};
use crate::shared::{load_config, output_format};

pub async fn report(args: ReportArgs) -> Result<()> {
    let format = match args.format {
        Format::Table => ReportFormat::Table,
        Format::Csv => ReportFormat::Csv,
        Format::Json => ReportFormat::Json,
        Format::Parquet => ReportFormat::Parquet,
        Format::Html => ReportFormat::Html,
    };
    let sink = Sink::open(args.out.as_deref(), output_format(args.format))?;
    let config = load_config(args.config.as_deref())?;
    let report = ecrgc_plan::report::report(&args.plan, args.store.as_deref(), &config).await?;
    sink.write_all(&render_report(&report, format)?)?;
    Ok(())
}
