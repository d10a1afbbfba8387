//! Layer inventory (`collect --layers`): the config and layer blobs of every single-platform
//! image manifest, for the bytes a deletion actually frees once layer sharing is counted.
//!
//! BatchGetImage is ECR's pull API: every call counts as a pull and moves
//! `lastRecordedPullTime`, the signal the `recent_pull` guard and the `not_pulled` rule
//! read. So layers are read only when asked for, only for digests new to the store (see
//! [`super::prior`]), and each registry account × region first checks
//! ListPullTimeUpdateExclusions for the collector's own principal (whatever is read: image
//! indexes are read too); the answer is recorded as a `pull_time_exclusion` coverage unit
//! (`ok`, `not_excluded`, or the failure of the check) and with every read in
//! `manifest_reads`, so that a later plan can tell which pull times the collector may have
//! moved.
//!
//! Which images: `ACTIVE` ones whose manifest is Docker v2 schema 2 or an OCI image
//! manifest (signatures and other referrers included: they are small and come in the same
//! calls). Indexes have no blobs of their own, archived images cannot be fetched, and other
//! manifest types (Docker v2 schema 1) are not parsed. A repository's layers are read whole
//! or not at all: one failed call or one malformed manifest skips the repository's layers
//! and is reported in the `ecr_layers` coverage unit, while its inventory stays in the run.

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::ImageIdentifier;
use ecrgc_aws::Failure;
use ecrgc_aws::pages::TokenGuard;

use super::manifest::{IMAGE_MANIFEST_MEDIA_TYPES, ImageBlobs, parse_image_manifest};
use super::unit::Api;

/// Image ids per BatchGetImage call (the API's maximum).
const BATCH_GET_IDS: usize = 100;

/// Reads the blobs of `digests` (images of `repo` whose manifests are of a type in
/// [`IMAGE_MANIFEST_MEDIA_TYPES`]), 100 per BatchGetImage call. Any failure fails the whole
/// repository, so that its layers are written whole or not at all.
pub(crate) async fn read_repository_layers(
    api: &Api,
    ecr: &Client,
    repo: &str,
    digests: &[&str],
) -> Result<Vec<ImageBlobs>, Failure> {
    let mut out = Vec::with_capacity(digests.len());
    for chunk in digests.chunks(BATCH_GET_IDS) {
        let ids: Vec<ImageIdentifier> = chunk
            .iter()
            .map(|d| ImageIdentifier::builder().image_digest(*d).build())
            .collect();
        let got = api
            .call("ecr:BatchGetImage", || {
                ecr.batch_get_image()
                    .repository_name(repo)
                    .set_image_ids(Some(ids.clone()))
                    .set_accepted_media_types(Some(
                        IMAGE_MANIFEST_MEDIA_TYPES
                            .iter()
                            .map(|s| (*s).to_owned())
                            .collect(),
                    ))
                    .send()
            })
            .await?;
        if let Some(f) = got.failures().first() {
            let id = f.image_id();
            let which = id
                .and_then(|i| i.image_digest())
                .or_else(|| id.and_then(|i| i.image_tag()))
                .unwrap_or("?");
            return Err(Failure::other(format!(
                "ecr:BatchGetImage {which}: {} {}",
                f.failure_code().map(|c| c.as_str()).unwrap_or_default(),
                f.failure_reason().unwrap_or_default()
            )));
        }
        let mut answered = Vec::with_capacity(chunk.len());
        for image in got.images() {
            let Some(digest) = image.image_id().and_then(|i| i.image_digest()) else {
                continue;
            };
            // Asked by digest, so a digest is answered once; a repeat would double rows.
            if answered.contains(&digest) || !chunk.contains(&digest) {
                continue;
            }
            let blobs = parse_image_manifest(image.image_manifest().unwrap_or_default())
                .map_err(|e| Failure::other(format!("image manifest {digest}: {e}")))?;
            answered.push(digest);
            out.push(ImageBlobs {
                image_digest: digest.to_owned(),
                blobs,
            });
        }
        if let Some(missing) = chunk.iter().find(|d| !answered.contains(d)) {
            return Err(Failure::other(format!(
                "ecr:BatchGetImage returned no manifest for {missing}"
            )));
        }
    }
    Ok(out)
}

