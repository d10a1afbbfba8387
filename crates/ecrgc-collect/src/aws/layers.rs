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

use std::fmt;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::ImageIdentifier;
use ecrgc_aws::Failure;
use ecrgc_aws::pages::TokenGuard;
use serde_json::Value;

use super::unit::Api;

/// Manifest media types whose blobs are read: Docker v2 schema 2 and OCI image manifest.
pub(crate) const IMAGE_MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
];

/// Layer media types ECR does not store: the manifest points elsewhere for them.
const FOREIGN_LAYER_MEDIA_TYPES: &[&str] = &[
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
];

/// Image ids per BatchGetImage call (the API's maximum).
const BATCH_GET_IDS: usize = 100;

/// One blob an image manifest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blob {
    /// Digest of the blob.
    pub digest: String,
    /// Size the manifest states.
    pub size: i64,
    /// Media type of the blob (empty when the manifest gives none).
    pub media_type: String,
    /// `config`, `layer` or `foreign`.
    pub kind: &'static str,
    /// Position in `layers`; `None` for the config.
    pub index: Option<i64>,
}

/// The blobs of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageBlobs {
    /// Manifest digest of the image.
    pub image_digest: String,
    /// Its config first, then its layers in manifest order.
    pub blobs: Vec<Blob>,
}

/// Why an image manifest could not be read for its layers.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManifestError {
    /// Not JSON at all.
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not an image manifest of a type ecrgc reads.
    #[error("{field}: {problem}")]
    Field {
        /// Path of the offending field, e.g. `layers[2].size`.
        field: String,
        /// What is wrong with it, with the value found.
        problem: String,
    },
}

fn bad(field: impl Into<String>, problem: impl fmt::Display) -> ManifestError {
    ManifestError::Field {
        field: field.into(),
        problem: problem.to_string(),
    }
}

/// Short rendering of a JSON value for error messages.
fn shown(v: Option<&Value>) -> String {
    match v {
        None => "missing".to_owned(),
        Some(v) => {
            let mut s = v.to_string();
            if s.len() > 80 {
                s.truncate(77);
                s.push_str("...");
            }
            format!("got {s}")
        }
    }
}

/// Parses a Docker v2 schema 2 or OCI image manifest into its config and layer blobs.
pub(crate) fn parse_image_manifest(text: &str) -> Result<Vec<Blob>, ManifestError> {
    let doc: Value = serde_json::from_str(text)?;
    let Some(obj) = doc.as_object() else {
        return Err(bad(
            "manifest",
            format!("expected an object, {}", shown(Some(&doc))),
        ));
    };
    match obj.get("schemaVersion").and_then(Value::as_i64) {
        Some(2) => {}
        _ => {
            return Err(bad(
                "schemaVersion",
                format!("expected 2, {}", shown(obj.get("schemaVersion"))),
            ));
        }
    }
    // OCI makes `mediaType` optional; when present it must be an image manifest (an index
    // has `manifests`, not `layers`, and is read elsewhere).
    if let Some(mt) = obj.get("mediaType")
        && !mt
            .as_str()
            .is_some_and(|m| IMAGE_MANIFEST_MEDIA_TYPES.contains(&m))
    {
        return Err(bad(
            "mediaType",
            format!(
                "expected {}, {}",
                IMAGE_MANIFEST_MEDIA_TYPES.join(" or "),
                shown(Some(mt))
            ),
        ));
    }
    let mut blobs = Vec::new();
    let config = obj.get("config").ok_or_else(|| bad("config", "missing"))?;
    blobs.push(descriptor(config, "config", None)?);
    let layers = match obj.get("layers") {
        Some(Value::Array(list)) => list,
        other => {
            return Err(bad("layers", format!("expected a list, {}", shown(other))));
        }
    };
    for (i, layer) in layers.iter().enumerate() {
        blobs.push(descriptor(layer, &format!("layers[{i}]"), Some(i as i64))?);
    }
    Ok(blobs)
}

/// One content descriptor (`{mediaType, digest, size, urls?}`).
fn descriptor(v: &Value, field: &str, index: Option<i64>) -> Result<Blob, ManifestError> {
    let Some(obj) = v.as_object() else {
        return Err(bad(
            field,
            format!("expected an object, {}", shown(Some(v))),
        ));
    };
    let digest = obj
        .get("digest")
        .and_then(Value::as_str)
        .filter(|d| is_digest(d))
        .ok_or_else(|| {
            bad(
                format!("{field}.digest"),
                format!("expected ALGORITHM:HEX, {}", shown(obj.get("digest"))),
            )
        })?;
    let size = obj
        .get("size")
        .and_then(Value::as_i64)
        .filter(|s| *s >= 0)
        .ok_or_else(|| {
            bad(
                format!("{field}.size"),
                format!(
                    "expected a non-negative integer, {}",
                    shown(obj.get("size"))
                ),
            )
        })?;
    let media_type = match obj.get("mediaType") {
        None => "",
        Some(Value::String(m)) => m.as_str(),
        Some(other) => {
            return Err(bad(
                format!("{field}.mediaType"),
                format!("expected a string, {}", shown(Some(other))),
            ));
        }
    };
    let kind = if index.is_none() {
        "config"
    } else if FOREIGN_LAYER_MEDIA_TYPES.contains(&media_type) {
        "foreign"
    } else {
        "layer"
    };
    Ok(Blob {
        digest: digest.to_owned(),
        size,
        media_type: media_type.to_owned(),
        kind,
        index,
    })
}

