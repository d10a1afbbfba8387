//! `ecrgc collect`: snapshot every configured account × region × source into one committed
//! run, with progress on stderr and the units that were not read cleanly on stdout.

use std::io::Write;

use anyhow::{Context, Result};
use ecrgc_model::time::MAX_CLOCK_SKEW_SECONDS;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::CollectArgs;
use crate::error::bad_input;
use crate::shared::{load_config, open_store, parse_now};

pub async fn collect(args: CollectArgs) -> Result<()> {
    use ecrgc_collect::aws::{CollectOptions, CollectProgress, Shard, collect};
    let config_path = args.store.config.as_deref().ok_or_else(|| {
        bad_input("collect needs a configuration file (--config FILE or ECRGC_CONFIG): the accounts and regions to read")
    })?;
    let config = load_config(Some(config_path))?;
    let now = parse_now(args.now.as_deref())?;
    // A snapshot describes what exists now: one dated in the future would become the
    // store's latest run for as long as the future lasts.
    let real_now = chrono::Utc::now().timestamp_micros();
    if now > real_now.saturating_add(MAX_CLOCK_SKEW_SECONDS * 1_000_000) {
        return Err(bad_input(format!(
            "invalid --now {:?}: it is {} s in the future of this machine's clock ({}); \
             collect records what exists now, so at most {MAX_CLOCK_SKEW_SECONDS} s ahead \
             is accepted",
            args.now.as_deref().unwrap_or_default(),
            (now - real_now) / 1_000_000,
            ecrgc_model::time::rfc3339(real_now)
        )));
    }
    let shard = match &args.shard {
        Some(s) => Some(s.parse::<Shard>().map_err(bad_input)?),
        None => None,
    };
    let store = open_store(&args.store, &config).await?;
    let progress = std::sync::Arc::new(CollectProgress::default());
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix:<17} {bar:24} {pos}/{len} units  {msg} ({elapsed})",
        )
        .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let options = CollectOptions {
        now,
        shard,
        run_name: args.run_name.clone(),
        layers: match (args.layers, args.no_layers) {
            (true, _) => true,
            (_, true) => false,
            _ => config.sources.layers,
        },
        register_pull_time_exclusion: args.register_pull_time_exclusion,
    };
    let work = collect(&config, &store, &options, progress.clone());
    tokio::pin!(work);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    let report = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tick.tick() => {
                let p = progress.snapshot();
                bar.set_prefix(p.phase.clone());
                bar.set_length(p.units_total);
                bar.set_position(p.units_done);
                bar.set_message(format!(
                    "accounts {}/{}  images {}  refs {}  errors {}",
                    p.accounts_done, p.accounts_total, p.images, p.refs, p.errors
                ));
            }
        }
    };
    bar.finish_and_clear();
    let report = report.context("collecting")?;
    // Pull times the collector moved are a data-quality problem for later plans, not a
    // failure of this run: said on stderr where people look for warnings.
    for o in &report.outcomes {
        if o.source == "pull_time_exclusion" && o.status != "ok" {
            eprintln!(
                "warning: {}/{}: {}",
                o.account_id,
                o.region,
                o.error.as_deref().unwrap_or(&o.status)
            );
        }
        // An `ok` unit with a message skipped resources deleted while it read them.
        if o.status == "ok"
            && let Some(note) = &o.error
        {
            eprintln!("note: {}/{} {}: {note}", o.account_id, o.region, o.source);
        }
    }
    let mut out = ecrgc_plan::output::stdout();
    match (&report.committed, report.shards_done) {
        (Some(m), _) => writeln!(
            out,
            "committed run {} ({} images, {} workload references{}) to {}",
            m.run_id,
            m.tables.get("images").map_or(0, |t| t.rows),
            m.tables.get("workload_refs").map_or(0, |t| t.rows),
            match m.tables.get("image_layers").map_or(0, |t| t.rows) {
                0 => String::new(),
                n => format!(", {n} image layers"),
            },
            store.display()
        )?,
        (None, Some((done, count))) => writeln!(
            out,
            "shard finished for run {}: {done} of {count} shards in; the last one commits",
            report.run_id
        )?,
        (None, None) => writeln!(out, "run {} written", report.run_id)?,
    }
    // A missing pull-time exclusion is a warning (on stderr, above), not a unit that failed
    // to read: the data is complete, only pull times the collector read may have moved.
    let not_ok = |o: &&ecrgc_collect::aws::Outcome| o.status != "ok" && o.status != "not_excluded";
    writeln!(
        out,
        "{} API calls, {} throttled; {} of {} units not ok",
        report.api_calls,
        report.throttles,
        report.outcomes.iter().filter(not_ok).count(),
        report.outcomes.len()
    )?;
    for o in report.outcomes.iter().filter(not_ok) {
        writeln!(
            out,
            "  {} {} {:<17} {:<8} {}",
            o.account_id,
            o.region,
            o.source,
            o.status,
            o.error.as_deref().unwrap_or_default()
        )?;
    }
    out.flush()?;
    Ok(())
}
