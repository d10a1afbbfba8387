//! SageMaker models of one account and region, and the endpoint configurations that use
//! them.
//!
//! ListModels and ListEndpointConfigs (botocore: `NextToken`, `MaxResults` up to 100) name
//! them; DescribeModel gives each model's `PrimaryContainer.Image` and `Containers[].Image`
//! (an inference pipeline), DescribeEndpointConfig the `ModelName` of every
//! `ProductionVariants[]` and `ShadowProductionVariants[]` entry. A model is a
//! `sagemaker_model` reference of each of its images under its ARN: an endpoint, a batch
//! transform job or an endpoint update may start it at any time, so it always protects. An
//! endpoint configuration adds a `sagemaker_endpoint_config` reference of each image of the
//! models it names, so that `explain` shows the endpoint side too (container name: the
//! model).
//!
//! botocore lists no errors for DescribeModel and DescribeEndpointConfig, so no answer is
//! read as "deleted meanwhile": any failure fails the unit, and the `usage_coverage_gap`
//! guard keeps what the account can pull. A container that names a model package instead of
//! an image (`ModelPackageName`) has no `Image` and adds nothing.

use std::collections::HashMap;

use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::types::ContainerDefinition;
use futures::{StreamExt, TryStreamExt};

use ecrgc_aws::Failure;

use super::{Named, Reading};
use crate::aws::unit::{Api, paginate};

/// Largest page of the list calls (botocore: `MaxResults` up to 100).
const PAGE: i32 = 100;

/// A model and its images.
struct Model {
    arn: String,
    images: Vec<String>,
}

/// Reads the SageMaker references of `api`'s account and region, `fan_out` describe calls
/// at once.
pub async fn read(api: &Api, sagemaker: &Client, fan_out: usize) -> Result<Reading, Failure> {
    let fan_out = fan_out.max(1);
    let names = paginate(api, "sagemaker:ListModels", |token| {
        let call = sagemaker
            .list_models()
            .max_results(PAGE)
            .set_next_token(token);
        async move {
            call.send().await.map(|o| {
                let names = o
                    .models()
                    .iter()
                    .filter_map(|m| m.model_name().map(str::to_owned))
                    .collect();
                (names, o.next_token().map(str::to_owned))
            })
        }
    })
    .await?;
    let models: HashMap<String, Model> = futures::stream::iter(names)
        .map(|name| async move {
            let out = api
                .call("sagemaker:DescribeModel", || {
                    sagemaker.describe_model().model_name(&name).send()
                })
                .await
                .map_err(|f| f.context(format!("model {name}")))?;
            let images = out
                .primary_container()
                .into_iter()
                .chain(out.containers())
                .filter_map(ContainerDefinition::image)
                .map(str::to_owned)
                .collect();
            let arn = out.model_arn().unwrap_or(&name).to_owned();
            Ok::<_, Failure>((name, Model { arn, images }))
        })
        .buffered(fan_out)
        .try_collect()
        .await?;

    let configs = paginate(api, "sagemaker:ListEndpointConfigs", |token| {
        let call = sagemaker
            .list_endpoint_configs()
            .max_results(PAGE)
            .set_next_token(token);
        async move {
            call.send().await.map(|o| {
                let names = o
                    .endpoint_configs()
                    .iter()
                    .filter_map(|c| c.endpoint_config_name().map(str::to_owned))
                    .collect();
                (names, o.next_token().map(str::to_owned))
            })
        }
    })
    .await?;
    let configs: Vec<(String, Vec<String>)> = futures::stream::iter(configs)
        .map(|name| async move {
            let out = api
                .call("sagemaker:DescribeEndpointConfig", || {
                    sagemaker
                        .describe_endpoint_config()
                        .endpoint_config_name(&name)
                        .send()
                })
                .await
                .map_err(|f| f.context(format!("endpoint configuration {name}")))?;
            let models = out
                .production_variants()
                .iter()
                .filter_map(|v| v.model_name())
                .chain(
                    out.shadow_production_variants()
                        .iter()
                        .filter_map(|v| v.model_name()),
                )
                .map(str::to_owned)
                .collect();
            let arn = out.endpoint_config_arn().unwrap_or(&name).to_owned();
            Ok::<_, Failure>((arn, models))
        })
        .buffered(fan_out)
        .try_collect()
        .await?;

    let mut reading = Reading::default();
    let mut sorted: Vec<&Model> = models.values().collect();
    sorted.sort_by(|a, b| a.arn.cmp(&b.arn));
    for model in sorted {
        for image in &model.images {
            reading
                .refs
                .push(named("sagemaker_model", &model.arn, None, image));
        }
    }
    for (arn, names) in &configs {
        for name in names {
            // A variant naming a model the listing did not return (created after it) adds
            // nothing here; that model is read on the next run.
            let Some(model) = models.get(name) else {
                continue;
            };
            for image in &model.images {
                reading
                    .refs
                    .push(named("sagemaker_endpoint_config", arn, Some(name), image));
            }
        }
    }
    Ok(reading)
}

fn named(kind: &'static str, arn: &str, container: Option<&str>, image: &str) -> Named {
    Named {
        kind,
        resource: arn.to_owned(),
        status: "ACTIVE".to_owned(),
        container: container.map(str::to_owned),
        image: image.to_owned(),
        resolved_digest: None,
    }
}
