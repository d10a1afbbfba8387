//! ECR inventory of one registry account and region: repositories with their tags,
//! mutability, lifecycle and pull grants; every image; index → child edges (BatchGetImage,
//! only for image indexes, since it counts as a pull); OCI referrers and cosign tags. With
//! `--layers`, also the blobs of every single-platform image (see [`super::layers`]),
//! recorded as their own coverage units; and the registry's settings (replication, pull
//! through cache rules, creation templates; see [`super::registry`]).
//!
//! Read-only in effect. ECR updates `lastRecordedPullTime` on every pull, BatchGetImage
//! included, except pulls by Inspector and by the IAM principals on the registry's
//! pull-time update exclusion list (ECR user guide, "Pull-time update exclusions"). So:
//! - a manifest is read at most once per digest per store: the children of an index and the
//!   blobs of an image that an earlier committed run read are reused ([`super::prior`]),
//!   and only digests new to the store are read; every read is a `manifest_reads` row;
//! - the principal's exclusion is checked in every registry account and region
//!   (ListPullTimeUpdateExclusions) and recorded as the `pull_time_exclusion` unit;
//! - with `--register-pull-time-exclusion`, a missing exclusion is registered with
//!   RegisterPullTimeUpdateExclusion (botocore `ecr` model: input `principalArn`, required,
//!   at most 200 characters, `^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/…$`; output
//!   `principalArn`, `createdAt`; errors `InvalidParameterException`,
//!   `ExclusionAlreadyExistsException` (taken as success), `LimitExceededException` (100
//!   exclusions per account), `ValidationException`, `ServerException`). The ARN registered
//!   is the role of the assumed-role session (`arn:aws:iam::A:role/NAME`, no path).
//!
//! A repository is written whole or not at all: when one of its calls fails for good, none
//! of its rows are written (a half-read index would leave its children looking like
//! orphans) and the unit records the failure. Images that are not in the snapshot can never
//! be planned for deletion.

mod facts;
mod relations;
mod rows;

use std::collections::BTreeSet;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::{DescribeImagesFilter, ImageStatusFilter};
use ecrgc_aws::Failure;
use ecrgc_aws::pages::TokenGuard;
use futures::StreamExt;

use super::layers;
use super::manifest::{IMAGE_MANIFEST_MEDIA_TYPES, ImageBlobs};
use super::policy::{Grant, pull_grants};
use super::prior::Prior;
use super::unit::{Api, Outcome, SideUnit, Unit, UnitError, micros};
use facts::{Image, Reads, Repository, RepositoryData};
use relations::relations;
use rows::{append, append_layers, append_reads};

/// How the ECR unit reads manifests.
pub(crate) struct ManifestReading<'a> {
    /// The principal the calls are made as, whose pull-time update exclusion is checked.
    pub principal: &'a str,
    /// Read the layers of every single-platform image too (`--layers`).
    pub layers: bool,
    /// Register the principal's exclusion where it is missing
    /// (`--register-pull-time-exclusion`).
    pub register_exclusion: bool,
}

/// Collects the registry of the unit's account and region. The pull-time update exclusion
/// of the principal is checked first (and registered when asked), since any manifest read
/// (an image index, or an image for its layers) is a pull; then the inventory, with the
/// layers of every repository when asked for.
pub(crate) async fn collect(
    unit: &mut Unit,
    ecr: &Client,
    reading: ManifestReading<'_>,
) -> Result<(), UnitError> {
    // The registry's settings first: they are their own coverage units, whatever happens
    // to the inventory.
    super::registry::collect(unit, ecr).await;
    let exclusion = check_exclusion(unit, ecr, &reading).await;
    unit.extra.push(exclusion.clone());
    let status = exclusion.status;
    if !reading.layers {
        return inventory(unit, ecr, None, &status).await;
    }
    let mut side = SideUnit::new(unit, "ecr_layers");
    let result = inventory(unit, ecr, Some(&mut side), &status).await;
    let failed = match &result {
        Err(UnitError::Failed(f)) => Some(f.clone().context("ECR inventory not read")),
        _ => None,
    };
    unit.extra.push(side.outcome(failed.as_ref()));
    result
}

