//! ECS task definitions of the whole organization from an AWS Config aggregator
//! (SelectAggregateResourceConfig): ACTIVE and INACTIVE, with their capture time, every page.
//!
//! Config records `AWS::ECS::TaskDefinition` in its CloudFormation-style schema, so the
//! fields are PascalCase. A deregistered definition is INACTIVE, and its capture time is when
//! Config saw the change: the time the rollback window is measured from.
//!
//! **How current the aggregator is.** An aggregator's data is only as recent as each of its
//! sources: DescribeConfigurationAggregatorSourcesStatus reports, per source account (or
//! organization) and region, `LastUpdateStatus` `SUCCEEDED` ("the data was successfully
//! moved"), `FAILED` ("errors while moving data") or `OUTDATED` ("the data is not the most
//! recent") (AWS Config API Reference, `AggregatedSourceStatus`). Each source becomes an
//! `aggregator_source` row of `collection_coverage`: `ok`, or `stale_source` with the status,
//! time and error Config gave. A stale source is a usage gap for its account
//! (`sql/guards/usage_coverage_gap.sql`): a task definition registered or deregistered there
//! may not have reached the aggregator. An organization source that is not `SUCCEEDED`, or a
//! status that cannot be read, fails the whole unit: then no account's aggregated data can
//! be trusted.
//!
//! **Rows without images.** A task definition row without container definitions, or with a
//! container without an image, is not "no references": it is an error for its account and
//! region, counted in an `aggregator_source` row with status `error`, and the plan keeps
//! what that account can pull. A row that names no account or region fails the unit.
//!
//! The ECS unit reads INACTIVE task definitions of every account directly as well
//! (`crates/ecrgc-collect/src/aws/ecs.rs`), so a stale aggregator cannot hide a rollback
//! target; and where ECS shows workloads in an account and region the aggregator holds no
//! task definition for, the recorder does not record them there (AWS Config Developer Guide,
//! "Recording AWS Resources": only the resource types a recorder records are aggregated), a
//! gap the guard derives from the snapshot.

use std::collections::BTreeMap;

use aws_sdk_config::Client;
use aws_sdk_config::types::{AggregatedSourceStatusType, AggregatedSourceType};
use ecrgc_aws::Failure;
use ecrgc_aws::pages::TokenGuard;
use ecrgc_model::time::{parse_rfc3339, rfc3339};
use serde_json::Value;

use super::unit::{Outcome, RefRecord, Unit, UnitError, micros};

/// The coverage source of one aggregator source account × region.
pub(crate) const SOURCE: &str = "aggregator_source";

