//! Warnings for the person running a command: the workflow hands them over, the CLI prints
//! them on stderr.

/// Where warnings go.
pub type Warn<'a> = &'a dyn Fn(String);
