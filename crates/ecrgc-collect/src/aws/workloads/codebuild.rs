//! CodeBuild projects of one account and region: the build image of each
//! (`environment.image`).
//!
//! ListProjects (botocore: `nextToken`) names the projects; BatchGetProjects (at most 100
//! names a call) gives each one's `environment.image`, which "can be an Amazon ECR image
//! URI" or a CodeBuild curated image (botocore `ProjectEnvironment.image`). Every project is
//! a `codebuild_project` reference under its ARN: its next build pulls that image. Names
//! answered in `projectsNotFound` were deleted between the two calls and are skipped.

use aws_sdk_codebuild::Client;

use ecrgc_aws::Failure;

use super::{Named, Reading};
use crate::aws::unit::{Api, paginate};

/// Most names BatchGetProjects takes (botocore: `names` max 100).
const BATCH: usize = 100;

/// Reads the CodeBuild references of `api`'s account and region.
pub async fn read(api: &Api, codebuild: &Client) -> Result<Reading, Failure> {
    let mut reading = Reading::default();
    let names = paginate(api, "codebuild:ListProjects", |token| {
        let call = codebuild.list_projects().set_next_token(token);
        async move {
            call.send()
                .await
                .map(|o| (o.projects().to_vec(), o.next_token().map(str::to_owned)))
        }
    })
    .await?;
    for chunk in names.chunks(BATCH) {
        let out = api
            .call("codebuild:BatchGetProjects", || {
                codebuild
                    .batch_get_projects()
                    .set_names(Some(chunk.to_vec()))
                    .send()
            })
            .await?;
        for name in out.projects_not_found() {
            reading.skipped.push(format!("project {name}: not found"));
        }
        for project in out.projects() {
            let (Some(arn), Some(env)) = (project.arn(), project.environment()) else {
                continue;
            };
            reading.refs.push(Named {
                kind: "codebuild_project",
                resource: arn.to_owned(),
                status: "ACTIVE".to_owned(),
                container: None,
                image: env.image().to_owned(),
                resolved_digest: None,
            });
        }
    }
    Ok(reading)
}
