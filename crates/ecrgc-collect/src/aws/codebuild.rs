//! CodeBuild projects of one account and region: the build image of each
//! (`environment.image`).
//!
//! ListProjects (botocore: `nextToken`) names the projects; BatchGetProjects (at most 100
//! names a call) gives each one's `environment.image`, which "can be an Amazon ECR image
//! URI" or a CodeBuild curated image (botocore `ProjectEnvironment.image`). Every project is
//! a `codebuild_project` reference under its ARN: its next build pulls that image. Names
//! answered in `projectsNotFound` were deleted between the two calls and are skipped.

use aws_sdk_codebuild::Client;

use super::unit::{RefRecord, Unit, UnitError, paginate};

/// Most names BatchGetProjects takes (botocore: `names` max 100).
const BATCH: usize = 100;

/// Collects the unit's CodeBuild references.
pub(crate) async fn collect(unit: &mut Unit, codebuild: &Client) -> Result<(), UnitError> {
    let names = paginate(&unit.api, "codebuild:ListProjects", |token| {
        let call = codebuild.list_projects().set_next_token(token);
        async move {
            call.send()
                .await
                .map(|o| (o.projects().to_vec(), o.next_token().map(str::to_owned)))
        }
    })
    .await?;
    for chunk in names.chunks(BATCH) {
        let out = unit
            .api
            .call("codebuild:BatchGetProjects", || {
                codebuild
                    .batch_get_projects()
                    .set_names(Some(chunk.to_vec()))
                    .send()
            })
            .await?;
        for name in out.projects_not_found() {
            unit.skipped.push(format!("project {name}: not found"));
        }
        for project in out.projects() {
            let (Some(arn), Some(env)) = (project.arn(), project.environment()) else {
                continue;
            };
            unit.tables.push_ref(
                &unit.api,
                "codebuild",
                RefRecord {
                    kind: "codebuild_project",
                    resource_arn: arn,
                    status: "ACTIVE",
                    status_at: None,
                    container_name: None,
                    image_uri: env.image(),
                    resolved_digest: None,
                },
            );
            unit.items += 1;
            unit.ctx.progress.add_refs(1);
        }
        unit.maybe_flush().await?;
    }
    Ok(())
}
