//! The readings of every account × region, kept until older than `[apply]
//! reference_max_age_seconds` and then read again (see [`crate::checks::references`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Mutex;

use crate::checks::references::found::{Found, Reference, RepositoryKey};

/// Reads the references of one account × region.
pub trait Reader: Send + Sync {
    /// Every reference in `account`/`region`, or the failures that kept some unread.
    fn read(&self, account: &str, region: &str) -> impl Future<Output = Found> + Send;
}

/// One account × region's reading and the instant it started.
#[derive(Debug)]
pub(super) struct Reading {
    pub(super) found: Found,
    pub(super) read_at: Instant,
}

/// The readings of every account × region, each re-read when older than the maximum age.
pub struct Cache<R> {
    pub(super) reader: R,
    places: Vec<(String, String)>,
    max_age: Duration,
    parallel: usize,
    readings: Mutex<HashMap<(String, String), Arc<Reading>>>,
}

/// The readings a batch is judged on.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub(super) readings: Vec<Arc<Reading>>,
}

impl View {
    /// The first reference naming the image, in any account and region.
    pub fn matching(
        &self,
        repo: &RepositoryKey,
        digest: &str,
        tags: &[&str],
    ) -> Option<&Reference> {
        self.readings
            .iter()
            .find_map(|r| r.found.matching(repo, digest, tags))
    }

    /// Why nothing may be deleted on this view: the sources that could not be read.
    pub fn blocked(&self) -> Option<String> {
        let mut failures: Vec<&str> = self
            .readings
            .iter()
            .flat_map(|r| r.found.failures.iter().map(String::as_str))
            .collect();
        failures.sort_unstable();
        (!failures.is_empty()).then(|| {
            format!(
                "the live references could not be read: {}",
                failures.join("; ")
            )
        })
    }

    /// Workload resources examined by the readings.
    pub fn examined(&self) -> u64 {
        self.readings.iter().map(|r| r.found.examined).sum()
    }
}

impl<R: Reader> Cache<R> {
    /// Readings of `places` (account, region) by `reader`, `parallel` at once, each re-read
    /// when older than `max_age`. Nothing is read before the first view.
    pub fn new(
        reader: R,
        places: Vec<(String, String)>,
        max_age: Duration,
        parallel: usize,
    ) -> Self {
        Self {
            reader,
            places,
            max_age,
            parallel: parallel.max(1),
            readings: Mutex::new(HashMap::new()),
        }
    }

    /// Every place's reading, none older than the maximum age now.
    pub async fn view(&self) -> View {
        self.view_at(Instant::now()).await
    }

    /// [`Cache::view`] at the instant `now`: the places never read, or read more than the
    /// maximum age before `now`, are read (again) first.
    pub(crate) async fn view_at(&self, now: Instant) -> View {
        let mut readings = self.readings.lock().await;
        let stale: Vec<(String, String)> = self
            .places
            .iter()
            .filter(|p| {
                readings
                    .get(*p)
                    .is_none_or(|r| now.saturating_duration_since(r.read_at) > self.max_age)
            })
            .cloned()
            .collect();
        let fresh: Vec<((String, String), Found)> = futures::stream::iter(stale)
            .map(|(account, region)| async move {
                let found = self.reader.read(&account, &region).await;
                ((account, region), found)
            })
            .buffer_unordered(self.parallel)
            .collect()
            .await;
        for (place, found) in fresh {
            readings.insert(
                place,
                Arc::new(Reading {
                    found,
                    read_at: now,
                }),
            );
        }
        View {
            readings: self
                .places
                .iter()
                .filter_map(|p| readings.get(p).cloned())
                .collect(),
        }
    }
}
