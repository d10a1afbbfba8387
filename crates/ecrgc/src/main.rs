//! `ecrgc`: find and safely remove unused Amazon ECR images across an AWS organization.
//!
//! This binary is the edge of the system: it parses the command line, loads the
//! configuration, wires the crates together and maps every error to an exit status
//! (0 success, 1 failure, 2 bad usage or bad input; `apply` also 3 when items were blocked,
//! see `ecrgc_exec::status`). Standard output closed by its reader (`| head -1`) ends the
//! command quietly with 0. Data goes to stdout; progress and errors go to stderr.
//!
//! Layout: [`args`] holds every clap type; [`commands`] one module per command, calling the
//! plan workflow ([`ecrgc_plan`]), the collector and the executor; [`shared`] what several
//! commands need; [`error`] decides the exit status.

mod args;
mod commands;
mod error;
mod shared;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
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
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if error::is_stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(error::exit_code(&e))
        }
    }
}