/// `algorithm:encoded`, as the OCI descriptor grammar has it (loosely: ECR checks the rest).
fn is_digest(d: &str) -> bool {
    d.split_once(':').is_some_and(|(alg, enc)| {
        !alg.is_empty()
            && !enc.is_empty()
            && alg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
            && enc
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b))
    })
}

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

    const DOCKER_V2: &str = r#"{
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": 7023, "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
             "size": 32654, "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"},
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
             "size": 16724, "digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b"},
            {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
             "size": 1024, "digest": "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736",
             "urls": ["https://example.com/base.tar.gz"]}
        ]
    }"#;

    const OCI: &str = r#"{
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "size": 1470, "digest": "sha256:aaaa"},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
             "size": 0, "digest": "sha256:bbbb"}
        ],
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}
    }"#;

    #[test]
    fn docker_v2_manifests_give_config_then_layers_in_order() {
        let blobs = parse_image_manifest(DOCKER_V2).expect("valid");
        assert_eq!(blobs.len(), 4);
        assert_eq!(blobs[0].kind, "config");
        assert_eq!(blobs[0].index, None);
        assert_eq!(blobs[0].size, 7023);
        assert_eq!(
            blobs[0].media_type,
            "application/vnd.docker.container.image.v1+json"
        );
        assert_eq!(
            (blobs[1].kind, blobs[1].index, blobs[1].size),
            ("layer", Some(0), 32654)
        );
        assert!(blobs[1].digest.starts_with("sha256:e692"));
        assert_eq!(
            (blobs[2].kind, blobs[2].index, blobs[2].size),
            ("layer", Some(1), 16724)
        );
        assert_eq!((blobs[3].kind, blobs[3].index), ("foreign", Some(2)));
    }

    #[test]
    fn oci_manifests_may_omit_their_media_type() {
        let blobs = parse_image_manifest(OCI).expect("valid");
        assert_eq!(
            blobs,
            vec![
                Blob {
                    digest: "sha256:aaaa".into(),
                    size: 1470,
                    media_type: "application/vnd.oci.image.config.v1+json".into(),
                    kind: "config",
                    index: None,
                },
                Blob {
                    digest: "sha256:bbbb".into(),
                    size: 0,
                    media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
                    kind: "layer",
                    index: Some(0),
                },
            ]
        );
    }

    #[test]
    fn malformed_manifests_name_the_field_and_the_value() {
        let cases = [
            ("{", "not valid JSON"),
            ("[]", "manifest: expected an object"),
            (
                r#"{"schemaVersion": 1}"#,
                "schemaVersion: expected 2, got 1",
            ),
            (
                r#"{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}"#,
                "mediaType: expected application/vnd.docker.distribution.manifest.v2+json or \
                 application/vnd.oci.image.manifest.v1+json, got \"application/vnd.oci.image.index.v1+json\"",
            ),
            (r#"{"schemaVersion": 2, "layers": []}"#, "config: missing"),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "sha256:aa", "size": 1}}"#,
                "layers: expected a list, missing",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "sha256:aa", "size": 1},
                    "layers": [{"digest": "sha256:bb", "size": 1}, {"digest": "sha256:cc", "size": "12"}]}"#,
                "layers[1].size: expected a non-negative integer, got \"12\"",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "sha256:aa", "size": -1}, "layers": []}"#,
                "config.size: expected a non-negative integer, got -1",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "sha256:aa", "size": 1},
                    "layers": [{"digest": "nodigest", "size": 1}]}"#,
                "layers[0].digest: expected ALGORITHM:HEX, got \"nodigest\"",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "sha256:aa", "size": 1},
                    "layers": [{"size": 1}]}"#,
                "layers[0].digest: expected ALGORITHM:HEX, missing",
            ),
            (
                r#"{"schemaVersion": 2, "config": {"digest": "sha256:aa", "size": 1, "mediaType": 3},
                    "layers": []}"#,
                "config.mediaType: expected a string, got 3",
            ),
        ];
        for (text, want) in cases {
            let got = parse_image_manifest(text).expect_err(text).to_string();
            assert!(got.starts_with(want), "{text}\n got: {got}\nwant: {want}");
        }
    }

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
