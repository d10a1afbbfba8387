//! The Lambda references of one account × region: every published version's image and
//! `$LATEST`'s, and each alias under its own ARN (see [`crate::checks::references`]).

use std::collections::BTreeMap;

use aws_sdk_lambda::types::PackageType;
use ecrgc_aws::Failure;
use futures::StreamExt;

use crate::checks::references::call::Cx;
use crate::checks::references::found::Found;

/// Lambda's largest list page.
const LAMBDA_PAGE: i32 = 50;

/// Every Lambda reference of the reading's place into `found`.
pub(super) async fn read(
    cx: &Cx<'_>,
    client: &aws_sdk_lambda::Client,
    found: &mut Found,
) -> Result<(), Failure> {
    let functions = cx
        .paginate("lambda:ListFunctions", |marker| {
            let call = client
                .list_functions()
                .max_items(LAMBDA_PAGE)
                .set_marker(marker);
            async move {
                call.send().await.map(|o| {
                    let names = o
                        .functions()
                        .iter()
                        .filter(|f| f.package_type() == Some(&PackageType::Image))
                        .filter_map(|f| f.function_name().map(str::to_owned))
                        .collect::<Vec<_>>();
                    (names, o.next_marker().map(str::to_owned))
                })
            }
        })
        .await?;
    for name in functions {
        match function(cx, client, &name).await {
            Ok(refs) => {
                found.examined += 1;
                for r in refs {
                    found.add(&r.image, r.resolved_digest.as_deref(), &r.resource);
                }
            }
            // Deleted since it was listed: it runs nothing.
            Err(f) if f.code.as_deref() == Some("ResourceNotFoundException") => {}
            Err(f) => return Err(f),
        }
    }
    Ok(())
}

/// The images of one function's versions (`$LATEST` included) and aliases.
async fn function(
    cx: &Cx<'_>,
    client: &aws_sdk_lambda::Client,
    name: &str,
) -> Result<Vec<FunctionRef>, Failure> {
    let listed = cx
        .paginate("lambda:ListVersionsByFunction", |marker| {
            let call = client
                .list_versions_by_function()
                .function_name(name)
                .max_items(LAMBDA_PAGE)
                .set_marker(marker);
            async move {
                call.send().await.map(|o| {
                    let versions = o
                        .versions()
                        .iter()
                        .filter_map(|v| {
                            Some((v.version()?.to_owned(), v.function_arn()?.to_owned()))
                        })
                        .collect::<Vec<_>>();
                    (versions, o.next_marker().map(str::to_owned))
                })
            }
        })
        .await?;
    let mut reads = futures::stream::iter(listed)
        .map(|(version, arn)| async move {
            let out = match cx
                .call("lambda:GetFunction", || {
                    client
                        .get_function()
                        .function_name(name)
                        .qualifier(&version)
                        .send()
                })
                .await
            {
                Ok(out) => out,
                // This version was deleted after it was listed.
                Err(f) if f.code.as_deref() == Some("ResourceNotFoundException") => {
                    return Ok(None);
                }
                Err(f) => return Err(f),
            };
            let code = out.code();
            Ok::<_, Failure>(Some(VersionImage {
                version,
                arn,
                image: code.and_then(|c| c.image_uri()).map(str::to_owned),
                resolved_digest: code
                    .and_then(|c| c.resolved_image_uri())
                    .and_then(|u| u.split_once('@'))
                    .map(|(_, d)| d.to_owned()),
            }))
        })
        .buffered(cx.fan_out);
    let mut versions = Vec::new();
    while let Some(v) = reads.next().await {
        versions.extend(v?);
    }
    drop(reads);
    let aliases = cx
        .paginate("lambda:ListAliases", |marker| {
            let call = client
                .list_aliases()
                .function_name(name)
                .max_items(LAMBDA_PAGE)
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
                            if let Some(weights) = a
                                .routing_config()
                                .and_then(|rc| rc.additional_version_weights())
                            {
                                targets.extend(weights.keys().cloned());
                            }
                            Some((a.alias_arn()?.to_owned(), targets))
                        })
                        .collect::<Vec<_>>();
                    (aliases, o.next_marker().map(str::to_owned))
                })
            }
        })
        .await?;
    Ok(function_references(&versions, &aliases))
}

/// One Lambda version's image as GetFunction gives it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct VersionImage {
    pub(super) version: String,
    pub(super) arn: String,
    pub(super) image: Option<String>,
    pub(super) resolved_digest: Option<String>,
}

/// An image a function names, and where.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FunctionRef {
    pub(super) image: String,
    pub(super) resolved_digest: Option<String>,
    pub(super) resource: String,
}

/// The references of a function: each version's image under the version's ARN, and each
/// alias' versions' images under the alias' ARN. An alias naming a version that was not
/// read names nothing more than the versions already do.
pub(super) fn function_references(
    versions: &[VersionImage],
    aliases: &[(String, Vec<String>)],
) -> Vec<FunctionRef> {
    let by_version: BTreeMap<&str, &VersionImage> =
        versions.iter().map(|v| (v.version.as_str(), v)).collect();
    let mut out = Vec::new();
    let targets = versions
        .iter()
        .map(|v| (v.arn.clone(), v))
        .chain(aliases.iter().flat_map(|(alias, names)| {
            names
                .iter()
                .filter_map(|n| by_version.get(n.as_str()))
                .map(move |v| (format!("{alias} (version {})", v.version), *v))
        }));
    for (resource, v) in targets {
        if let Some(image) = &v.image {
            out.push(FunctionRef {
                image: image.clone(),
                resolved_digest: v.resolved_digest.clone(),
                resource,
            });
        }
    }
    out
}
