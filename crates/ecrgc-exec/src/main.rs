//! `ecrgc-exec`: the executor alone, for a deletion role that runs nothing else.
//!
//! The same command as `ecrgc apply`, without the collectors and the query engine, and the
//! same exit statuses ([`ecrgc_exec::status`]): 0 when every item ended deleted, archived,
//! already gone or skipped for a finding; 1 when an item failed or the run could not finish;
//! 2 for bad input or when another apply holds the plan's lease (nothing was done); 3 when
//! nothing failed but items were blocked (a check could not be made).

use std::process::ExitCode;

use clap::Parser;

/// Apply a reviewed ecrgc manifest: re-check every image live, then delete (or archive) it.
#[derive(Debug, Parser)]
#[command(name = "ecrgc-exec", version, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    apply: ecrgc_exec::ApplyArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime
        .block_on(ecrgc_exec::run(cli.apply))
        .and_then(|summary| ecrgc_exec::status::outcome(&summary));
    if let Err(e) = &result {
        eprintln!("error: {}", error_chain(e));
    }
    ExitCode::from(ecrgc_exec::status::exit_status(&result))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
