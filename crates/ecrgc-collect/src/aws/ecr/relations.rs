//! The edges between the images of a repository: index → child (from the index manifests,
//! read with BatchGetImage only for indexes new to the store), OCI referrers
//! (`subjectManifestDigest`) and cosign tags.

use std::collections::HashSet;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::ImageIdentifier;
use ecrgc_aws::Failure;

use super::facts::{BATCH_GET_IDS, INDEX_MEDIA_TYPES, Image};
use crate::aws::prior::Prior;
use crate::aws::unit::Api;

/// Index children (from the index manifests), referrers (subjectManifestDigest) and cosign
/// tags (`sha256-<hex>.sig|.att|.sbom`).
/// The children of an index come from the store when its digest was read before; only
/// the indexes new to the store are read. Also gives the digests read now.
#[allow(clippy::type_complexity)]
pub(super) async fn relations(
    api: &Api,
    ecr: &Client,
    prior: &Prior,
    repo: &str,
    images: &[Image],
) -> Result<
    (
        Vec<(String, String, &'static str)>,
        Vec<(String, &'static str)>,
    ),
    Failure,
> {
    let digests: HashSet<&str> = images.iter().map(|i| i.digest.as_str()).collect();
    let mut out = Vec::new();
    for image in images {
        if let Some(subject) = &image.subject
            && subject != &image.digest
        {
            out.push((subject.clone(), image.digest.clone(), "referrer"));
        }
        for tag in &image.tags {
            if let Some(subject) = cosign_subject(tag)
                && subject != image.digest
                && digests.contains(subject.as_str())
            {
                out.push((subject, image.digest.clone(), "cosign_tag"));
            }
        }
    }
    let mut indexes: Vec<&str> = Vec::new();
    for image in images
        .iter()
        .filter(|i| INDEX_MEDIA_TYPES.contains(&i.media_type.as_str()))
    {
        match prior.index_children(&image.digest) {
            Some(children) => out.extend(
                children
                    .into_iter()
                    .filter(|c| c != &image.digest)
                    .map(|c| (image.digest.clone(), c, "index_child")),
            ),
            None => indexes.push(image.digest.as_str()),
        }
    }
    let mut read = Vec::new();
    for chunk in indexes.chunks(BATCH_GET_IDS) {
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
                        INDEX_MEDIA_TYPES.iter().map(|s| (*s).to_owned()).collect(),
                    ))
                    .send()
            })
            .await?;
        if let Some(f) = got.failures().first() {
            let digest = f.image_id().and_then(|i| i.image_digest()).unwrap_or("?");
            return Err(Failure::other(format!(
                "ecr:BatchGetImage {digest}: {} {}",
                f.failure_code().map(|c| c.as_str()).unwrap_or_default(),
                f.failure_reason().unwrap_or_default()
            )));
        }
        for img in got.images() {
            let Some(parent) = img.image_id().and_then(|i| i.image_digest()) else {
                continue;
            };
            let manifest = img.image_manifest().unwrap_or_default();
            let children = index_children(manifest).map_err(|e| {
                Failure::other(format!("index manifest {parent} is not valid JSON: {e}"))
            })?;
            if !chunk.contains(&parent) || read.iter().any(|(d, _)| d == parent) {
                continue;
            }
            prior.read_index(parent, children.clone());
            read.push((parent.to_owned(), "index"));
            for child in children {
                if child != parent {
                    out.push((parent.to_owned(), child, "index_child"));
                }
            }
        }
        // Every index asked for must be answered: a missing one would leave its children
        // looking parentless.
        if let Some(missing) = chunk.iter().find(|d| !read.iter().any(|(r, _)| r == *d)) {
            return Err(Failure::other(format!(
                "ecr:BatchGetImage returned no manifest for index {missing}"
            )));
        }
    }
    out.sort();
    out.dedup();
    Ok((out, read))
}

/// The subject digest a cosign-style tag names: `sha256-<hex>.sig` → `sha256:<hex>`.
pub(crate) fn cosign_subject(tag: &str) -> Option<String> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, suffix) = rest.split_once('.')?;
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    (valid && matches!(suffix, "sig" | "att" | "sbom")).then(|| format!("sha256:{hex}"))
}

/// The digests an image index lists.
pub(crate) fn index_children(manifest: &str) -> Result<Vec<String>, serde_json::Error> {
    let doc: serde_json::Value = serde_json::from_str(manifest)?;
    Ok(doc
        .get("manifests")
        .and_then(|m| m.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|m| m.get("digest").and_then(|d| d.as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosign_tags_name_their_subject() {
        let hex = "a".repeat(64);
        assert_eq!(
            cosign_subject(&format!("sha256-{hex}.sig")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            cosign_subject(&format!("sha256-{hex}.att")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            cosign_subject(&format!("sha256-{hex}.sbom")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(cosign_subject(&format!("sha256-{hex}.txt")), None);
        assert_eq!(cosign_subject("sha256-abc.sig"), None);
        assert_eq!(cosign_subject("v1.2"), None);
    }

    #[test]
    fn index_manifests_list_their_children() {
        let m = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
            "manifests":[{"digest":"sha256:aa","platform":{"architecture":"amd64"}},{"digest":"sha256:bb"}]}"#;
        assert_eq!(
            index_children(m).expect("valid"),
            vec!["sha256:aa", "sha256:bb"]
        );
        assert!(index_children("{").is_err());
    }
}
