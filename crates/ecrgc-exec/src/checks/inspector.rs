//! Inspector's usage of a repository's images now (ListCoverage): the uses, the last use
//! and the last pull it recorded, read again right before acting.

use std::collections::HashMap;

use aws_sdk_inspector2::types::{
    CoverageFilterCriteria, CoverageStringComparison, CoverageStringFilter,
};
use ecrgc_aws::{AccountSession, CallStats, Caller, Failure};
use ecrgc_model::time::Micros;

use crate::checks::references::RepositoryKey;
use crate::timestamp::micros;

/// Inspector's view of one image now.
#[derive(Debug, Clone, Default)]
pub(crate) struct Usage {
    pub(crate) last_in_use_at: Option<Micros>,
    pub(crate) in_use_count: i64,
    pub(crate) pulled_at: Option<Micros>,
}

/// Inspector's coverage of every image of the repository `key`, now, by digest.
pub(crate) async fn inspector_usage(
    caller: &Caller,
    stats: &CallStats,
    session: &AccountSession,
    key: &RepositoryKey,
) -> Result<HashMap<String, Usage>, Failure> {
    let RepositoryKey {
        account_id: account,
        region,
        repository_name: name,
    } = key;
    let inspector = session.inspector(region);
    let equals = |value: &str| {
        CoverageStringFilter::builder()
            .comparison(CoverageStringComparison::Equals)
            .value(value)
            .build()
            .map_err(|e| Failure::other(e.to_string()))
    };
    let criteria = CoverageFilterCriteria::builder()
        .resource_type(equals("AWS_ECR_CONTAINER_IMAGE")?)
        .account_id(equals(account)?)
        .ecr_repository_name(equals(name)?)
        .build();
    let resources = caller
        .paginate(account, region, "inspector2:ListCoverage", stats, |token| {
            let call = inspector
                .list_coverage()
                .filter_criteria(criteria.clone())
                .max_results(200)
                .set_next_token(token);
            async move {
                call.send().await.map(|o| {
                    (
                        o.covered_resources().to_vec(),
                        o.next_token().map(str::to_owned),
                    )
                })
            }
        })
        .await?;
    let mut usage = HashMap::new();
    for r in resources {
        let Some(digest) = r
            .resource_id()
            .rsplit('/')
            .next()
            .filter(|d| d.starts_with("sha256:"))
        else {
            continue;
        };
        let image = r.resource_metadata().and_then(|m| m.ecr_image());
        usage.insert(
            digest.to_owned(),
            Usage {
                last_in_use_at: image.and_then(|i| i.last_in_use_at()).map(micros),
                in_use_count: image.and_then(|i| i.in_use_count()).unwrap_or(0),
                pulled_at: image.and_then(|i| i.image_pulled_at()).map(micros),
            },
        );
    }
    Ok(usage)
}
