//! The plan workflow: everything between a committed run in the store and the files a
//! person reviews, without a command line.
//!
//! * [`history`]: which committed run is planned (the latest current one, or a named one)
//!   and the runs of its history window.
//! * [`session`]: a DataFusion session over the run and its history, with the params and
//!   the rules and guards installed; the stored totals of earlier plans for the trend.
//! * [`header`]: what a plan says about itself (what-if reasons, the bound configuration,
//!   the planner's identity).
//! * [`record`]: running the decision step, writing the plan's files and recording the plan
//!   and its `plan_totals` in the store.
//! * [`explain`]: why one image is kept or flagged.
//! * [`report`]: the FinOps report of a plan folder.
//! * [`lifecycle`]: the facts `lifecycle suggest` derives policies from, and the lifecycle
//!   plan it writes.
//! * [`output`]: where a command's result goes (standard output, or a file that appears
//!   whole) and the tabular formats.
//!
//! The `ecrgc` binary parses arguments, shows progress and maps [`PlanError`] to an exit
//! status; what it prints comes from here.

pub mod error;
pub mod explain;
pub mod header;
pub mod history;
pub mod inputs;
pub mod lifecycle;
pub mod output;
pub mod record;
pub mod report;
pub mod session;
pub mod warn;

pub use error::{PlanError, Result};
pub use header::{Provenance, plan_header};
pub use history::Chosen;
pub use inputs::PlanInputs;
pub use session::prepare_session;
pub use warn::Warn;