/// The query (`sql/aws/config_task_definitions.sql`): every field ecrgc reads, its lines
/// joined by single spaces, without the file's comment lines.
pub(crate) fn query() -> String {
    const FILE: &str = include_str!("../../../../sql/aws/config_task_definitions.sql");
    FILE.lines()
        .filter(|line| !line.starts_with("--"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The largest page the API serves.
const PAGE: i32 = 100;

/// Collects the aggregator's task definitions.
pub(crate) async fn collect(
    unit: &mut Unit,
    config: &Client,
    aggregator: &str,
) -> Result<(), UnitError> {
    let mut malformed: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
    let mut token: Option<String> = None;
    let mut guard = TokenGuard::new("config:SelectAggregateResourceConfig");
    let expression = query();
    loop {
        let page = unit
            .api
            .call("config:SelectAggregateResourceConfig", || {
                config
                    .select_aggregate_resource_config()
                    .configuration_aggregator_name(aggregator)
                    .expression(&expression)
                    .limit(PAGE)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for result in page.results() {
            let item = parse_item(result)?;
            if let Some(why) = &item.malformed {
                let entry = malformed
                    .entry((item.account_id.clone(), item.region.clone()))
                    .or_insert((0, String::new()));
                entry.0 += 1;
                if entry.1.is_empty() {
                    entry.1 = format!("{}: {why}", item.arn);
                }
                continue;
            }
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
        token = guard.next(page.next_token())?;
        if token.is_none() {
            break;
        }
    }
    let statuses = source_statuses(unit, config, aggregator).await?;
    unit.extra.extend(source_outcomes(statuses, malformed)?);
    Ok(())
}

/// One source's sync status, as DescribeConfigurationAggregatorSourcesStatus reports it.
pub(crate) struct SourceStatus {
    pub source_id: String,
    pub organization: bool,
    pub region: String,
    pub status: String,
    pub at: Option<i64>,
    pub error: Option<String>,
}

/// Every source of the aggregator, every page.
async fn source_statuses(
    unit: &mut Unit,
    config: &Client,
    aggregator: &str,
) -> Result<Vec<SourceStatus>, UnitError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut guard = TokenGuard::new("config:DescribeConfigurationAggregatorSourcesStatus");
    loop {
        let page = unit
            .api
            .call(
                "config:DescribeConfigurationAggregatorSourcesStatus",
                || {
                    config
                        .describe_configuration_aggregator_sources_status()
                        .configuration_aggregator_name(aggregator)
                        .limit(PAGE)
                        .set_next_token(token.clone())
                        .send()
                },
            )
            .await?;
        for s in page.aggregated_source_status_list() {
            let error = match (s.last_error_code(), s.last_error_message()) {
                (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                (Some(c), None) => Some(c.to_owned()),
                (None, Some(m)) => Some(m.to_owned()),
                (None, None) => None,
            };
            out.push(SourceStatus {
                source_id: s.source_id().unwrap_or_default().to_owned(),
                organization: s.source_type() == Some(&AggregatedSourceType::Organization),
                region: s.aws_region().unwrap_or_default().to_owned(),
                status: s
                    .last_update_status()
                    .map(|t| t.as_str().to_owned())
                    // A status Config does not give is not a success.
                    .unwrap_or_else(|| "UNKNOWN".to_owned()),
                at: s.last_update_time().map(micros),
                error,
            });
        }
        token = guard.next(page.next_token())?;
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The `aggregator_source` coverage rows: one per source account × region (`ok` or
/// `stale_source`), and `error` where rows without images were found. An organization
/// source that is not current fails the unit.
pub(crate) fn source_outcomes(
    statuses: Vec<SourceStatus>,
    malformed: BTreeMap<(String, String), (u64, String)>,
) -> Result<Vec<Outcome>, Failure> {
    let succeeded = AggregatedSourceStatusType::Succeeded.as_str();
    let mut rows: BTreeMap<(String, String), (String, Option<String>)> = BTreeMap::new();
    for s in statuses {
        let stale = s.status != succeeded;
        let why = || {
            format!(
                "aggregator source {} {}{}{}",
                s.status,
                s.at.map(|t| format!("since {}", rfc3339(t)))
                    .unwrap_or_else(|| "(no update time)".into()),
                if s.region.is_empty() {
                    String::new()
                } else {
                    format!(" in {}", s.region)
                },
                s.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )
        };
        if s.organization {
            if stale {
                return Err(Failure::other(format!(
                    "the organization source {} is not current: {}",
                    s.source_id,
                    why()
                )));
            }
            continue;
        }
        let row = if stale {
            ("stale_source".to_owned(), Some(why()))
        } else {
            ("ok".to_owned(), None)
        };
        let key = (s.source_id, s.region);
        // One source listed twice: the worse reading wins.
        if rows.get(&key).is_none_or(|(status, _)| status == "ok") {
            rows.insert(key, row);
        }
    }
    for ((account, region), (count, example)) in malformed {
        rows.insert(
            (account, region),
            (
                "error".to_owned(),
                Some(format!(
                    "{count} task definition row(s) without container images, e.g. {example}"
                )),
            ),
        );
    }
    Ok(rows
        .into_iter()
        .map(|((account, region), (status, error))| {
            let mut o = Outcome::not_read(&account, &region, SOURCE, &status, "");
            o.error = error;
            o
        })
        .collect())
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
    /// Why the row cannot be read as references (no container definitions, a container
    /// without an image).
    pub malformed: Option<String>,
}

/// Parses one result row. A row that is not what the query asked for is an error: a
/// silently dropped task definition would be a silently unprotected image. A row of a known
/// account and region without images is returned with `malformed` set (an error for that
/// account and region only).
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
    let listed: Vec<&Value> = match conf.and_then(|c| c.get("ContainerDefinitions")) {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let mut malformed = listed
        .is_empty()
        .then(|| "no container definitions".to_owned());
    let mut containers = Vec::new();
    for c in listed {
        match text(c.get("Image")) {
            Some(image) => containers.push(Container {
                name: text(c.get("Name")),
                image,
            }),
            None => {
                let name = text(c.get("Name")).unwrap_or_else(|| "?".into());
                malformed.get_or_insert(format!("container {name} has no image"));
            }
        }
    }
    Ok(Item {
        account_id,
        region,
        arn,
        status: status.to_ascii_uppercase(),
        captured_at,
        containers,
        malformed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_fits_the_expression_limit() {
        let query = query();
        assert!(query.len() <= 4096);
        assert!(query.starts_with("SELECT ") && !query.contains("--") && !query.contains('\n'));
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
        let empty = parse_item(
            r#"{"accountId":"222222222222","awsRegion":"eu-west-1","resourceId":"x",
                "configuration":{"Status":"ACTIVE"}}"#,
        )
        .expect("attributable");
        assert_eq!(empty.malformed.as_deref(), Some("no container definitions"));
        let imageless = parse_item(
            r#"{"accountId":"222222222222","awsRegion":"eu-west-1","resourceId":"x",
                "configuration":{"ContainerDefinitions":[{"Name":"app","Image":"a:1"},{"Name":"b"}]}}"#,
        )
        .expect("attributable");
        assert_eq!(
            imageless.malformed.as_deref(),
            Some("container b has no image")
        );
    }

    fn status(id: &str, region: &str, status: &str, org: bool) -> SourceStatus {
        SourceStatus {
            source_id: id.into(),
            organization: org,
            region: region.into(),
            status: status.into(),
            at: Some(parse_rfc3339("2026-11-30T00:00:00Z").expect("time")),
            error: (status == "FAILED").then(|| "AccessDenied: no".to_owned()),
        }
    }

    #[test]
    fn every_source_is_a_coverage_row_and_only_succeeded_is_ok() {
        let rows = source_outcomes(
            vec![
                status("111111111111", "eu-west-1", "SUCCEEDED", false),
                status("222222222222", "eu-west-1", "OUTDATED", false),
                status("333333333333", "us-east-1", "FAILED", false),
                status("333333333333", "us-east-1", "SUCCEEDED", false),
            ],
            [(
                ("111111111111".to_owned(), "us-east-1".to_owned()),
                (2, "td:1: no container definitions".to_owned()),
            )]
            .into(),
        )
        .expect("rows");
        let got: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|o| (o.account_id.as_str(), o.region.as_str(), o.status.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("111111111111", "eu-west-1", "ok"),
                ("111111111111", "us-east-1", "error"),
                ("222222222222", "eu-west-1", "stale_source"),
                ("333333333333", "us-east-1", "stale_source"),
            ]
        );
        assert!(rows.iter().all(|o| o.source == SOURCE));
        let outdated = rows[2].error.as_deref().expect("why");
        assert!(
            outdated.contains("OUTDATED since 2026-11-30T00:00:00Z"),
            "{outdated}"
        );
        assert!(
            rows[3]
                .error
                .as_deref()
                .expect("why")
                .contains("AccessDenied")
        );

        let org = source_outcomes(
            vec![status("o-abc", "eu-west-1", "OUTDATED", true)],
            [].into(),
        );
        assert!(org.expect_err("whole unit").message.contains("o-abc"));
    }
}
