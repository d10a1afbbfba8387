//! Classifying an SDK error into what ecrgc does about it.

use std::error::Error as StdError;
use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an API call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The API asked us to slow down: retried with backoff.
    Throttled,
    /// A 5xx, a timeout or a broken connection: retried with backoff.
    Transient,
    /// The role may not call the API (or the role could not be assumed).
    Denied,
    /// The service is not enabled or not set up there (Inspector off, no aggregator).
    Disabled,
    /// Anything else: a bad request, a missing resource.
    Other,
}

impl FailureKind {
    /// Whether the call is worth repeating.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient)
    }

    /// The `collection_coverage.status` this failure records.
    pub fn coverage_status(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::Disabled => "disabled",
            Self::Throttled | Self::Transient | Self::Other => "error",
        }
    }
}

/// A classified failure of one API call, with its error code and the full message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure it is.
    pub kind: FailureKind,
    /// The AWS error code, when the service sent one.
    pub code: Option<String>,
    /// The error with its whole source chain.
    pub message: String,
}

impl Failure {
    /// A failure ecrgc itself detected (a malformed response, say).
    pub fn other(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Other,
            code: None,
            message: message.into(),
        }
    }

    /// Prefixes the message with what was being done, e.g. the operation and resource.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Failure {}

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "BandwidthLimitExceeded",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

const TRANSIENT_CODES: &[&str] = &[
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "InternalServerException",
    "InternalException",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServiceException",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
];

const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "AuthorizationError",
    "AuthorizationErrorException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "AccessDeniedForDependencyException",
    "AWSOrganizationsNotInUseException",
];

const DISABLED_CODES: &[&str] = &[
    "NoSuchConfigurationAggregatorException",
    "SubscriptionRequiredException",
    "OptInRequired",
];

/// Phrases services use when a feature is simply not switched on in the account (Inspector
/// answers AccessDenied or ValidationException with such a message when it is not enabled).
const DISABLED_PHRASES: &[&str] = &[
    "not enabled",
    "not activated",
    "is disabled",
    "not subscribed",
];

/// Classifies an SDK error.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let message = DisplayErrorContext(err).to_string();
    let code = err.code().map(str::to_owned);
    let kind = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            FailureKind::Transient
        }
        SdkError::ConstructionFailure(_) => FailureKind::Other,
        _ => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            kind_of(code.as_deref(), err.message(), status)
        }
    };
    Failure {
        kind,
        code,
        message,
    }
}

/// Classifies from the error code, message and HTTP status.
pub(crate) fn kind_of(
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
) -> FailureKind {
    let lower = message.unwrap_or_default().to_ascii_lowercase();
    match code {
        Some(c) if THROTTLING_CODES.contains(&c) => return FailureKind::Throttled,
        Some(c) if TRANSIENT_CODES.contains(&c) => return FailureKind::Transient,
        Some(c) if DISABLED_CODES.contains(&c) => return FailureKind::Disabled,
        Some(c) if DENIED_CODES.contains(&c) || c.starts_with("AccessDenied") => {
            return if DISABLED_PHRASES.iter().any(|p| lower.contains(p)) {
                FailureKind::Disabled
            } else {
                FailureKind::Denied
            };
        }
        Some("ValidationException") if DISABLED_PHRASES.iter().any(|p| lower.contains(p)) => {
            return FailureKind::Disabled;
        }
        _ => {}
    }
    match status {
        Some(429) => FailureKind::Throttled,
        Some(403) => FailureKind::Denied,
        Some(s) if s >= 500 => FailureKind::Transient,
        _ => FailureKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_classify() {
        let k = |c: Option<&str>, m: Option<&str>, s: Option<u16>| kind_of(c, m, s);
        assert_eq!(
            k(Some("ThrottlingException"), None, Some(400)),
            FailureKind::Throttled
        );
        assert_eq!(
            k(Some("TooManyRequestsException"), None, Some(400)),
            FailureKind::Throttled
        );
        assert_eq!(k(None, None, Some(429)), FailureKind::Throttled);
        assert_eq!(
            k(Some("ServerException"), None, Some(500)),
            FailureKind::Transient
        );
        assert_eq!(k(None, None, Some(503)), FailureKind::Transient);
        assert_eq!(
            k(Some("AccessDeniedException"), Some("no"), Some(400)),
            FailureKind::Denied
        );
        assert_eq!(
            k(
                Some("AccessDeniedException"),
                Some("Amazon Inspector is not enabled"),
                Some(403)
            ),
            FailureKind::Disabled
        );
        assert_eq!(
            k(
                Some("NoSuchConfigurationAggregatorException"),
                None,
                Some(400)
            ),
            FailureKind::Disabled
        );
        assert_eq!(
            k(Some("RepositoryNotFoundException"), None, Some(400)),
            FailureKind::Other
        );
        assert_eq!(k(None, None, Some(403)), FailureKind::Denied);
    }

    #[test]
    fn only_throttling_and_transient_failures_are_retried() {
        assert!(FailureKind::Throttled.is_retryable());
        assert!(FailureKind::Transient.is_retryable());
        assert!(!FailureKind::Denied.is_retryable());
        assert_eq!(FailureKind::Transient.coverage_status(), "error");
        assert_eq!(FailureKind::Disabled.coverage_status(), "disabled");
    }
}