/// Whether ECR leaves the pulls of `principal` out of `lastRecordedPullTime` in the
/// client's account and region (ListPullTimeUpdateExclusions, every page).
pub(crate) async fn pull_time_excluded(
    api: &Api,
    ecr: &Client,
    principal: &str,
) -> Result<bool, Failure> {
    let mut token: Option<String> = None;
    let mut guard = TokenGuard::new("ecr:ListPullTimeUpdateExclusions");
    loop {
        let page = api
            .call("ecr:ListPullTimeUpdateExclusions", || {
                ecr.list_pull_time_update_exclusions()
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        if page
            .pull_time_update_exclusions()
            .iter()
            .any(|arn| same_principal(principal, arn))
        {
            return Ok(true);
        }
        token = guard.next(page.next_token())?;
        if token.is_none() {
            return Ok(false);
        }
    }
}

/// Registers `principal_arn` (an IAM role or user ARN) as a pull-time update exclusion of
/// the client's registry (RegisterPullTimeUpdateExclusion). One that exists already
/// (`ExclusionAlreadyExistsException`) is success.
pub(crate) async fn register_exclusion(
    api: &Api,
    ecr: &Client,
    principal_arn: &str,
) -> Result<(), Failure> {
    match api
        .call("ecr:RegisterPullTimeUpdateExclusion", || {
            ecr.register_pull_time_update_exclusion()
                .principal_arn(principal_arn)
                .send()
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(f) if f.code.as_deref() == Some("ExclusionAlreadyExistsException") => Ok(()),
        Err(f) => Err(f),
    }
}

/// Whether `arn` is what RegisterPullTimeUpdateExclusion takes: an IAM role or user ARN
/// (`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[\w+=,.@-]+(/[\w+=,.@-]+)*$`, at most
/// 200 characters, per the botocore model).
pub(crate) fn registrable(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let partition_ok = partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|p| {
            p.split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        });
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    };
    let resource_ok = resource.split_once('/').is_some_and(|(kind, rest)| {
        matches!(kind, "role" | "user") && rest.split('/').all(name_ok)
    });
    arn.len() <= 200
        && partition_ok
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource_ok
}

/// An IAM principal reduced to what identifies it: account, `role` or `user`, and name.
fn principal_key(arn: &str) -> Option<(&str, &'static str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (_arn, _partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    match service {
        // arn:aws:iam::A:role/path/NAME, arn:aws:iam::A:user/path/NAME
        "iam" => {
            let (kind, rest) = resource.split_once('/')?;
            let name = rest.rsplit('/').next()?;
            match kind {
                "role" => Some((account, "role", name)),
                "user" => Some((account, "user", name)),
                _ => None,
            }
        }
        // arn:aws:sts::A:assumed-role/NAME/SESSION: the role is what an exclusion names.
        "sts" => {
            let rest = resource.strip_prefix("assumed-role/")?;
            let name = rest.split('/').next()?;
            Some((account, "role", name))
        }
        _ => None,
    }
}

/// Whether an exclusion registered for `registered` covers calls made as `caller`. Role
/// paths are not in an assumed-role ARN, so roles compare by account and name.
pub(crate) fn same_principal(caller: &str, registered: &str) -> bool {
    caller == registered
        || matches!(
            (principal_key(caller), principal_key(registered)),
            (Some(a), Some(b)) if a == b
        )
}

/// The role or user an exclusion would have to name for `principal`, for the warning.
pub(crate) fn exclusion_arn(principal: &str) -> String {
    match (principal.split(':').nth(1), principal_key(principal)) {
        (Some(partition), Some((account, kind, name))) if principal.contains(":sts:") => {
            format!("arn:{partition}:iam::{account}:{kind}/{name}")
        }
        _ => principal.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclusion_covers_the_role_it_names_whatever_its_path() {
        let role = "arn:aws:iam::111111111111:role/ecrgc-collector";
        assert!(same_principal(role, role));
        assert!(same_principal(
            "arn:aws:sts::111111111111:assumed-role/ecrgc-collector/ecrgc",
            role
        ));
        assert!(same_principal(
            "arn:aws:sts::111111111111:assumed-role/ecrgc-collector/ecrgc",
            "arn:aws:iam::111111111111:role/platform/ecrgc-collector"
        ));
        assert!(!same_principal(
            role,
            "arn:aws:iam::222222222222:role/ecrgc-collector"
        ));
        assert!(!same_principal(
            role,
            "arn:aws:iam::111111111111:user/ecrgc-collector"
        ));
        assert!(same_principal(
            "arn:aws:iam::111111111111:user/ops/ci",
            "arn:aws:iam::111111111111:user/ops/ci"
        ));
        assert!(!same_principal(
            role,
            "arn:aws:iam::111111111111:role/other"
        ));
        assert!(!same_principal("not-an-arn", role));
    }

    #[test]
    fn only_iam_role_and_user_arns_can_be_registered() {
        assert!(registrable(
            "arn:aws:iam::111111111111:role/ecrgc-collector"
        ));
        assert!(registrable(
            "arn:aws:iam::111111111111:role/platform/ecrgc-collector"
        ));
        assert!(registrable("arn:aws-cn:iam::111111111111:user/ci"));
        assert!(registrable("arn:aws-us-gov:iam::111111111111:role/x"));
        assert!(!registrable("arn:aws:sts::111111111111:assumed-role/r/s"));
        assert!(!registrable("arn:aws:sts::111111111111:user/moto"));
        assert!(!registrable("arn:aws:iam::111111111111:root"));
        assert!(!registrable("arn:aws:iam::1111:role/x"));
        assert!(!registrable("arn:aws:iam::111111111111:group/x"));
        assert!(!registrable("arn:aws:iam::111111111111:role/"));
        assert!(!registrable("arn:aws:iam::111111111111:role/a b"));
    }

    #[test]
    fn the_warning_names_the_role_to_register() {
        assert_eq!(
            exclusion_arn("arn:aws:sts::111111111111:assumed-role/ecrgc-collector/ecrgc"),
            "arn:aws:iam::111111111111:role/ecrgc-collector"
        );
        assert_eq!(
            exclusion_arn("arn:aws:iam::222222222222:role/ecrgc-collector"),
            "arn:aws:iam::222222222222:role/ecrgc-collector"
        );
    }
}
