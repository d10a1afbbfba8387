//! Lambda container-image functions of one account and region: `$LATEST` and every published
//! version (GetFunction's `ImageUri` and `ResolvedImageUri`), and every alias, including the
//! second version of a weighted alias.
//!
//! Config has no image URI for Lambda, and Inspector's `inUseCount` counts ECS tasks and EKS
//! pods only, so this is the one source that sees Lambda's use of an image.
//!
//! A function deleted between ListFunctions and its own reads (ListVersionsByFunction,
//! ListAliases answer `ResourceNotFoundException`) runs nothing any more: it is counted in
//! the unit's coverage message and skipped. So is one version deleted before its GetFunction:
//! the function's other versions and aliases are still read. Any other failure fails the unit.

use std::collections::HashMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::PackageType;
use ecrgc_aws::Failure;
use futures::StreamExt;

use super::unit::{Api, RefRecord, Unit, UnitError, paginate};

/// Whether a failure says the function (or version) no longer exists.
fn gone(f: &Failure) -> bool {
    f.code.as_deref() == Some("ResourceNotFoundException")
}

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
        let (versions, mut gone_versions) = match versions(&unit.api, lambda, &name, fan_out).await
        {
            Ok(v) => v,
            Err(f) if gone(&f) => {
                unit.skipped.push(format!("function {name}: {}", f.message));
                continue;
            }
            Err(f) => return Err(f.into()),
        };
        unit.skipped.append(&mut gone_versions);
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
        .await;
        let aliases = match aliases {
            Ok(a) => a,
            Err(f) if gone(&f) => {
                unit.skipped.push(format!("function {name}: {}", f.message));
                continue;
            }
            Err(f) => return Err(f.into()),
        };
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
) -> Result<(Vec<Version>, Vec<String>), Failure> {
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
            let out = match api
                .call("lambda:GetFunction", || {
                    lambda
                        .get_function()
                        .function_name(name)
                        .qualifier(&version)
                        .send()
                })
                .await
            {
                Ok(out) => out,
                // This version (or the whole function) was deleted after it was listed.
                Err(f) if gone(&f) => return Ok(Err(format!("{arn}: {}", f.message))),
                Err(f) => return Err(f),
            };
            let code = out.code();
            Ok::<_, Failure>(Ok(Version {
                image_uri: code.and_then(|c| c.image_uri()).map(str::to_owned),
                resolved_digest: code
                    .and_then(|c| c.resolved_image_uri())
                    .and_then(|u| u.split_once('@'))
                    .map(|(_, d)| d.to_owned()),
                arn,
                version,
            }))
        })
        .buffered(fan_out);
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    while let Some(v) = reads.next().await {
        match v? {
            Ok(v) => out.push(v),
            Err(gone) => skipped.push(gone),
        }
    }
    Ok((out, skipped))
}
