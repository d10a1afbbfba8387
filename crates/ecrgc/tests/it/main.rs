//! Integration tests of the `ecrgc` binary, one test binary with a module per area.

mod apply;
mod cli;
mod collect;
mod differential;
mod layers;
mod lifecycle;
mod report;
mod scope;
