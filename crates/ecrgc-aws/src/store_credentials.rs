//! Credentials for the S3 snapshot store from the same chain the collectors use.
//!
//! object_store reads only environment variables and instance/container credentials; users
//! of profiles and SSO would find `collect` working and the store refusing. This adapter
//! hands object_store whatever the AWS SDK's default chain resolves, cached until shortly
//! before it expires (object_store asks for a credential on every request).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::aws::{AwsCredential, AwsCredentialProvider};
use object_store::client::CredentialProvider;
use tokio::sync::Mutex;

/// Refresh this long before a credential expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// object_store credentials backed by an SDK credentials provider.
#[derive(Debug)]
pub struct StoreCredentials {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl StoreCredentials {
    /// Wraps an SDK provider as an object_store one.
    pub fn provider(provider: SharedCredentialsProvider) -> AwsCredentialProvider {
        Arc::new(Self {
            provider,
            cached: Mutex::new(None),
        })
    }
}

/// Opens a store: a local path as is, `s3://` with the default chain's credentials and
/// region (profiles, SSO, web identity, containers, instances), not object_store's
/// environment-only chain.
pub async fn open_store(location: &str) -> Result<ecrgc_store::Store, ecrgc_store::StoreError> {
    if !location.starts_with("s3://") {
        return ecrgc_store::Store::open(location);
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let credentials = sdk.credentials_provider().map(StoreCredentials::provider);
    let region = sdk.region().map(|r| r.as_ref().to_owned());
    ecrgc_store::Store::open_with(location, credentials, region.as_deref())
}

#[async_trait::async_trait]
impl CredentialProvider for StoreCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some((credential, expiry)) = cached.as_ref()
            && expiry.is_none_or(|e| e > SystemTime::now() + REFRESH_MARGIN)
        {
            return Ok(credential.clone());
        }
        let c = self.provider.provide_credentials().await.map_err(|e| {
            object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            }
        })?;
        let credential = Arc::new(AwsCredential {
            key_id: c.access_key_id().to_owned(),
            secret_key: c.secret_access_key().to_owned(),
            token: c.session_token().map(str::to_owned),
        });
        *cached = Some((credential.clone(), c.expiry()));
        Ok(credential)
    }
}
