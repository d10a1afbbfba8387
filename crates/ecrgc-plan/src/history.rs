//! Which committed run a plan reads, and the runs of its history window.

use ecrgc_config::Config;
use ecrgc_model::time::{DAY, MAX_CLOCK_SKEW_SECONDS, Micros};
use ecrgc_store::{RunMarker, Store};

use crate::error::{PlanError, Result};
use crate::warn::Warn;

/// The `origin` of the runs `ecrgc demo` writes.
pub const DEMO_ORIGIN: &str = "demo";

/// A committed run to plan, and the runs of its history window (oldest first, the run
/// itself last).
pub struct Chosen {
    /// The run planned.
    pub run: RunMarker,
    /// The runs of its history window (`rules.history_days`), the run itself last.
    pub history: Vec<RunMarker>,
}

impl Chosen {
    /// Picks `run` (default: the latest) among the store's committed runs, listed once.
    pub async fn pick(
        store: &Store,
        run: Option<&str>,
        config: &Config,
        warn: Warn<'_>,
    ) -> Result<Self> {
        Self::pick_among(store, store.committed_runs().await?, run, config, warn)
    }

    /// Picks `run` among runs already listed. Without `run`, the latest is chosen among the
    /// runs whose snapshot time is not in the future of the machine's clock (beyond
    /// [`MAX_CLOCK_SKEW_SECONDS`]; the others are ignored with a warning, so a run made with
    /// a wrong `--now` cannot stay "latest" for good), and among collected runs when the
    /// store holds any: a demo run never becomes the latest run of a store with collected
    /// runs, nor part of their history.
    pub fn pick_among(
        store: &Store,
        all: Vec<RunMarker>,
        run: Option<&str>,
        config: &Config,
        warn: Warn<'_>,
    ) -> Result<Self> {
        let all = match run {
            Some(_) => all,
            None => current_runs(all, chrono::Utc::now().timestamp_micros(), warn),
        };
        let found = match run {
            Some(id) => all.iter().find(|r| r.run_id == id).cloned(),
            None => all.last().cloned(),
        };
        let chosen = match (found, run) {
            (Some(r), _) => r,
            (None, Some(id)) => {
                return Err(PlanError::bad_input(format!(
                    "no committed run {id:?} in {}",
                    store.display()
                )));
            }
            (None, None) => {
                return Err(PlanError::NoRun {
                    store: store.display().to_owned(),
                });
            }
        };
        let window_start = ecrgc_model::time::before(
            chosen.snapshot_time_micros,
            i64::from(config.rules.history_days),
            DAY,
        );
        let demo = chosen.origin == DEMO_ORIGIN;
        let history = all
            .into_iter()
            .filter(|r| {
                r.snapshot_time_micros >= window_start
                    && r.snapshot_time_micros <= chosen.snapshot_time_micros
                    && (demo || r.origin != DEMO_ORIGIN)
            })
            .collect();
        Ok(Self {
            run: chosen,
            history,
        })
    }
}

/// The runs a plan may choose as the latest, oldest first: those whose snapshot time is at
/// most [`MAX_CLOCK_SKEW_SECONDS`] ahead of `real_now` (the others are named in a warning),
/// and only the collected ones when there are any.
fn current_runs(all: Vec<RunMarker>, real_now: Micros, warn: Warn<'_>) -> Vec<RunMarker> {
    let limit = real_now.saturating_add(MAX_CLOCK_SKEW_SECONDS * 1_000_000);
    let (current, future): (Vec<RunMarker>, Vec<RunMarker>) = all
        .into_iter()
        .partition(|r| r.snapshot_time_micros <= limit);
    for r in &future {
        warn(format!(
            "ignoring run {} ({}): its snapshot time {} is in the future of this \
             machine's clock ({}, {MAX_CLOCK_SKEW_SECONDS} s of skew allowed); plan it with \
             --run {} if that is really meant",
            r.run_id,
            r.origin,
            r.snapshot_time,
            ecrgc_model::time::rfc3339(real_now),
            r.run_id
        ));
    }
    if current.iter().any(|r| r.origin != DEMO_ORIGIN) {
        current
            .into_iter()
            .filter(|r| r.origin != DEMO_ORIGIN)
            .collect()
    } else {
        current
    }
}