/// The `pull_time_exclusion` unit: whether ECR leaves the principal's pulls out of
/// `lastRecordedPullTime` here (ListPullTimeUpdateExclusions), registering the exclusion
/// with RegisterPullTimeUpdateExclusion when it is missing and `--register-pull-time-exclusion`
/// asks for it.
async fn check_exclusion(unit: &Unit, ecr: &Client, reading: &ManifestReading<'_>) -> Outcome {
    let principal = reading.principal;
    let check = SideUnit::new(unit, "pull_time_exclusion");
    let arn = layers::exclusion_arn(principal);
    match layers::pull_time_excluded(&check.api, ecr, principal).await {
        Ok(true) => check.outcome_as("ok".to_owned(), None),
        Ok(false) if reading.register_exclusion && !layers::registrable(&arn) => check.outcome_as(
            "not_excluded".to_owned(),
            Some(format!(
                "{principal} has no pull-time update exclusion here, and is not an IAM \
                     role or user ARN that --register-pull-time-exclusion could register, so \
                     the manifests the collector reads move lastRecordedPullTime; exclude the \
                     role or user behind it by hand: aws ecr \
                     register-pull-time-update-exclusion --principal-arn ARN --region {}",
                unit.api.region
            )),
        ),
        Ok(false) if reading.register_exclusion => {
            match layers::register_exclusion(&check.api, ecr, &arn).await {
                Ok(()) => check.outcome_as(
                    "ok".to_owned(),
                    Some(format!(
                        "registered a pull-time update exclusion for {arn} \
                         (--register-pull-time-exclusion)"
                    )),
                ),
                Err(f) => {
                    let f = f.context(format!(
                        "{principal} has no pull-time update exclusion here and registering \
                         one for {arn} failed, so manifests the collector reads move \
                         lastRecordedPullTime"
                    ));
                    check.outcome(Some(&f))
                }
            }
        }
        Ok(false) => check.outcome_as(
            "not_excluded".to_owned(),
            Some(format!(
                "{principal} has no pull-time update exclusion here, so the manifests the \
                 collector reads with BatchGetImage (image indexes new to the store, and \
                 images with --layers) move lastRecordedPullTime; register one with \
                 `ecrgc collect --register-pull-time-exclusion` or: aws ecr \
                 register-pull-time-update-exclusion --principal-arn {arn} --region {}",
                unit.api.region
            )),
        ),
        Err(f) => {
            let f = f.context(
                "could not check the pull-time update exclusion, so manifests the collector \
                 reads may move lastRecordedPullTime",
            );
            check.outcome(Some(&f))
        }
    }
}

/// The inventory, with each repository's layers when `layers` is given. `exclusion` is the
/// status of the `pull_time_exclusion` unit, recorded with every manifest read tonight.
async fn inventory(
    unit: &mut Unit,
    ecr: &Client,
    layers: Option<&mut SideUnit>,
    exclusion: &str,
) -> Result<(), UnitError> {
    let repos = list_repositories(&unit.api, ecr).await?;
    let fan_out = unit.ctx.fan_out;
    let prior = unit.ctx.prior.clone();
    let reads = Reads {
        now: unit.ctx.now,
        run_id: unit.ctx.run_id.clone(),
        exclusion: exclusion.to_owned(),
    };
    let api = &unit.api;
    let layer_api = layers.as_ref().map(|side| &side.api);
    let (mut layer_rows, mut layer_partial) = (0u64, Vec::new());
    let mut repo_reads = futures::stream::iter(repos)
        .map(|repo| read_repository(api, layer_api, ecr, &prior, repo))
        .buffer_unordered(fan_out);
    while let Some(read) = repo_reads.next().await {
        match read {
            Ok(data) => {
                let n = data.images.len() as u64;
                append(&mut unit.tables, api, &data);
                append_reads(&mut unit.tables, api, &data, &prior, &reads);
                match &data.layers {
                    Some(Ok(images)) => {
                        layer_rows += append_layers(&mut unit.tables, api, &data.repo.name, images);
                    }
                    Some(Err(f)) => layer_partial.push(f.clone()),
                    None => {}
                }
                unit.items += n;
                unit.ctx.progress.add_images(n);
                unit.tables.maybe_flush(&unit.ctx.sink).await?;
            }
            Err(f) => unit.partial.push(f),
        }
    }
    drop(repo_reads);
    if let Some(side) = layers {
        side.items += layer_rows;
        side.partial.extend(layer_partial);
    }
    Ok(())
}

