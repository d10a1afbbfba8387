//! `ecrgc demo`: generate a synthetic organization into a store and plan it.

use anyhow::{Context, Result};
use ecrgc_collect::demo::{DemoOptions, generate};
use ecrgc_plan::{Chosen, PlanInputs, Provenance};
use ecrgc_store::Store;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::DemoArgs;
use crate::error::bad_input;
use crate::shared::{configured_catalog, load_config, parse_now, warn};

pub async fn demo(args: DemoArgs) -> Result<()> {
    let config = load_config(args.config.as_deref())?;
    let now = parse_now(args.now.as_deref())?;
    if args.images == 0 {
        return Err(bad_input("--images must be at least 1"));
    }
    let store = Store::open(&args.store)?;
    let bar = ProgressBar::new(args.images);
    bar.set_style(
        ProgressStyle::with_template("generating {bar:30} {pos}/{len} images ({elapsed})")
            .expect("valid template"),
    );
    let options = DemoOptions {
        images: args.images,
        seed: args.seed,
        now,
    };
    let started = std::time::Instant::now();
    let (run, truth) = generate(&store, &options, |n| bar.set_position(n))
        .await
        .context("generating the demo organization")?;
    bar.finish_and_clear();
    eprintln!(
        "wrote demo run {} ({} images) to {} in {:.1} s",
        run.run_id,
        truth.all.images,
        store.display(),
        started.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let truth_path = args.out.join("demo-truth.json");
    std::fs::write(&truth_path, serde_json::to_vec_pretty(&truth)?)
        .with_context(|| format!("cannot write {}", truth_path.display()))?;
    let catalog = configured_catalog(None, &[], &config, args.config.as_deref())?;
    let chosen = Chosen::pick(&store, Some(&run.run_id), &config, &warn).await?;
    let inputs = PlanInputs {
        store: &store,
        chosen: &chosen,
        config: &config,
        now,
        warn: &warn,
    };
    let provenance = Provenance {
        config_path: args.config.as_deref(),
        sql_dir: None,
        only_rules: &[],
    };
    super::plan::plan_and_print(&inputs, catalog, provenance, &args.out).await
}
