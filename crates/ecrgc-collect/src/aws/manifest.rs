//! Image manifests as ecrgc reads them for their layers: the config and layer blobs of a
//! Docker v2 schema 2 or OCI image manifest, every field checked, with errors that name the
//! offending field and value.

use std::fmt;

use serde_json::Value;

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
}
