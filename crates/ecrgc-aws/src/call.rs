//! One retry loop for every AWS API call.
//!
//! Each API of each account × region (say `ecr:DescribeImages` in 111111111111/eu-west-1) has
//! a gate: a semaphore capping how many calls are in flight, and a pause that a throttled
//! call sets for everyone. AWS rate limits are per account, region and API, so that is the
//! unit the gates are kept at; different accounts never slow each other down.

use std::collections::{BTreeMap, HashMap};
use std::error::Error as StdError;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::failure::{Failure, FailureKind, classify};
use crate::pages::TokenGuard;

/// How often and how patiently a failing call is repeated.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySettings {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles with every further attempt.
    pub initial_backoff: Duration,
    /// Upper bound of one backoff.
    pub max_backoff: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(20),
        }
    }
}

/// Calls in flight per API of one account × region.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiLimits {
    /// Cap for APIs not listed.
    pub default: usize,
    /// Caps by service (`ecr`) or by API (`ecr:DescribeImages`); the API entry wins.
    pub overrides: BTreeMap<String, usize>,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            default: 4,
            overrides: BTreeMap::new(),
        }
    }
}

impl ApiLimits {
    fn cap(&self, api: &str) -> usize {
        let service = api.split(':').next().unwrap_or(api);
        self.overrides
            .get(api)
            .or_else(|| self.overrides.get(service))
            .copied()
            .unwrap_or(self.default)
            .max(1)
    }
}

/// Call counters, kept per unit of work (for the coverage table) and in total (for the
/// progress display).
#[derive(Debug, Default)]
pub struct CallStats {
    calls: AtomicU64,
    throttles: AtomicU64,
    retries: AtomicU64,
}

