//! Exit statuses: which failures are the user's input (2) and which are ecrgc's or the
//! environment's (1). An apply's statuses, 3 included, are the executor's
//! ([`ecrgc_exec::status`]).

/// An error caused by the command line or an input file, reported with exit status 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Wraps an error as bad input.
pub fn bad_input(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(BadInput(e.to_string()))
}

/// Standard output was closed by its reader before everything was written.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed by its reader")
    }
}

impl std::error::Error for StdoutClosed {}

/// Whether `e` is only that standard output's reader went away (`… | head -1`): it read
/// what it wanted, so like `cat`, ripgrep or uv ecrgc stops quietly with exit status 0.
/// Only a write through [`crate::output::stdout`] carries the mark; the chain is searched
/// because the I/O error may be wrapped in context.
pub fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<StdoutClosed>()
            || cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

/// The exit status of an error.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(exec) = cause.downcast_ref::<ecrgc_exec::ExecError>() {
            return exec.exit_code();
        }
        if cause.is::<BadInput>()
            || cause.is::<ecrgc_config::ConfigError>()
            || cause.is::<ecrgc_manifest::ManifestError>()
        {
            return 2;
        }
        if let Some(review) = cause.downcast_ref::<ecrgc_review::ReviewError>() {
            return review.exit_code();
        }
        if let Some(ecrgc_engine::EngineError::InvalidSql { .. }) = cause.downcast_ref() {
            return 2;
        }
        if let Some(
            ecrgc_store::StoreError::InvalidLocation { .. }
            | ecrgc_store::StoreError::InvalidShard { .. },
        ) = cause.downcast_ref()
        {
            return 2;
        }
        match cause.downcast_ref() {
            Some(ecrgc_collect::CollectError::Invalid(_))
            | Some(ecrgc_collect::CollectError::Store(
                ecrgc_store::StoreError::InvalidLocation { .. }
                | ecrgc_store::StoreError::InvalidShard { .. },
            )) => return 2,
            _ => {}
        }
    }
    1
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
    }
}
