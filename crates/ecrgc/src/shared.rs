//! What several commands share: the configuration, the clock, the store, the rule catalog,
//! progress spinners and warnings.

use std::path::Path;

use anyhow::Result;
use ecrgc_config::Config;
use ecrgc_engine::Catalog;
use ecrgc_model::time::{Micros, parse_rfc3339};
use ecrgc_store::Store;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{Format, StoreArgs};
use crate::error::bad_input;

pub fn load_config(path: Option<&Path>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    })
}

/// `--now`, or the real clock without it.
pub fn parse_now(now: Option<&str>) -> Result<Micros> {
    match now {
        Some(s) => parse_rfc3339(s).map_err(|e| {
            bad_input(format!(
                "invalid --now {s:?}: {e} (expected RFC 3339, e.g. 2026-11-21T03:00:00Z)"
            ))
        }),
        None => Ok(chrono::Utc::now().timestamp_micros()),
    }
}

pub async fn open_store(args: &StoreArgs, config: &Config) -> Result<Store> {
    Ok(ecrgc_aws::open_store(&config.store_location(args.store.as_deref())).await?)
}

/// The built-in catalog, or the one in `--sql-dir`.
pub fn load_catalog(sql_dir: Option<&Path>) -> Result<Catalog> {
    Ok(match sql_dir {
        Some(dir) => Catalog::load_dir(dir)?,
        None => Catalog::builtin(),
    })
}

/// The catalog with the rules the configuration (or `--rule`) switches on.
pub fn configured_catalog(
    sql_dir: Option<&Path>,
    only: &[String],
    config: &Config,
    config_path: Option<&Path>,
) -> Result<Catalog> {
    let origin = config_path.map_or_else(|| "defaults".to_owned(), |p| p.display().to_string());
    Ok(load_catalog(sql_dir)?.select_rules(
        only,
        &config.rules.enable,
        &config.rules.disable,
        &origin,
    )?)
}

pub fn spinner(message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
    );
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Prints a warning of the plan workflow on stderr.
pub fn warn(message: String) {
    eprintln!("warning: {message}");
}

/// The output writers' format of a `--format`.
pub fn output_format(format: Format) -> ecrgc_plan::output::Format {
    match format {
        Format::Table => ecrgc_plan::output::Format::Table,
        Format::Csv => ecrgc_plan::output::Format::Csv,
        Format::Json => ecrgc_plan::output::Format::Json,
        Format::Parquet => ecrgc_plan::output::Format::Parquet,
        Format::Html => ecrgc_plan::output::Format::Html,
    }
}
