//! `ecrgc plan`: run the rules and guards on a committed run, write the reports and the
//! manifest, print the summary.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use ecrgc_engine::Catalog;
use ecrgc_plan::record::Stage;
use ecrgc_plan::{Chosen, PlanInputs, Provenance};

use crate::args::PlanArgs;
use crate::shared::{configured_catalog, load_config, open_store, parse_now, spinner, warn};

pub async fn plan(args: PlanArgs) -> Result<()> {
    let config = load_config(args.store.config.as_deref())?;
    let now = parse_now(args.now.as_deref())?;
    let catalog = configured_catalog(
        args.sql_dir.as_deref(),
        &args.rules,
        &config,
        args.store.config.as_deref(),
    )?;
    let store = open_store(&args.store, &config).await?;
    let chosen = Chosen::pick(&store, args.run.as_deref(), &config, &warn).await?;
    let inputs = PlanInputs {
        store: &store,
        chosen: &chosen,
        config: &config,
        now,
        warn: &warn,
    };
    let provenance = Provenance {
        config_path: args.store.config.as_deref(),
        sql_dir: args.sql_dir.as_deref(),
        only_rules: &args.rules,
    };
    plan_and_print(&inputs, catalog, provenance, &args.out).await
}

/// Plans the chosen run into `out` and prints the summary (`plan` and `demo`).
pub async fn plan_and_print(
    inputs: &PlanInputs<'_>,
    catalog: Catalog,
    provenance: Provenance<'_>,
    out: &Path,
) -> Result<()> {
    let started = std::time::Instant::now();
    let bar = spinner(Stage::RulesAndGuards.message());
    let suspended = |message: String| bar.suspend(|| warn(message));
    let inputs = PlanInputs {
        warn: &suspended,
        ..*inputs
    };
    let mut written = ecrgc_plan::record::plan(&inputs, catalog, provenance, out, &|stage| {
        if stage == Stage::Retrying {
            suspended(stage.message().to_owned());
        }
        bar.set_message(stage.message())
    })
    .await?;
    bar.finish_and_clear();
    let run = &inputs.chosen.run;
    if let Some(e) = written.totals_not_stored.take() {
        warn(format!(
            "the plan's totals were not stored in {} ({:#}); later trends will miss run {}",
            inputs.store.display(),
            anyhow::Error::new(e),
            run.run_id
        ));
    }
    eprintln!(
        "planned run {} in {:.1} s",
        run.run_id,
        started.elapsed().as_secs_f64()
    );
    let mut stdout = ecrgc_plan::output::stdout();
    stdout.write_all(written.text().as_bytes())?;
    stdout.flush()?;
    Ok(())
}
