//! A registry's replication rules, as DescribeRegistry states them, with delete replication.
//!
//! A replication rule (`replicationConfiguration.rules[]`: `destinations[{region,
//! registryId}]`, `repositoryFilters[{filter, filterType: PREFIX_MATCH}]`,
//! `deleteReplication.enabled`; botocore's ECR service model, DescribeRegistry) with delete
//! replication makes a deletion in the source registry (by digest, by lifecycle expiry, or by
//! removing an image's last tag) delete the same digest in the repository of the same name
//! in every destination of the rule (ECR user guide, "Replicating image deletions in Amazon
//! ECR"; "Private image replication in Amazon ECR": the repository name stays the same across
//! Regions and accounts). The collector records the rules and the executor re-reads them
//! before it deletes, so that no deletion reaches a registry the plan did not consider.
//!
//! The Rust SDK's ECR model (aws-sdk-ecr up to 1.138) does not carry `deleteReplication` yet,
//! so the answer is read from the raw response body the SDK received (an interceptor keeps
//! it), signed, retried and gated like every other call. Every doubt reads as "deletes
//! replicate": a `deleteReplication` that is present but not a boolean, a filter type other
//! than `PREFIX_MATCH` (it matches every repository here). An absent `deleteReplication` is
//! off: "By default, Amazon ECR replication copies images to your replication destinations
//! but does not replicate deletions" (same guide).

use std::sync::{Arc, Mutex};

use aws_sdk_ecr::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

use crate::{CallStats, Caller, Failure};

/// One rule of a registry's replication configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationRule {
    /// Destinations as (registry account, region).
    pub destinations: Vec<(String, String)>,
    /// Repository filters as (filter, filter type); none means every repository.
    pub filters: Vec<(String, String)>,
    /// Whether deletions and tag removals replicate to the destinations.
    pub delete_replication: bool,
}

impl ReplicationRule {
    /// Whether the rule replicates `repository`: no filter, or a `PREFIX_MATCH` filter the
    /// name starts with. A filter type this code does not know matches (the safe reading).
    pub fn matches(&self, repository: &str) -> bool {
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|(f, kind)| kind != "PREFIX_MATCH" || repository.starts_with(f.as_str()))
    }
}

/// Every destination (registry account, region) that deleting an image of `repository`
/// reaches under `rules`, sorted and without repeats.
pub fn delete_destinations(rules: &[ReplicationRule], repository: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = rules
        .iter()
        .filter(|r| r.delete_replication && r.matches(repository))
        .flat_map(|r| r.destinations.iter().cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Keeps the body of the response the SDK deserialized.
#[derive(Debug, Default, Clone)]
struct KeepBody(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for KeepBody {
    fn name(&self) -> &'static str {
        "ecrgc::KeepBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes()
            && let Ok(mut slot) = self.0.lock()
        {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// Reads the replication rules of `ecr`'s registry (account and region of the client).
pub async fn replication_rules(
    caller: &Caller,
    account: &str,
    region: &str,
    stats: &CallStats,
    ecr: &Client,
) -> Result<Vec<ReplicationRule>, Failure> {
    let body = KeepBody::default();
    caller
        .call(account, region, "ecr:DescribeRegistry", stats, || {
            ecr.describe_registry()
                .customize()
                .interceptor(body.clone())
                .send()
        })
        .await?;
    let raw = body
        .0
        .lock()
        .ok()
        .and_then(|mut b| b.take())
        .ok_or_else(|| {
            Failure::other("ecr:DescribeRegistry: the answer's body could not be read")
        })?;
    parse_describe_registry(&raw).map_err(|e| Failure::other(format!("ecr:DescribeRegistry: {e}")))
}

/// Parses a DescribeRegistry answer (JSON) into its replication rules.
pub fn parse_describe_registry(raw: &[u8]) -> Result<Vec<ReplicationRule>, String> {
    let doc: Value =
        serde_json::from_slice(raw).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let Some(config) = doc.get("replicationConfiguration").filter(|c| !c.is_null()) else {
        return Ok(Vec::new());
    };
    let rules = match config.get("rules") {
        Some(Value::Array(rules)) => rules,
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(other) => return Err(format!("replicationConfiguration.rules is {other}")),
    };
    let text = |v: &Value, key: &str, at: &str| -> Result<String, String> {
        v.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{at}.{key} is missing or not a string"))
    };
    let mut out = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        let mut destinations = Vec::new();
        for (j, d) in list(rule, "destinations").iter().enumerate() {
            let at = format!("{at}.destinations[{j}]");
            destinations.push((text(d, "registryId", &at)?, text(d, "region", &at)?));
        }
        let mut filters = Vec::new();
        for (j, f) in list(rule, "repositoryFilters").iter().enumerate() {
            let at = format!("{at}.repositoryFilters[{j}]");
            filters.push((text(f, "filter", &at)?, text(f, "filterType", &at)?));
        }
        let delete_replication = match rule.get("deleteReplication") {
            None | Some(Value::Null) => false,
            // Present but unreadable: the safe reading is that deletions replicate.
            Some(d) => d.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        };
        out.push(ReplicationRule {
            destinations,
            filters,
            delete_replication,
        });
    }
    Ok(out)
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules_with_and_without_delete_replication() {
        let raw = br#"{"registryId":"111111111111","replicationConfiguration":{"rules":[
            {"destinations":[{"region":"us-east-1","registryId":"111111111111"}],
             "repositoryFilters":[{"filter":"prod/","filterType":"PREFIX_MATCH"}],
             "deleteReplication":{"enabled":true}},
            {"destinations":[{"region":"eu-central-1","registryId":"222222222222"}]},
            {"destinations":[{"region":"ap-south-1","registryId":"333333333333"}],
             "deleteReplication":{"enabled":"yes"}}]}}"#;
        let rules = parse_describe_registry(raw).expect("parses");
        assert_eq!(rules.len(), 3);
        assert!(rules[0].delete_replication);
        assert!(!rules[1].delete_replication, "absent means off");
        assert!(rules[2].delete_replication, "unreadable means on");
        assert_eq!(
            delete_destinations(&rules, "prod/api"),
            vec![
                ("111111111111".to_owned(), "us-east-1".to_owned()),
                ("333333333333".to_owned(), "ap-south-1".to_owned())
            ]
        );
        assert_eq!(
            delete_destinations(&rules, "dev/api"),
            vec![("333333333333".to_owned(), "ap-south-1".to_owned())]
        );
    }

    #[test]
    fn no_configuration_is_no_rule_and_garbage_is_an_error() {
        assert_eq!(
            parse_describe_registry(br#"{"registryId":"111111111111"}"#),
            Ok(vec![])
        );
        assert!(parse_describe_registry(b"<html>").is_err());
        assert!(
            parse_describe_registry(
                br#"{"replicationConfiguration":{"rules":[{"destinations":[{"region":"x"}]}]}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn unknown_filter_types_match_every_repository() {
        let rule = ReplicationRule {
            destinations: vec![],
            filters: vec![("team-".into(), "SOMETHING_NEW".into())],
            delete_replication: true,
        };
        assert!(rule.matches("other/repo"));
    }
}
