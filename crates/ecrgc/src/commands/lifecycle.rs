//! `ecrgc lifecycle suggest`: per repository, the ECR lifecycle policy the observed usage
//! supports; `--out` writes the lifecycle plan and records it in the store.

use std::io::Write;

use anyhow::Result;
use ecrgc_plan::lifecycle::{RepositoryKey, parse_repository, suggest};
use ecrgc_plan::{Chosen, PlanInputs};

use crate::args::{LifecycleArgs, LifecycleCommand, SuggestArgs, SuggestFormat};
use crate::shared::{load_config, open_store, parse_now, spinner, warn};

pub async fn lifecycle(args: LifecycleArgs) -> Result<()> {
    match args.command {
        LifecycleCommand::Suggest(a) => suggest_command(a).await,
    }
}

async fn suggest_command(args: SuggestArgs) -> Result<()> {
    let config = load_config(args.store.config.as_deref())?;
    let now = parse_now(args.now.as_deref())?;
    let only: Vec<RepositoryKey> = args
        .repositories
        .iter()
        .map(|r| parse_repository(r))
        .collect::<Result<_, _>>()?;
    let store = open_store(&args.store, &config).await?;
    let chosen = Chosen::pick(&store, args.run.as_deref(), &config, &warn).await?;
    let inputs = PlanInputs {
        store: &store,
        chosen: &chosen,
        config: &config,
        now,
        warn: &warn,
    };
    let bar = spinner(ecrgc_plan::lifecycle::Stage::Guards.message());
    let suggested = suggest(
        &inputs,
        &only,
        args.out.as_deref(),
        args.store.config.as_deref(),
        &|stage| bar.set_message(stage.message()),
    )
    .await;
    bar.finish_and_clear();
    let suggested = suggested?;
    let mut stdout = ecrgc_plan::output::stdout();
    match args.format {
        SuggestFormat::Text => stdout.write_all(suggested.text(&inputs).as_bytes())?,
        SuggestFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &suggested.json(&inputs))?;
            writeln!(stdout)?;
        }
    }
    stdout.flush()?;
    Ok(())
}
