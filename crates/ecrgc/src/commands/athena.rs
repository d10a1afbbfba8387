//! `ecrgc athena-ddl`: Athena tables that read the store exactly as ecrgc writes it.
//!
//! Each table's files live at `<table>/dt=YYYY-MM-DD/run=<run_id>/*.parquet`. Athena reads
//! every file below a partition's location, so one partition key, `dt`, projected as a date
//! (no crawler, no `MSCK REPAIR`), covers every run of a day; each row names its run in
//! `run_id`. Runs become visible to ecrgc only when their commit marker
//! (`_runs/<run_id>.json`, one JSON object per line) exists, so the markers are a table too,
//! and the `history_*` and `latest_*` views read committed runs only (`sql/athena/views.sql`:
//! the tables themselves are written from the model, the views are the one query text).

use std::io::Write;

use anyhow::Result;
use arrow::datatypes::{DataType, TimeUnit};
use ecrgc_model::{TableDef, all_tables, plan_tables, runs};

use crate::args::AthenaDdlArgs;
use crate::error::bad_input;

pub fn athena_ddl(args: AthenaDdlArgs) -> Result<()> {
    let ddl = ddl(&args.location, &args.database, &args.since)?;
    let mut stdout = ecrgc_plan::output::stdout();
    stdout.write_all(ddl.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// The Athena (Hive DDL) type of an Arrow type the data model uses.
fn athena_type(t: &DataType) -> Result<&'static str> {
    Ok(match t {
        DataType::Utf8 => "string",
        DataType::Int64 => "bigint",
        DataType::Boolean => "boolean",
        DataType::Float64 => "double",
        DataType::Timestamp(TimeUnit::Microsecond, _) => "timestamp",
        other => anyhow::bail!("no Athena type for the Arrow type {other}"),
    })
}

fn quote(s: &str) -> String {
    s.replace('\'', "''")
}

/// Every statement, `;`-terminated, for the store at `location` in `database`.
fn ddl(location: &str, database: &str, since: &str) -> Result<String> {
    let root = location.trim_end_matches('/');
    if !root.starts_with("s3://") || root.len() <= "s3://".len() {
        return Err(bad_input(format!(
            "--location {location:?}: Athena reads S3; expected s3://bucket/prefix"
        )));
    }
    if database.is_empty()
        || !database
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(bad_input(format!(
            "--database {database:?}: use lowercase letters, digits and _"
        )));
    }
    if chrono::NaiveDate::parse_from_str(since, "%Y-%m-%d").is_err() {
        return Err(bad_input(format!(
            "--since {since:?}: expected a date YYYY-MM-DD"
        )));
    }
    let mut out = format!(
        "-- Athena tables over the ecrgc store {root}\n\
         -- Printed by `ecrgc athena-ddl`; run each statement once.\n\n\
         CREATE DATABASE IF NOT EXISTS {database};\n\n"
    );
    let mut tables = all_tables();
    tables.extend(plan_tables());
    for def in &tables {
        out.push_str(&table_ddl(def, root, database, since)?);
    }
    let run_columns = runs::COLUMNS
        .iter()
        .map(|c| Ok(format!("{} {}", c.name, athena_type(&c.data_type())?)))
        .collect::<Result<Vec<_>>>()?
        .join(",\n  ");
    out.push_str(&format!(
        "-- Commit markers: a run is complete when its marker exists.\n\
         CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{committed_runs} (\n  {run_columns}\n)\n\
         ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n\
         LOCATION '{}/{}/';\n\n",
        quote(root),
        runs::MARKERS_FOLDER,
        committed_runs = runs::NAME,
    ));
    let views = views_template(database);
    for def in &tables {
        out.push_str(&views.replace("{table}", def.name));
    }
    Ok(out)
}

/// The `history_` and `latest_` views (`sql/athena/views.sql`) in `database`, each statement
/// followed by a blank line, with `{table}` left to fill per table.
fn views_template(database: &str) -> String {
    const VIEWS: &str = include_str!("../../../../sql/athena/views.sql");
    let statements: String = VIEWS
        .lines()
        .skip_while(|line| line.starts_with("--"))
        .map(|line| format!("{line}\n"))
        .collect();
    format!("{statements}\n").replace("{database}", database)
}

fn table_ddl(def: &TableDef, root: &str, database: &str, since: &str) -> Result<String> {
    let columns = def
        .columns
        .iter()
        .map(|c| {
            Ok(format!(
                "  {} {} COMMENT '{}'",
                c.name,
                athena_type(&c.data_type)?,
                quote(c.doc)
            ))
        })
        .collect::<Result<Vec<_>>>()?
        .join(",\n");
    let location = format!("{}/{}/", quote(root), def.name);
    let first_line = def.doc.lines().next().unwrap_or_default();
    Ok(format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{name} (\n{columns}\n)\n\
         COMMENT '{comment}'\n\
         PARTITIONED BY (dt string)\n\
         STORED AS PARQUET\n\
         LOCATION '{location}'\n\
         TBLPROPERTIES (\n  \
           'projection.enabled' = 'true',\n  \
           'projection.dt.type' = 'date',\n  \
           'projection.dt.format' = 'yyyy-MM-dd',\n  \
           'projection.dt.range' = '{since},NOW',\n  \
           'projection.dt.interval' = '1',\n  \
           'projection.dt.interval.unit' = 'DAYS',\n  \
           'storage.location.template' = '{location}dt=${{dt}}/'\n\
         );\n\n",
        name = def.name,
        comment = quote(first_line),
    ))
}
