//! ECS task definitions of the whole organization from an AWS Config aggregator
//! (SelectAggregateResourceConfig): ACTIVE and INACTIVE, with their capture time, every page.
//!
//! Config records `AWS::ECS::TaskDefinition` in its CloudFormation-style schema, so the
//! fields are PascalCase. A deregistered definition is INACTIVE, and its capture time is when
//! Config saw the change: the time the rollback window is measured from.

use aws_sdk_config::Client;
use ecrgc_aws::Failure;
use ecrgc_model::time::parse_rfc3339;
use serde_json::Value;

use super::unit::{RefRecord, Unit, UnitError};

/// The query: every field ecrgc reads, well under Config's 4096-character limit.
pub(crate) const QUERY: &str = "SELECT accountId, awsRegion, resourceId, configurationItemCaptureTime, \
     configuration.TaskDefinitionArn, configuration.Status, configuration.ContainerDefinitions \
     WHERE resourceType = 'AWS::ECS::TaskDefinition'";

/// The largest page the API serves.
const PAGE: i32 = 100;

/// Collects the aggregator's task definitions.
pub(crate) async fn collect(
    unit: &mut Unit,
    config: &Client,
    aggregator: &str,
) -> Result<(), UnitError> {
    let mut token: Option<String> = None;
    loop {
        let page = unit
            .api
            .call("config:SelectAggregateResourceConfig", || {
                config
                    .select_aggregate_resource_config()
                    .configuration_aggregator_name(aggregator)
                    .expression(QUERY)
                    .limit(PAGE)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for result in page.results() {
            let item = parse_item(result)?;
            for c in &item.containers {
                unit.tables.push_ref_in(
                    &item.account_id,
                    &item.region,
                    "config_aggregator",
                    RefRecord {
                        kind: "task_definition",
                        resource_arn: &item.arn,
                        status: &item.status,
                        status_at: item.captured_at,
                        container_name: c.name.as_deref(),
                        image_uri: &c.image,
                        resolved_digest: None,
                    },
                );
                unit.items += 1;
            }
            unit.ctx.progress.add_refs(item.containers.len() as u64);
        }
        unit.maybe_flush().await?;
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(());
        }
    }
}

pub(crate) struct Container {
    pub name: Option<String>,
    pub image: String,
}

/// One task definition as the aggregator describes it.
pub(crate) struct Item {
    pub account_id: String,
    pub region: String,
    pub arn: String,
    pub status: String,
    pub captured_at: Option<i64>,
    pub containers: Vec<Container>,
}

/// Parses one result row. A row that is not what the query asked for is an error: a
/// silently dropped task definition would be a silently unprotected image.
pub(crate) fn parse_item(json: &str) -> Result<Item, Failure> {
    let bad = |why: &str| Failure::other(format!("unexpected aggregator result ({why}): {json}"));
    let doc: Value = serde_json::from_str(json).map_err(|_| bad("not JSON"))?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let account_id = text(doc.get("accountId")).ok_or_else(|| bad("no accountId"))?;
    let region = text(doc.get("awsRegion")).ok_or_else(|| bad("no awsRegion"))?;
    let conf = doc.get("configuration");
    let resource_id = text(doc.get("resourceId")).unwrap_or_default();
    let arn = text(conf.and_then(|c| c.get("TaskDefinitionArn")))
        .or_else(|| resource_id.starts_with("arn:").then(|| resource_id.clone()))
        .unwrap_or_else(|| {
            format!("arn:aws:ecs:{region}:{account_id}:task-definition/{resource_id}")
        });
    // A definition without a status is treated as ACTIVE: the reading that protects.
    let status = text(conf.and_then(|c| c.get("Status"))).unwrap_or_else(|| "ACTIVE".to_owned());
    let captured_at = match doc.get("configurationItemCaptureTime") {
        Some(Value::String(s)) => Some(parse_rfc3339(s).map_err(|_| bad("capture time"))?),
        Some(Value::Number(n)) => n.as_f64().map(|secs| (secs * 1e6) as i64),
        _ => None,
    };
    let containers = match conf.and_then(|c| c.get("ContainerDefinitions")) {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|c| {
                Some(Container {
                    name: text(c.get("Name")),
                    image: text(c.get("Image"))?,
                })
            })
            .collect(),
        Some(Value::Object(one)) => text(one.get("Image"))
            .map(|image| {
                vec![Container {
                    name: text(one.get("Name")),
                    image,
                }]
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    Ok(Item {
        account_id,
        region,
        arn,
        status: status.to_ascii_uppercase(),
        captured_at,
        containers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_fits_the_expression_limit() {
        assert!(QUERY.len() <= 4096);
    }

    #[test]
    fn items_parse_with_their_containers() {
        let item = parse_item(
            r#"{"accountId":"222222222222","awsRegion":"eu-west-1","resourceId":"arn:aws:ecs:eu-west-1:222222222222:task-definition/api:7",
                "configurationItemCaptureTime":"2026-11-20T12:00:00.000Z",
                "configuration":{"Status":"INACTIVE","ContainerDefinitions":[
                    {"Name":"app","Image":"111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:v5"},
                    {"Name":"sidecar","Image":"public.ecr.aws/nginx/nginx:1.25"}]}}"#,
        )
        .expect("valid item");
        assert_eq!(
            item.arn,
            "arn:aws:ecs:eu-west-1:222222222222:task-definition/api:7"
        );
        assert_eq!(item.status, "INACTIVE");
        assert_eq!(item.containers.len(), 2);
        assert_eq!(
            item.captured_at,
            Some(parse_rfc3339("2026-11-20T12:00:00Z").expect("time"))
        );
    }

    #[test]
    fn malformed_items_are_errors() {
        assert!(parse_item("[]").is_err());
        assert!(parse_item(r#"{"awsRegion":"eu-west-1"}"#).is_err());
    }
}
