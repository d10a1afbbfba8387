//! Integration tests of the `ecrgc` binary, one test binary with a module per area.

mod apply;
mod cli;
mod collect;
mod common;
mod concurrency;
mod differential;
mod ecs_pins;
mod layers;
mod lifecycle;
mod live_recheck;
mod memory;
mod readonly;
mod replication;
mod report;
mod review;
mod scope;
mod workloads;
