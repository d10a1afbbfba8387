//! Standard output of both binaries.

use std::io::Write;

use crate::error::{ExecError, Result};

/// Writes `text` to stdout. A reader that went away (`| head`) is no failure of the apply:
/// the journal holds every result, and the exit status must still tell what the apply did.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(ExecError::Output(e)),
        _ => Ok(()),
    }
}
