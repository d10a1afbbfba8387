//! The settings of one registry account and region that shape its repositories beyond their
//! own inventory, read inside the ECR unit as two coverage units of their own:
//!
//! * `ecr_replication`: the replication rules (DescribeRegistry) into `replication_rules`.
//!   Delete replication links a source image to its replicas (see
//!   [`ecrgc_aws::replication`]), so the plan reads a registry whose rules could not be read
//!   as one whose deletions may reach anywhere: the `replica_kept` guard keeps its images.
//! * `ecr_settings`: pull through cache rules (DescribePullThroughCacheRules) and repository
//!   creation templates (DescribeRepositoryCreationTemplates) into `pull_through_cache_rules`
//!   and `repository_creation_templates`. They inform reports and lifecycle advice and never
//!   block a deletion, so a failure costs only those rows.

use aws_sdk_ecr::Client;
use ecrgc_aws::Failure;
use ecrgc_aws::replication::replication_rules;
use ecrgc_model::{PullThroughCacheRuleRow, ReplicationRuleRow, RepositoryCreationTemplateRow};

use super::unit::{SideUnit, Unit, micros, paginate};

/// Reads the registry settings of the unit's account and region; their outcomes join the
/// unit's extra coverage rows.
pub(crate) async fn collect(unit: &mut Unit, ecr: &Client) {
    let replication = SideUnit::new(unit, "ecr_replication");
    let outcome = match replication_rules(
        &replication.api.caller,
        &replication.api.account,
        &replication.api.region,
        &replication.api.stats,
        ecr,
    )
    .await
    {
        Ok(rules) => {
            let mut replication = replication;
            for (index, rule) in rules.iter().enumerate() {
                let filters: Vec<(Option<&str>, Option<&str>)> = if rule.filters.is_empty() {
                    vec![(None, None)]
                } else {
                    rule.filters
                        .iter()
                        .map(|(f, t)| (Some(f.as_str()), Some(t.as_str())))
                        .collect()
                };
                for (registry, region) in &rule.destinations {
                    for (filter, filter_type) in &filters {
                        unit.tables.replication_rules.append(ReplicationRuleRow {
                            account_id: &unit.api.account,
                            region: &unit.api.region,
                            rule_index: index as i64,
                            destination_account_id: registry,
                            destination_region: region,
                            repository_filter: *filter,
                            filter_type: *filter_type,
                            delete_replication: rule.delete_replication,
                        });
                        replication.items += 1;
                    }
                }
            }
            replication.outcome(None)
        }
        Err(f) => replication.outcome(Some(
            &f.context("replication rules not read, so a deletion here may replicate anywhere"),
        )),
    };
    unit.extra.push(outcome);

    let mut settings = SideUnit::new(unit, "ecr_settings");
    let failure = match settings_rows(unit, &settings, ecr).await {
        Ok(n) => {
            settings.items = n;
            None
        }
        Err(f) => Some(f),
    };
    unit.extra.push(settings.outcome(failure.as_ref()));
}

/// Pull through cache rules and creation templates; the rows are appended only when both
/// listings succeed, so a failed unit has none.
async fn settings_rows(unit: &mut Unit, side: &SideUnit, ecr: &Client) -> Result<u64, Failure> {
    let rules = paginate(&side.api, "ecr:DescribePullThroughCacheRules", |token| {
        let call = ecr
            .describe_pull_through_cache_rules()
            .max_results(1000)
            .set_next_token(token);
        async move {
            call.send().await.map(|o| {
                (
                    o.pull_through_cache_rules().to_vec(),
                    o.next_token().map(str::to_owned),
                )
            })
        }
    })
    .await?;
    let templates = paginate(
        &side.api,
        "ecr:DescribeRepositoryCreationTemplates",
        |token| {
            let call = ecr
                .describe_repository_creation_templates()
                .max_results(1000)
                .set_next_token(token);
            async move {
                call.send().await.map(|o| {
                    (
                        o.repository_creation_templates().to_vec(),
                        o.next_token().map(str::to_owned),
                    )
                })
            }
        },
    )
    .await?;
    let (account, region) = (&unit.api.account, &unit.api.region);
    let mut n = 0;
    for r in &rules {
        let (Some(prefix), Some(url)) = (r.ecr_repository_prefix(), r.upstream_registry_url())
        else {
            continue;
        };
        unit.tables
            .pull_through_rules
            .append(PullThroughCacheRuleRow {
                account_id: account,
                region,
                ecr_repository_prefix: prefix,
                upstream_registry_url: url,
                upstream_registry: r.upstream_registry().map(|u| u.as_str()),
                upstream_repository_prefix: r.upstream_repository_prefix(),
                created_at: r.created_at().map(micros),
            });
        n += 1;
    }
    for t in &templates {
        let Some(prefix) = t.prefix() else { continue };
        let applied_for = t
            .applied_for()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(",");
        unit.tables
            .creation_templates
            .append(RepositoryCreationTemplateRow {
                account_id: account,
                region,
                prefix,
                applied_for: &applied_for,
                lifecycle_policy_text: t.lifecycle_policy().filter(|p| !p.is_empty()),
                image_tag_mutability: t.image_tag_mutability().map(|m| m.as_str()),
                description: t.description(),
            });
        n += 1;
    }
    Ok(n)
}
