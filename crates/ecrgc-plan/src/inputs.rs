//! What every plan kind starts from: the store, the chosen run, the configuration, the
//! instant, and where warnings go.

use crate::history::Chosen;
use crate::warn::Warn;

/// What every plan kind starts from.
pub struct PlanInputs<'a> {
    /// The store the run is read from and the plan recorded in.
    pub store: &'a ecrgc_store::Store,
    /// The run planned and its history window.
    pub chosen: &'a Chosen,
    /// The configuration.
    pub config: &'a ecrgc_config::Config,
    /// The instant planned for.
    pub now: ecrgc_model::time::Micros,
    /// Where warnings go.
    pub warn: Warn<'a>,
}