async fn list_repositories(api: &Api, ecr: &Client) -> Result<Vec<Repository>, Failure> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut guard = TokenGuard::new("ecr:DescribeRepositories");
    loop {
        let page = api
            .call("ecr:DescribeRepositories", || {
                ecr.describe_repositories()
                    .max_results(1000)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for r in page.repositories() {
            let (Some(name), Some(arn)) = (r.repository_name(), r.repository_arn()) else {
                continue;
            };
            out.push(Repository {
                name: name.to_owned(),
                arn: arn.to_owned(),
                created_at: r.created_at().map(micros),
                mutability: r
                    .image_tag_mutability()
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_else(|| "MUTABLE".to_owned()),
            });
        }
        token = guard.next(page.next_token())?;
        if token.is_none() {
            return Ok(out);
        }
    }
}

async fn read_repository(
    api: &Api,
    layer_api: Option<&Api>,
    ecr: &Client,
    prior: &Prior,
    repo: Repository,
) -> Result<RepositoryData, Failure> {
    let in_repo = |f: Failure| f.context(format!("repository {}", repo.name));
    // Tags decide opt-in and exclusion: without them the repository cannot be judged.
    let tags = api
        .call("ecr:ListTagsForResource", || {
            ecr.list_tags_for_resource().resource_arn(&repo.arn).send()
        })
        .await
        .map_err(in_repo)?
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    let lifecycle = match api
        .call("ecr:GetLifecyclePolicy", || {
            ecr.get_lifecycle_policy()
                .repository_name(&repo.name)
                .send()
        })
        .await
    {
        Ok(out) => out.lifecycle_policy_text().map(str::to_owned),
        Err(f) if f.code.as_deref() == Some("LifecyclePolicyNotFoundException") => None,
        Err(f) => return Err(in_repo(f)),
    };
    // The registry's own account always pulls; a policy adds others. A policy that cannot be
    // read counts as "anyone", which only blocks more.
    let pullers = match api
        .call("ecr:GetRepositoryPolicy", || {
            ecr.get_repository_policy()
                .repository_name(&repo.name)
                .send()
        })
        .await
    {
        Ok(out) => out.policy_text().map(pull_grants).unwrap_or_default(),
        Err(f) if f.code.as_deref() == Some("RepositoryPolicyNotFoundException") => BTreeSet::new(),
        Err(f) => BTreeSet::from([Grant::unknown(&format!(
            "repository policy not readable: {}",
            f.message
        ))]),
    };
    let images = describe_images(api, ecr, &repo.name)
        .await
        .map_err(in_repo)?;
    let (relations, mut read) = relations(api, ecr, prior, &repo.name, &images)
        .await
        .map_err(in_repo)?;
    // Read after the inventory, so that a failure here costs the layers only.
    let layers = match layer_api {
        Some(layer_api) => {
            let digests: Vec<&str> = images
                .iter()
                .filter(|i| {
                    i.status == "ACTIVE"
                        && IMAGE_MANIFEST_MEDIA_TYPES.contains(&i.media_type.as_str())
                })
                .map(|i| i.digest.as_str())
                .collect();
            let got = repository_layers(layer_api, ecr, prior, &repo.name, &digests)
                .await
                .map_err(in_repo);
            Some(got.map(|(blobs, fresh)| {
                read.extend(fresh.into_iter().map(|d| (d, "image")));
                blobs
            }))
        }
        None => None,
    };
    Ok(RepositoryData {
        repo,
        tags,
        lifecycle,
        pullers,
        images,
        relations,
        layers,
        read,
    })
}

/// The blobs of `digests`: those of digests whose manifests the store already holds, and
/// BatchGetImage for the others only. Also gives the digests read now.
async fn repository_layers(
    api: &Api,
    ecr: &Client,
    prior: &Prior,
    repo: &str,
    digests: &[&str],
) -> Result<(Vec<ImageBlobs>, Vec<String>), Failure> {
    let mut out = Vec::with_capacity(digests.len());
    let mut unknown = Vec::new();
    for digest in digests {
        match prior.blobs(digest) {
            Some(blobs) => out.push(ImageBlobs {
                image_digest: (*digest).to_owned(),
                blobs,
            }),
            None => unknown.push(*digest),
        }
    }
    let fresh = layers::read_repository_layers(api, ecr, repo, &unknown).await?;
    let mut read = Vec::with_capacity(fresh.len());
    for image in fresh {
        prior.read_blobs(&image.image_digest, image.blobs.clone());
        read.push(image.image_digest.clone());
        out.push(image);
    }
    out.sort_by(|a, b| a.image_digest.cmp(&b.image_digest));
    Ok((out, read))
}

async fn describe_images(api: &Api, ecr: &Client, repo: &str) -> Result<Vec<Image>, Failure> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut guard = TokenGuard::new("ecr:DescribeImages");
    // DescribeImages lists ACTIVE images only unless asked for ANY; archived images must be
    // in the snapshot too (they are protected, and they still cost storage).
    let any_status = DescribeImagesFilter::builder()
        .image_status(ImageStatusFilter::Any)
        .build();
    loop {
        let page = api
            .call("ecr:DescribeImages", || {
                ecr.describe_images()
                    .repository_name(repo)
                    .filter(any_status.clone())
                    .max_results(1000)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for d in page.image_details() {
            let Some(digest) = d.image_digest() else {
                continue;
            };
            let mut tags = d.image_tags().to_vec();
            tags.sort();
            out.push(Image {
                digest: digest.to_owned(),
                pushed_at: d.image_pushed_at().map(micros).unwrap_or(0),
                size: d.image_size_in_bytes().unwrap_or(0),
                media_type: d.image_manifest_media_type().unwrap_or_default().to_owned(),
                artifact_media_type: d.artifact_media_type().map(str::to_owned),
                last_pull: d.last_recorded_pull_time().map(micros),
                status: d
                    .image_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| "ACTIVE".to_owned()),
                subject: d.subject_manifest_digest().map(str::to_owned),
                tags,
            });
        }
        token = guard.next(page.next_token())?;
        if token.is_none() {
            break;
        }
    }
    // DescribeImages pages have no defined order; a stable one keeps runs comparable.
    out.sort_by(|a, b| a.digest.cmp(&b.digest));
    out.dedup_by(|a, b| a.digest == b.digest);
    Ok(out)
}
