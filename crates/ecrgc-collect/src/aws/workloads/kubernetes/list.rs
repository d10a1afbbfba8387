//! Listing one kind of a cluster: every page, with retries of transient failures and the
//! failure classified like an AWS call's.
//!
//! A list request asks for at most [`PAGE`] objects and follows `metadata.continue` until the
//! server hands out none (Kubernetes API concepts, "Retrieving large results sets in
//! chunks"); the continuation tokens go through a [`TokenGuard`] like every AWS listing. A
//! `410 Gone` (the continue token expired) restarts nothing: it fails the kind, and with it
//! the unit's coverage, like any other failure that is not retried.
//!
//! Retried (up to [`ATTEMPTS`] attempts, backing off): `429`, `5xx` and failures to connect
//! or read. `401` and `403` (the token refused; RBAC denies the kind) are `denied`; anything
//! else is an error.

use std::fmt::Debug;
use std::time::Duration;

use ecrgc_aws::pages::TokenGuard;
use ecrgc_aws::{CallStats, Failure, FailureKind};
use k8s_openapi::NamespaceResourceScope;
use kube::api::ListParams;
use serde::de::DeserializeOwned;

/// Objects asked for per page.
pub(crate) const PAGE: u32 = 500;
/// Attempts of one request, the first included.
pub(crate) const ATTEMPTS: u32 = 4;

/// Every object of kind `K` in every namespace of the cluster `client` reaches.
pub(crate) async fn list_all<K>(
    client: kube::Client,
    stats: &CallStats,
    totals: &CallStats,
) -> Result<Vec<K>, Failure>
where
    K: kube::Resource<Scope = NamespaceResourceScope>
        + super::objects::Kind
        + Clone
        + DeserializeOwned
        + Debug,
    K::DynamicType: Default,
{
    let api: kube::Api<K> = kube::Api::all(client);
    let mut guard = TokenGuard::new(format!("kubernetes:list {}", K::PLURAL));
    let mut token: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let mut params = ListParams::default().limit(PAGE);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let mut attempt = 0;
        let page = loop {
            stats.count_request(attempt > 0);
            totals.count_request(attempt > 0);
            match api.list(&params).await {
                Ok(page) => break page,
                Err(e) => {
                    let failure = classify(&e).context(format!("list {}", K::PLURAL));
                    attempt += 1;
                    if !failure.kind.is_retryable() || attempt >= ATTEMPTS {
                        return Err(failure);
                    }
                    tokio::time::sleep(Duration::from_millis(200 << (2 * attempt))).await;
                }
            }
        };
        out.extend(page.items);
        let next = page.metadata.continue_.filter(|c| !c.is_empty());
        token = guard.next(next.as_deref())?;
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The failure a Kubernetes client error records.
pub(crate) fn classify(e: &kube::Error) -> Failure {
    let (kind, code) = match e {
        kube::Error::Api(status) => {
            let kind = match status.code {
                401 | 403 => FailureKind::Denied,
                429 => FailureKind::Throttled,
                c if c >= 500 => FailureKind::Transient,
                _ => FailureKind::Other,
            };
            let code = (!status.reason.is_empty()).then(|| status.reason.clone());
            (kind, code.or_else(|| Some(status.code.to_string())))
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => (FailureKind::Transient, None),
        _ => (FailureKind::Other, None),
    };
    Failure {
        kind,
        code,
        message: error_chain(e),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}
