//! One module per command; each wires configuration, store, the plan workflow and the
//! reports together and prints the result.

mod apply;
mod athena;
mod collect;
mod demo;
mod explain;
mod lifecycle;
mod plan;
mod query;
mod report;
mod rules;

use anyhow::Result;

use crate::args::{Cli, Command};

/// Runs one command.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => demo::demo(args).await,
        Command::Collect(args) => collect::collect(args).await,
        Command::Plan(args) => plan::plan(args).await,
        Command::Report(args) => report::report(args).await,
        Command::Query(args) => query::query(args).await,
        Command::AthenaDdl(args) => athena::athena_ddl(args),
        Command::Explain(args) => explain::explain(args).await,
        Command::Rules(args) => rules::rules(args),
        Command::Approve(args) => apply::approve(args).await,
        Command::Apply(args) => apply::apply(args).await,
        Command::Lifecycle(args) => lifecycle::lifecycle(args).await,
    }
}
