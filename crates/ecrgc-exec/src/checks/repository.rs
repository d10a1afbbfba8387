//! The repository now: it still exists, carries the opt-in tag and not the exclude tag
//! (its tags now, under the configuration now).

use ecrgc_aws::{CallStats, Caller, Failure};
use ecrgc_config::TagSelector;

use crate::skip::SkipReason;

/// What the live repository allows, by its existence and its tags now.
pub(crate) enum RepositoryState {
    /// It exists, is opted in and is not excluded.
    Open,
    /// It no longer exists.
    Gone,
    /// Left alone: a `reason` and what was found.
    Closed(SkipReason, String),
}

/// DescribeRepositories, then ListTagsForResource: whether `repository` may be worked on
/// under the exclude and opt-in tags of the configuration.
pub(crate) async fn check_repository(
    caller: &Caller,
    stats: &CallStats,
    ecr: &aws_sdk_ecr::Client,
    (account, region, name): (&str, &str, &str),
    exclude: &TagSelector,
    opt_in: Option<&TagSelector>,
) -> RepositoryState {
    let failed =
        |f: Failure| RepositoryState::Closed(SkipReason::RepositoryCheckFailed, f.to_string());
    let described = caller
        .call(account, region, "ecr:DescribeRepositories", stats, || {
            ecr.describe_repositories()
                .registry_id(account)
                .repository_names(name)
                .send()
        })
        .await;
    let arn = match described {
        Ok(out) => out
            .repositories()
            .first()
            .and_then(|r| r.repository_arn())
            .map(str::to_owned),
        Err(f) if f.code.as_deref() == Some("RepositoryNotFoundException") => {
            return RepositoryState::Gone;
        }
        Err(f) => return failed(f),
    };
    let Some(arn) = arn else {
        return RepositoryState::Closed(
            SkipReason::RepositoryCheckFailed,
            "DescribeRepositories gave no ARN".into(),
        );
    };
    let tags: Vec<(String, String)> = match caller
        .call(account, region, "ecr:ListTagsForResource", stats, || {
            ecr.list_tags_for_resource().resource_arn(&arn).send()
        })
        .await
    {
        Ok(out) => out
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
        Err(f) => return failed(f),
    };
    let tagged = |s: &TagSelector| tags.iter().find(|(k, v)| s.matches(k, v));
    if let Some((k, v)) = tagged(exclude) {
        let why = format!("the repository is tagged {k}={v}");
        return RepositoryState::Closed(SkipReason::RepositoryExcluded, why);
    }
    if let Some(opt_in) = opt_in
        && tagged(opt_in).is_none()
    {
        let why = format!("the repository is not tagged {opt_in}");
        return RepositoryState::Closed(SkipReason::RepositoryNotOptedIn, why);
    }
    RepositoryState::Open
}
