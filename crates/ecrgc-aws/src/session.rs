//! The SDK configuration, the caller's identity and one session per account.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::call::{CallStats, Caller};
use crate::failure::{Failure, FailureKind};
use crate::pages::TokenGuard;
use crate::{AwsError, Result};

/// Region used for the global APIs (STS, Organizations) when none is configured.
const GLOBAL_REGION: &str = "us-east-1";

/// An account of the organization, as Organizations lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    /// The 12-digit account id.
    pub id: String,
    /// The account's name.
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`.
    pub status: String,
    /// The organization (`o-…`), read from the account's ARN
    /// (`arn:PARTITION:organizations::MANAGEMENT:account/o-…/ACCOUNT`).
    pub organization_id: Option<String>,
}

/// The base SDK configuration and the caller's identity.
#[derive(Clone)]
pub struct Aws {
    base: SdkConfig,
    caller: Caller,
    caller_account: String,
    caller_arn: String,
}

impl Aws {
    /// Loads the configuration from the standard chain and asks STS who the caller is.
    ///
    /// `home_region` is used for STS and Organizations when the environment names no region.
    pub async fn load(caller: Caller, home_region: Option<&str>) -> Result<Self> {
        // Retries are ecrgc's own (see `call`); the SDK makes one attempt per call.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(Region::new(home_region.unwrap_or(GLOBAL_REGION).to_owned()));
        }
        let base = loader.load().await;
        let sts = aws_sdk_sts::Client::new(&base);
        let stats = CallStats::default();
        let region = region_name(&base);
        let identity = caller
            .call("self", &region, "sts:GetCallerIdentity", &stats, || {
                sts.get_caller_identity().send()
            })
            .await
            .map_err(AwsError::Identity)?;
        let caller_account = identity
            .account()
            .ok_or_else(|| {
                AwsError::Identity(Failure::other("GetCallerIdentity returned no account"))
            })?
            .to_owned();
        let caller_arn = identity.arn().unwrap_or_default().to_owned();
        Ok(Self {
            base,
            caller,
            caller_account,
            caller_arn,
        })
    }

    /// The account the credentials belong to.
    pub fn caller_account(&self) -> &str {
        &self.caller_account
    }

    /// The caller's identity as STS names it (`arn:aws:sts::…:assumed-role/…`, `…:user/…`).
    pub fn caller_arn(&self) -> &str {
        &self.caller_arn
    }

    /// The shared call gate.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The SDK configuration the caller's own credentials give.
    pub fn base_config(&self) -> &SdkConfig {
        &self.base
    }

    /// Lists the ACTIVE accounts of the organization, all pages.
    pub async fn organization_accounts(&self) -> Result<Vec<OrgAccount>> {
        let org = aws_sdk_organizations::Client::new(&self.base);
        let stats = CallStats::default();
        let region = region_name(&self.base);
        let mut accounts = Vec::new();
        let mut token: Option<String> = None;
        let mut guard = TokenGuard::new("organizations:ListAccounts");
        loop {
            let page = self
                .caller
                .call(
                    &self.caller_account,
                    &region,
                    "organizations:ListAccounts",
                    &stats,
                    || org.list_accounts().set_next_token(token.clone()).send(),
                )
                .await
                .map_err(AwsError::Organizations)?;
            for a in page.accounts() {
                let Some(id) = a.id() else { continue };
                let status = a
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default();
                accounts.push(OrgAccount {
                    id: id.to_owned(),
                    name: a.name().unwrap_or_default().to_owned(),
                    status,
                    organization_id: a.arn().and_then(organization_of_arn),
                });
            }
            token = guard
                .next(page.next_token())
                .map_err(|e| AwsError::Organizations(e.into()))?;
            if token.is_none() {
                break;
            }
        }
        accounts.retain(|a| a.status == "ACTIVE");
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(accounts)
    }

    /// A session in `account`: the caller's own credentials there, `role_name` assumed
    /// everywhere else. The role is assumed once here, so an account whose role cannot be
    /// assumed fails before any of its sources is read.
    pub async fn account(&self, account: &str, role_name: &str) -> Result<AccountSession, Failure> {
        if account == self.caller_account {
            return Ok(AccountSession {
                account_id: account.to_owned(),
                principal_arn: self.caller_arn.clone(),
                config: self.base.clone(),
            });
        }
        let role_arn = format!(
            "arn:{}:iam::{account}:role/{role_name}",
            partition(&self.base)
        );
        let provider = AssumeRoleProvider::builder(role_arn.clone())
            .session_name("ecrgc")
            .configure(&self.base)
            .build()
            .await;
        let region = region_name(&self.base);
        // Credential providers are not SDK operations, so the retry loop is written out here.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match provider.provide_credentials().await {
                Ok(_) => break,
                Err(e) => {
                    let message =
                        aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
                    let throttled = message.contains("Throttl");
                    if throttled && attempt < 5 {
                        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                        continue;
                    }
                    let kind = if throttled {
                        FailureKind::Throttled
                    } else if message.contains("AccessDenied") || message.contains("not authorized")
                    {
                        FailureKind::Denied
                    } else {
                        FailureKind::Other
                    };
                    return Err(Failure {
                        kind,
                        code: None,
                        message: format!("sts:AssumeRole {role_arn} (from {region}): {message}"),
                    });
                }
            }
        }
        let config = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        Ok(AccountSession {
            account_id: account.to_owned(),
            principal_arn: role_arn,
            config,
        })
    }
}

fn region_name(config: &SdkConfig) -> String {
    config
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| GLOBAL_REGION.to_owned())
}

/// The ARN partition of the configured region (`aws`, `aws-cn`, `aws-us-gov`).
fn partition(config: &SdkConfig) -> &'static str {
    let region = config.region().map(|r| r.as_ref()).unwrap_or(GLOBAL_REGION);
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Credentials in one account, from which per-region clients are made.
#[derive(Clone)]
pub struct AccountSession {
    account_id: String,
    principal_arn: String,
    config: SdkConfig,
}

impl AccountSession {
    /// The account.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Who the calls of this session come from: the assumed role's ARN, or the caller's own
    /// identity in its own account.
    pub fn principal_arn(&self) -> &str {
        &self.principal_arn
    }

    /// The session's SDK configuration in `region`: for clients of services only one
    /// crate reads (the collector's workload sources), and for the credentials an EKS token
    /// is signed with.
    pub fn in_region(&self, region: &str) -> SdkConfig {
        self.config
            .to_builder()
            .region(Region::new(region.to_owned()))
            .build()
    }

    /// ECR in `region`.
    pub fn ecr(&self, region: &str) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.in_region(region))
    }

    /// Inspector2 in `region`.
    pub fn inspector(&self, region: &str) -> aws_sdk_inspector2::Client {
        aws_sdk_inspector2::Client::new(&self.in_region(region))
    }

    /// AWS Config in `region`.
    pub fn config_service(&self, region: &str) -> aws_sdk_config::Client {
        aws_sdk_config::Client::new(&self.in_region(region))
    }

    /// ECS in `region`.
    pub fn ecs(&self, region: &str) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.in_region(region))
    }

    /// Lambda in `region`.
    pub fn lambda(&self, region: &str) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.in_region(region))
    }
}

/// The organization id of an Organizations account ARN, `…:account/o-…/ACCOUNT`.
fn organization_of_arn(arn: &str) -> Option<String> {
    let resource = arn.rsplit(':').next()?;
    let mut parts = resource.split('/');
    (parts.next()? == "account")
        .then(|| parts.next())
        .flatten()
        .filter(|o| o.starts_with("o-"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::organization_of_arn;

    #[test]
    fn the_organization_is_read_from_an_account_arn() {
        assert_eq!(
            organization_of_arn(
                "arn:aws:organizations::111111111111:account/o-a1b2c3d4e5/222222222222"
            )
            .as_deref(),
            Some("o-a1b2c3d4e5")
        );
        assert_eq!(
            organization_of_arn("arn:aws:organizations::111111111111:root/o-a1b2c3d4e5/r-ab12"),
            None
        );
        assert_eq!(organization_of_arn("not an arn"), None);
    }
}
