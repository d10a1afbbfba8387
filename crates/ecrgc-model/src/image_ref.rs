//! Parsing of image strings as workloads name them.
//!
//! ECR image strings look like `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG`,
//! `…/REPO@sha256:…` or `…/REPO:TAG@sha256:…`. Anything else (Docker Hub, public.ecr.aws,
//! ghcr.io…) is a non-ECR image: kept in the data, marked, and never matched to a registry.

/// The parts of an image string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Whether the string names a private ECR registry.
    pub is_ecr: bool,
    /// Registry account, for ECR images.
    pub account_id: Option<String>,
    /// Registry region, for ECR images.
    pub region: Option<String>,
    /// Repository (for non-ECR images, the path after the registry host).
    pub repository: String,
    /// Tag; `latest` is implied when neither tag nor digest is given.
    pub tag: Option<String>,
    /// Digest, `sha256:…`.
    pub digest: Option<String>,
}

/// Parses an image string. Never fails: what is not ECR is returned as non-ECR.
pub fn parse_image_ref(image: &str) -> ImageRef {
    let image = image.trim();
    let (name_and_tag, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d.to_owned())),
        None => (image, None),
    };
    // A ':' after the last '/' separates the tag; one before it belongs to a registry port.
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_and_tag[..last_slash + i],
            Some(name_and_tag[last_slash + i + 1..].to_owned()),
        ),
        None => (name_and_tag, None),
    };
    let tag = match (tag, &digest) {
        (None, None) => Some("latest".to_owned()),
        (tag, _) => tag,
    };
    let (host, path) = match name.split_once('/') {
        Some((h, p)) if h.contains('.') || h.contains(':') || h == "localhost" => (Some(h), p),
        _ => (None, name),
    };
    if let Some((account_id, region)) = host.and_then(parse_ecr_host) {
        return ImageRef {
            is_ecr: true,
            account_id: Some(account_id),
            region: Some(region),
            repository: path.to_owned(),
            tag,
            digest,
        };
    }
    ImageRef {
        is_ecr: false,
        account_id: None,
        region: None,
        repository: path.to_owned(),
        tag,
        digest,
    }
}

/// `ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]` → (account, region).
fn parse_ecr_host(host: &str) -> Option<(String, String)> {
    let mut parts = host.splitn(4, '.');
    let account = parts.next()?;
    let dkr = parts.next()?;
    let ecr = parts.next()?;
    let rest = parts.next()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if dkr != "dkr" || !(ecr == "ecr" || ecr == "ecr-fips") {
        return None;
    }
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    if region.is_empty() || region.contains('.') {
        return None;
    }
    Some((account.to_owned(), region.to_owned()))
}

/// The registry host of an ECR account and region.
pub fn ecr_host(account_id: &str, region: &str) -> String {
    format!("{account_id}.dkr.ecr.{region}.amazonaws.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "111111111111.dkr.ecr.eu-west-1.amazonaws.com";
    const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn ecr(repo: &str, tag: Option<&str>, digest: Option<&str>) -> ImageRef {
        ImageRef {
            is_ecr: true,
            account_id: Some("111111111111".into()),
            region: Some("eu-west-1".into()),
            repository: repo.into(),
            tag: tag.map(Into::into),
            digest: digest.map(Into::into),
        }
    }

    #[test]
    fn parses_every_ecr_form() {
        assert_eq!(
            parse_image_ref(&format!("{HOST}/team/app:v1")),
            ecr("team/app", Some("v1"), None)
        );
        assert_eq!(
            parse_image_ref(&format!("{HOST}/app@{DIGEST}")),
            ecr("app", None, Some(DIGEST))
        );
        assert_eq!(
            parse_image_ref(&format!("{HOST}/app:v1@{DIGEST}")),
            ecr("app", Some("v1"), Some(DIGEST))
        );
        assert_eq!(
            parse_image_ref(&format!("{HOST}/app")),
            ecr("app", Some("latest"), None)
        );
        assert_eq!(
            parse_image_ref(&format!("{HOST}/docker-hub/library/nginx:1.27")),
            ecr("docker-hub/library/nginx", Some("1.27"), None)
        );
    }

    #[test]
    fn fips_and_china_hosts_are_ecr() {
        let r = parse_image_ref("111111111111.dkr.ecr-fips.us-east-1.amazonaws.com/app:v1");
        assert!(r.is_ecr);
        assert_eq!(r.region.as_deref(), Some("us-east-1"));
        let r = parse_image_ref("111111111111.dkr.ecr.cn-north-1.amazonaws.com.cn/app:v1");
        assert_eq!(r.region.as_deref(), Some("cn-north-1"));
    }

    #[test]
    fn non_ecr_images_are_marked() {
        for image in [
            "nginx",
            "nginx:1.27",
            "public.ecr.aws/nginx/nginx:latest",
            "ghcr.io/org/app@sha256:abc",
            "localhost:5000/app:v1",
            "11111111111.dkr.ecr.eu-west-1.amazonaws.com/app:v1",
        ] {
            assert!(!parse_image_ref(image).is_ecr, "{image}");
        }
        let r = parse_image_ref("localhost:5000/app:v1");
        assert_eq!(r.repository, "app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
    }
}