impl CallStats {
    /// API calls sent, retries included.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    /// Throttling answers received.
    pub fn throttles(&self) -> u64 {
        self.throttles.load(Ordering::Relaxed)
    }
    /// Attempts repeated after a throttle or transient error.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    /// Counts one request sent outside [`Caller::call`] (a Kubernetes API request), and
    /// whether it was a retry.
    pub fn count_request(&self, retry: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if retry {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Gate {
    in_flight: Semaphore,
    paused_until: Mutex<Option<Instant>>,
}

impl Gate {
    async fn wait_out_pause(&self) {
        loop {
            let until = *self.paused_until.lock().expect("pause lock");
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    fn pause(&self, for_: Duration) {
        let until = Instant::now() + for_;
        let mut p = self.paused_until.lock().expect("pause lock");
        if p.is_none_or(|t| t < until) {
            *p = Some(until);
        }
    }
}

struct Inner {
    retry: RetrySettings,
    limits: ApiLimits,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    totals: CallStats,
    jitter: AtomicU64,
}

/// Makes API calls through the gates, with retries; cheap to clone and share.
#[derive(Clone)]
pub struct Caller {
    inner: Arc<Inner>,
}

impl Caller {
    /// A caller from a configuration section's keys (`[collect]`, `[apply]`): attempts,
    /// backoffs in milliseconds, the default concurrency cap and the caps by service or API.
    pub fn from_keys(
        max_attempts: u32,
        (initial_backoff_ms, max_backoff_ms): (u64, u64),
        concurrency: u32,
        overrides: &BTreeMap<String, u32>,
    ) -> Self {
        Self::new(
            RetrySettings {
                max_attempts,
                initial_backoff: Duration::from_millis(initial_backoff_ms),
                max_backoff: Duration::from_millis(max_backoff_ms),
            },
            ApiLimits {
                default: concurrency as usize,
                overrides: overrides
                    .iter()
                    .map(|(k, v)| (k.clone(), *v as usize))
                    .collect(),
            },
        )
    }

    /// A caller with these retry settings and concurrency caps.
    pub fn new(retry: RetrySettings, limits: ApiLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                retry,
                limits,
                gates: Mutex::new(HashMap::new()),
                totals: CallStats::default(),
                jitter: AtomicU64::new(0x2545_F491_4F6C_DD1D),
            }),
        }
    }

    /// Counters over every call this caller made.
    pub fn totals(&self) -> &CallStats {
        &self.inner.totals
    }

    fn gate(&self, account: &str, region: &str, api: &str) -> Arc<Gate> {
        let key = format!("{account}/{region}/{api}");
        let mut gates = self.inner.gates.lock().expect("gates lock");
        gates
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Gate {
                    in_flight: Semaphore::new(self.inner.limits.cap(api)),
                    paused_until: Mutex::new(None),
                })
            })
            .clone()
    }

    /// Full-jitter exponential backoff: uniform in `[0, min(max, initial × 2^(n-1))]`, at
    /// least a millisecond.
    fn backoff(&self, attempt: u32) -> Duration {
        let r = &self.inner.retry;
        let ceiling = r
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(r.max_backoff);
        let x = self
            .inner
            .jitter
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let mut z = x ^ (x >> 30);
        z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z ^= z >> 27;
        let fraction = (z >> 11) as f64 / (1u64 << 53) as f64;
        ceiling.mul_f64(fraction).max(Duration::from_millis(1))
    }

    /// Calls `f` (one API request) for `api` in `account`/`region`, repeating it on
    /// throttling and transient errors; `stats` counts the attempts of the unit of work.
    pub async fn call<T, E, F, Fut>(
        &self,
        account: &str,
        region: &str,
        api: &str,
        stats: &CallStats,
        mut f: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let gate = self.gate(account, region, api);
        let totals = &self.inner.totals;
        let mut attempt = 0;
        loop {
            attempt += 1;
            gate.wait_out_pause().await;
            let result = {
                let _permit = gate.in_flight.acquire().await.expect("gate never closes");
                stats.calls.fetch_add(1, Ordering::Relaxed);
                totals.calls.fetch_add(1, Ordering::Relaxed);
                f().await
            };
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let failure = classify(&err);
            if failure.kind == FailureKind::Throttled {
                stats.throttles.fetch_add(1, Ordering::Relaxed);
                totals.throttles.fetch_add(1, Ordering::Relaxed);
            }
            if !failure.kind.is_retryable() || attempt >= self.inner.retry.max_attempts {
                let failure = if attempt > 1 {
                    failure.context(format!("{api} after {attempt} attempts"))
                } else {
                    failure.context(api)
                };
                return Err(failure);
            }
            let wait = self.backoff(attempt);
            if failure.kind == FailureKind::Throttled {
                // Everyone calling this API here waits too: the limit is shared.
                gate.pause(wait);
            }
            stats.retries.fetch_add(1, Ordering::Relaxed);
            totals.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// Every page of a listing: `page(token)` makes one request and returns its items and
    /// the next token. Each page goes through [`Caller::call`]; a [`TokenGuard`] ends a
    /// listing whose token repeats or that passes the page cap with a failure.
    pub async fn paginate<T, E, F, Fut>(
        &self,
        account: &str,
        region: &str,
        api: &str,
        stats: &CallStats,
        mut page: F,
    ) -> Result<Vec<T>, Failure>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, Option<String>), SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut guard = TokenGuard::new(api);
        loop {
            let (items, next) = self
                .call(account, region, api, stats, || page(token.clone()))
                .await?;
            out.extend(items);
            token = guard.next(next.as_deref())?;
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_caps_prefer_the_api_over_its_service() {
        let limits = ApiLimits {
            default: 3,
            overrides: BTreeMap::from([("ecr".into(), 5), ("ecr:BatchGetImage".into(), 1)]),
        };
        assert_eq!(limits.cap("ecr:BatchGetImage"), 1);
        assert_eq!(limits.cap("ecr:DescribeImages"), 5);
        assert_eq!(limits.cap("ecs:ListTasks"), 3);
    }

    #[test]
    fn backoff_grows_but_stays_under_the_cap() {
        let caller = Caller::new(
            RetrySettings {
                max_attempts: 5,
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(1000),
            },
            ApiLimits::default(),
        );
        for attempt in 1..30 {
            let ceiling = Duration::from_millis(100 * (1 << (attempt - 1).min(20)))
                .min(Duration::from_millis(1000));
            for _ in 0..20 {
                let b = caller.backoff(attempt);
                assert!(
                    b <= ceiling && b >= Duration::from_millis(1),
                    "{attempt}: {b:?}"
                );
            }
        }
    }
}
