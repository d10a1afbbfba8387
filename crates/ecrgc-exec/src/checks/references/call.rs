//! One reading's place, counters and fan-out: every call of a reading goes through the
//! shared [`Caller`] (per account, region and API caps, backoff on throttling).

use std::future::Future;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ecrgc_aws::{CallStats, Caller, Failure};

/// One reading's place and counters.
pub(super) struct Cx<'a> {
    pub(super) caller: &'a Caller,
    pub(super) account: &'a str,
    pub(super) region: &'a str,
    pub(super) stats: &'a CallStats,
    /// Describe calls in flight at once.
    pub(super) fan_out: usize,
}

impl Cx<'_> {
    pub(super) async fn call<T, E, F, Fut>(&self, api: &str, f: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.caller
            .call(self.account, self.region, api, self.stats, f)
            .await
    }

    pub(super) async fn paginate<T, E, F, Fut>(&self, api: &str, page: F) -> Result<Vec<T>, Failure>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, Option<String>), SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.caller
            .paginate(self.account, self.region, api, self.stats, page)
            .await
    }
}
