//! Lambda container-image functions of one account and region: `$LATEST` and every published
//! version (GetFunction's `ImageUri` and `ResolvedImageUri`), and every alias, including the
//! second version of a weighted alias.
//!
//! Config has no image URI for Lambda, and Inspector's `inUseCount` counts ECS tasks and EKS
//! pods only, so this is the one source that sees Lambda's use of an image.

use std::collections::HashMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::PackageType;
use futures::StreamExt;

use super::unit::{Api, RefRecord, Unit, UnitError, paginate};

/// Largest page of the list calls.
const PAGE: i32 = 50;

struct Version {
    arn: String,
    version: String,
    image_uri: Option<String>,
    resolved_digest: Option<String>,
}

/// Collects the unit's Lambda references.
pub(crate) async fn collect(unit: &mut Unit, lambda: &Client) -> Result<(), UnitError> {
    let functions = paginate(&unit.api, "lambda:ListFunctions", |marker| {
        let call = lambda.list_functions().max_items(PAGE).set_marker(marker);
        async move {
            call.send().await.map(|o| {
                let image_functions = o
                    .functions()
                    .iter()
                    .filter(|f| f.package_type() == Some(&PackageType::Image))
                    .filter_map(|f| f.function_name().map(str::to_owned))
                    .collect();
                (image_functions, o.next_marker().map(str::to_owned))
            })
        }
    })
    .await?;
    let fan_out = unit.ctx.fan_out;
    for name in functions {
        let versions = versions(&unit.api, lambda, &name, fan_out).await?;
        let aliases = paginate(&unit.api, "lambda:ListAliases", |marker| {
            let call = lambda
                .list_aliases()
                .function_name(&name)
                .max_items(PAGE)
                .set_marker(marker);
            async move {
                call.send().await.map(|o| {
                    let aliases = o
                        .aliases()
                        .iter()
                        .filter_map(|a| {
                            let mut targets: Vec<String> = a
                                .function_version()
                                .map(str::to_owned)
                                .into_iter()
                                .collect();
                            if let Some(rc) = a.routing_config()
                                && let Some(weights) = rc.additional_version_weights()
                            {
                                targets.extend(weights.keys().cloned());
                            }
                            Some((a.alias_arn()?.to_owned(), targets))
                        })
                        .collect();
                    (aliases, o.next_marker().map(str::to_owned))
                })
            }
        })
        .await?;
        let by_version: HashMap<&str, &Version> =
            versions.iter().map(|v| (v.version.as_str(), v)).collect();
        let mut refs: Vec<(&str, &str, &Version)> = versions
            .iter()
            .map(|v| ("lambda_version", v.arn.as_str(), v))
            .collect();
        for (alias_arn, targets) in &aliases {
            refs.extend(
                targets
                    .iter()
                    .filter_map(|t| by_version.get(t.as_str()))
                    .map(|v| ("lambda_alias", alias_arn.as_str(), *v)),
            );
        }
        for (kind, resource_arn, v) in refs {
            let Some(image) = &v.image_uri else { continue };
            unit.tables.push_ref(
                &unit.api,
                "lambda",
                RefRecord {
                    kind,
                    resource_arn,
                    status: "ACTIVE",
                    status_at: None,
                    container_name: None,
                    image_uri: image,
                    resolved_digest: v.resolved_digest.as_deref(),
                },
            );
            unit.items += 1;
            unit.ctx.progress.add_refs(1);
        }
        unit.maybe_flush().await?;
    }
    Ok(())
}

async fn versions(
    api: &Api,
    lambda: &Client,
    name: &str,
    fan_out: usize,
) -> Result<Vec<Version>, UnitError> {
    let listed = paginate(api, "lambda:ListVersionsByFunction", |marker| {
        let call = lambda
            .list_versions_by_function()
            .function_name(name)
            .max_items(PAGE)
            .set_marker(marker);
        async move {
            call.send().await.map(|o| {
                let versions = o
                    .versions()
                    .iter()
                    .filter_map(|v| Some((v.version()?.to_owned(), v.function_arn()?.to_owned())))
                    .collect();
                (versions, o.next_marker().map(str::to_owned))
            })
        }
    })
    .await?;
    let mut reads = futures::stream::iter(listed)
        .map(|(version, arn)| async move {
            let out = api
                .call("lambda:GetFunction", || {
                    lambda
                        .get_function()
                        .function_name(name)
                        .qualifier(&version)
                        .send()
                })
                .await?;
            let code = out.code();
            Ok::<_, ecrgc_aws::Failure>(Version {
                image_uri: code.and_then(|c| c.image_uri()).map(str::to_owned),
                resolved_digest: code
                    .and_then(|c| c.resolved_image_uri())
                    .and_then(|u| u.split_once('@'))
                    .map(|(_, d)| d.to_owned()),
                arn,
                version,
            })
        })
        .buffered(fan_out);
    let mut out = Vec::new();
    while let Some(v) = reads.next().await {
        out.push(v?);
    }
    Ok(out)
}
