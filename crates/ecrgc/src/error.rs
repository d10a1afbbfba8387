//! Exit statuses, decided here and only here: which failures are the user's input (2) and
//! which are ecrgc's or the environment's (1). An apply's statuses, 3 included, are the
//! executor's ([`ecrgc_exec::status`]).

use std::error::Error;

use ecrgc_plan::PlanError;
use ecrgc_plan::output::StdoutClosed;

/// An error caused by the command line or an input file, reported with exit status 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for BadInput {}

/// Wraps an error as bad input.
pub fn bad_input(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(BadInput(e.to_string()))
}

/// Every cause of `e`, outermost first; a transparent [`PlanError`] is followed by the
/// error it stands for, so that each is judged as if it had been returned directly.
fn causes(e: &anyhow::Error) -> impl Iterator<Item = &(dyn Error + 'static)> {
    e.chain().flat_map(|cause| {
        let inner = cause
            .downcast_ref::<PlanError>()
            .and_then(PlanError::transparent);
        std::iter::once(cause).chain(inner)
    })
}

/// Whether `e` is only that standard output's reader went away (`… | head -1`): it read
/// what it wanted, so like `cat`, ripgrep or uv ecrgc stops quietly with exit status 0.
/// Only a write through [`ecrgc_plan::output::stdout`] carries the mark; the chain is
/// searched because the I/O error may be wrapped in context.
pub fn is_stdout_closed(e: &anyhow::Error) -> bool {
    causes(e).any(|cause| {
        cause.is::<StdoutClosed>()
            || cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

/// The exit status of an error: the first cause that decides one, else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    causes(e).find_map(decided_status).unwrap_or(1)
}

/// The status one cause decides, if it decides one.
fn decided_status(cause: &(dyn Error + 'static)) -> Option<u8> {
    if let Some(exec) = cause.downcast_ref::<ecrgc_exec::ExecError>() {
        return Some(exec.exit_code());
    }
    if cause.is::<BadInput>()
        || matches!(cause.downcast_ref(), Some(PlanError::BadInput(_)))
        || cause.is::<ecrgc_config::ConfigError>()
        || cause.is::<ecrgc_manifest::ManifestError>()
    {
        return Some(2);
    }
    if let Some(review) = cause.downcast_ref::<ecrgc_review::ReviewError>() {
        return Some(review.exit_code());
    }
    if let Some(ecrgc_engine::EngineError::InvalidSql { .. }) = cause.downcast_ref() {
        return Some(2);
    }
    if let Some(
        ecrgc_store::StoreError::InvalidLocation { .. }
        | ecrgc_store::StoreError::InvalidShard { .. },
    ) = cause.downcast_ref()
    {
        return Some(2);
    }
    match cause.downcast_ref() {
        Some(ecrgc_collect::CollectError::Invalid(_))
        | Some(ecrgc_collect::CollectError::Store(
            ecrgc_store::StoreError::InvalidLocation { .. }
            | ecrgc_store::StoreError::InvalidShard { .. },
        )) => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_closed_stdout_is_quiet_even_under_context() {
        use std::io::{Error, ErrorKind};
        let closed = || Error::new(ErrorKind::BrokenPipe, StdoutClosed);
        assert!(is_stdout_closed(&anyhow::Error::new(closed())));
        assert!(is_stdout_closed(
            &anyhow::Error::new(closed())
                .context("writing the table")
                .context("ecrgc query")
        ));
        // A broken pipe elsewhere (a connection, a child process) is a failure.
        let elsewhere = anyhow::Error::new(Error::from(ErrorKind::BrokenPipe)).context("upload");
        assert!(!is_stdout_closed(&elsewhere));
        assert_eq!(exit_code(&elsewhere), 1);
        // The plan workflow's errors are judged by what they stand for.
        assert!(is_stdout_closed(
            &anyhow::Error::new(PlanError::from(closed())).context("ecrgc report")
        ));
        assert_eq!(exit_code(&PlanError::bad_input("no such run").into()), 2);
        let invalid = ecrgc_store::StoreError::InvalidLocation {
            location: "x".into(),
            reason: "y".into(),
        };
        assert_eq!(exit_code(&PlanError::from(invalid).into()), 2);
    }
}
