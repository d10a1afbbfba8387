//! The bearer token of an EKS cluster's Kubernetes API, as `aws eks get-token` makes it.
//!
//! The token is `k8s-aws-v1.` followed by the unpadded base64url encoding of a presigned
//! STS `GetCallerIdentity` URL whose signature covers the header `x-k8s-aws-id: <cluster
//! name>`. The cluster's authenticator calls that URL to learn who the caller is and maps
//! the IAM principal to Kubernetes identities through the cluster's access entries (Amazon
//! EKS User Guide, "Grant IAM users access to Kubernetes with EKS access entries"; the token
//! format is the one of aws-iam-authenticator and `aws eks get-token`). The presigned URL
//! expires after 60 seconds (`X-Amz-Expires=60`, as `aws eks get-token` signs it); the
//! authenticator accepts a token for up to 15 minutes after its signing time, so a new token
//! is made for every kind a collector lists.
//!
//! Credentials are the collector role's session in the cluster's account; the regional STS
//! endpoint of the cluster's region is signed for (`sts.<region>.amazonaws.com`, with the
//! `.cn` suffix in the China regions).

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_types::SdkConfig;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ecrgc_aws::{Failure, FailureKind};

/// The header the signature binds the token to one cluster with.
pub(crate) const CLUSTER_HEADER: &str = "x-k8s-aws-id";
/// The token's prefix.
pub(crate) const PREFIX: &str = "k8s-aws-v1.";

/// A token for `cluster` in `region`, from `config`'s credentials, signed at `now`.
pub(crate) async fn eks_token(
    config: &SdkConfig,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<String, Failure> {
    let provider = config
        .credentials_provider()
        .ok_or_else(|| Failure::other("no credentials to sign an EKS token with"))?;
    let credentials = provider.provide_credentials().await.map_err(|e| Failure {
        kind: FailureKind::Denied,
        code: None,
        message: format!("no credentials to sign an EKS token with: {e}"),
    })?;
    presigned_token(credentials.into(), region, cluster, now)
}

/// The token of a presigned `GetCallerIdentity` URL signed with `identity`.
pub(crate) fn presigned_token(
    identity: aws_smithy_runtime_api::client::identity::Identity,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<String, Failure> {
    let suffix = if region.starts_with("cn-") { ".cn" } else { "" };
    let url = format!(
        "https://sts.{region}.amazonaws.com{suffix}/?Action=GetCallerIdentity&Version=2011-06-15"
    );
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| Failure::other(format!("cannot sign an EKS token: {e}")))?
        .into();
    let headers = [(CLUSTER_HEADER, cluster)];
    let signable = SignableRequest::new(
        "GET",
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| Failure::other(format!("cannot sign an EKS token: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| Failure::other(format!("cannot sign an EKS token: {e}")))?
        .into_parts();
    let mut request = http::Request::builder()
        .method("GET")
        .uri(&url)
        .header(CLUSTER_HEADER, cluster)
        .body(())
        .map_err(|e| Failure::other(format!("cannot sign an EKS token: {e}")))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(format!(
        "{PREFIX}{}",
        URL_SAFE_NO_PAD.encode(request.uri().to_string())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    #[test]
    fn the_token_is_a_presigned_get_caller_identity_bound_to_the_cluster() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session".into()),
            None,
            "test",
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = presigned_token(creds.into(), "eu-west-1", "prod", now).expect("token");
        let encoded = token.strip_prefix(PREFIX).expect("prefix");
        let url =
            String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).expect("base64url")).expect("utf-8");
        assert!(
            url.starts_with(
                "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
            ),
            "{url}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Feu-west-1%2Fsts%2Faws4_request",
            "X-Amz-Date=20231114T221320Z",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Security-Token=session",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{part} missing from {url}");
        }
        assert!(!encoded.contains('='), "unpadded");
    }
}
