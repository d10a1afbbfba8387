//! `ecrgc explain`: why one image is kept or flagged.

use std::io::Write;

use anyhow::Result;
use ecrgc_plan::{Chosen, PlanInputs};

use crate::args::ExplainArgs;
use crate::shared::{configured_catalog, load_config, open_store, parse_now, warn};

pub async fn explain(args: ExplainArgs) -> Result<()> {
    let config = load_config(args.store.config.as_deref())?;
    let now = parse_now(args.now.as_deref())?;
    let catalog = configured_catalog(
        args.sql_dir.as_deref(),
        &[],
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
    let texts = ecrgc_plan::explain::explain(&inputs, catalog, &args.image).await?;
    let mut stdout = ecrgc_plan::output::stdout();
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            writeln!(stdout)?;
        }
        stdout.write_all(text.as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}
