//! App Runner services of one account and region whose source is an image repository.
//!
//! ListServices (botocore: `NextToken`, `MaxResults` up to 20) lists the account's services;
//! DescribeService gives each one's `SourceConfiguration.ImageRepository.ImageIdentifier`,
//! the image the service deploys (an ECR or ECR Public URI, by tag or digest). With
//! `AutoDeploymentsEnabled` App Runner deploys again whenever the tag is pushed, so the tag
//! is what the service runs next. Each service with an image repository becomes one
//! `apprunner_service` reference under its ARN with its `Status` (botocore `ServiceStatus`:
//! `CREATE_FAILED | RUNNING | DELETED | DELETE_FAILED | PAUSED | OPERATION_IN_PROGRESS`).
//! PauseService "reduces compute capacity for the service to zero" and ResumeService brings
//! it back with the same configuration (AWS App Runner API Reference, PauseService,
//! ResumeService), so a `PAUSED` service still needs its image; only `DELETED` (botocore
//! `Service.DeletedAt`: the time the service was deleted) runs nothing
//! (`sql/views/image_refs.sql`). Every other status, a failed deletion included, protects.
//! A service deleted between the two calls (`ResourceNotFoundException`) is skipped.

use aws_sdk_apprunner::Client;
use ecrgc_aws::Failure;
use futures::StreamExt;

use super::{Named, Reading};
use crate::aws::unit::{Api, paginate};

/// Largest page ListServices answers (botocore: `MaxResults` up to 20).
const PAGE: i32 = 20;

/// Reads the App Runner references of `api`'s account and region, `fan_out` services
/// described at once.
pub async fn read(api: &Api, apprunner: &Client, fan_out: usize) -> Result<Reading, Failure> {
    let services = paginate(api, "apprunner:ListServices", |token| {
        let call = apprunner
            .list_services()
            .max_results(PAGE)
            .set_next_token(token);
        async move {
            call.send().await.map(|o| {
                let arns = o
                    .service_summary_list()
                    .iter()
                    .filter_map(|s| s.service_arn().map(str::to_owned))
                    .collect();
                (arns, o.next_token().map(str::to_owned))
            })
        }
    })
    .await?;
    let mut reads = futures::stream::iter(services)
        .map(|arn| async move {
            let out = api
                .call("apprunner:DescribeService", || {
                    apprunner.describe_service().service_arn(&arn).send()
                })
                .await;
            (arn, out)
        })
        .buffered(fan_out.max(1));
    let mut reading = Reading::default();
    while let Some((arn, out)) = reads.next().await {
        let out = match out {
            Ok(out) => out,
            Err(f) if f.code.as_deref() == Some("ResourceNotFoundException") => {
                reading
                    .skipped
                    .push(format!("service {arn}: {}", f.message));
                continue;
            }
            Err(f) => return Err(f.context(format!("service {arn}"))),
        };
        let Some(service) = out.service() else {
            continue;
        };
        let image = service
            .source_configuration()
            .and_then(|s| s.image_repository())
            .map(|r| r.image_identifier().to_owned());
        if let Some(image) = image {
            reading.refs.push(Named {
                kind: "apprunner_service",
                resource: service.service_arn().to_owned(),
                status: service.status().as_str().to_owned(),
                container: None,
                image,
                resolved_digest: None,
            });
        }
    }
    Ok(reading)
}
