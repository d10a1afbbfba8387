//! Parsing of image strings as workloads name them: the one parser the collectors, the demo,
//! the report's `explain` and the executor's live reference sweep share.
//!
//! A private ECR image string is `REGISTRY/REPOSITORY` followed by `:TAG`, `@sha256:…` or
//! `:TAG@sha256:…` (neither means the tag `latest`), where `REGISTRY` is one of the
//! registry endpoints AWS lists for ECR (AWS General Reference, "Amazon ECR endpoints and
//! quotas", Service endpoints; "Endpoints and ARNs for Amazon Web Services in China" for the
//! `amazonaws.com.cn` suffix):
//!
//! | form | registry host |
//! |---|---|
//! | IPv4 | `ACCOUNT.dkr.ecr.REGION.amazonaws.com` |
//! | FIPS | `ACCOUNT.dkr.ecr-fips.REGION.amazonaws.com` |
//! | dual-stack | `ACCOUNT.dkr-ecr.REGION.on.aws` |
//! | dual-stack FIPS | `ACCOUNT.dkr-ecr-fips.REGION.on.aws` |
//! | China | `ACCOUNT.dkr.ecr.cn-REGION.amazonaws.com.cn` |
//!
//! optionally with the HTTPS port spelled out (`:443`); hosts are matched case-insensitively
//! (DNS names are). All forms name the same registry: the account and region decide which
//! images a reference can name, never the endpoint it goes through.
//!
//! Three outcomes, never a silent drop:
//!
//! * an ECR reference: `is_ecr`, with account, region, repository and tag and/or digest;
//! * a non-ECR image (Docker Hub, `public.ecr.aws`, `ghcr.io`, a lookalike host under a
//!   domain that is not AWS's…): kept in the data, marked, never matched to a registry;
//! * a string that names an ECR registry (its host is under an AWS domain and spells an ECR
//!   endpoint, or almost: an account id of the wrong length, another port, an unknown
//!   endpoint form) but does not parse as a reference to it: `parse_error` says why, and the
//!   account and region are filled in when the host names them. Such a reference is not
//!   matched to an image (its repository, tag or digest cannot be trusted), so the plan keeps
//!   every image of the registry it names (`usage_coverage_gap`, status
//!   `malformed_reference`) and reports it per source. AWS documents no other registry host
//!   for ECR, so the safe reading of anything else on an ECR-looking AWS host is "this may
//!   be a use of that registry".
//!
//! Names follow the ECR API's patterns (botocore `ecr` service model): a repository name is
//! 2 to 256 characters of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` segments joined by `/`; a tag
//! is 1 to 300 characters (ECR's `ImageTag`), and an image reference tag follows the
//! distribution grammar `[A-Za-z0-9_][A-Za-z0-9_.-]*`; an ECR digest is `sha256:` and 64
//! lowercase hex digits.

/// The parts of an image string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Whether the string is a well-formed reference to a private ECR registry.
    pub is_ecr: bool,
    /// Registry account, for ECR images (and for malformed ones whose host names it).
    pub account_id: Option<String>,
    /// Registry region, for ECR images (and for malformed ones whose host names it).
    pub region: Option<String>,
    /// Repository (for non-ECR images, the path after the registry host).
    pub repository: String,
    /// Tag; `latest` is implied when neither tag nor digest is given.
    pub tag: Option<String>,
    /// Digest, `sha256:…`.
    pub digest: Option<String>,
    /// Why a string that names an ECR registry does not parse; `None` for well-formed ECR
    /// references and for non-ECR images.
    pub parse_error: Option<String>,
}

impl ImageRef {
    /// A string that names an ECR registry but is not a valid reference to it.
    pub fn is_malformed_ecr(&self) -> bool {
        self.parse_error.is_some()
    }
}

/// Parses an image string. Never fails: what is not ECR is returned as non-ECR, and what
/// looks like ECR without parsing carries a `parse_error`.
pub fn parse_image_ref(image: &str) -> ImageRef {
    let image = image.trim();
    // Docker's rule: the first path component is a registry host when it contains a `.` or
    // a `:`, or is `localhost`; otherwise the image is on Docker Hub.
    let (host, rest) = match image.split_once('/') {
        Some((h, p)) if h.contains('.') || h.contains(':') || h == "localhost" => (Some(h), p),
        Some(_) => (None, image),
        // No path at all: an ECR host alone (`ACCOUNT.dkr.ecr.REGION.amazonaws.com:v1`)
        // names a registry but no repository.
        None => {
            let bare = image.split('@').next().unwrap_or_default();
            let host = bare.rsplit_once(':').map_or(bare, |(h, _)| h);
            if let Host::Ecr {
                account, region, ..
            }
            | Host::EcrLike {
                account: Some(account),
                region: Some(region),
                ..
            } = classify_host(host)
            {
                return malformed(
                    Some(account),
                    Some(region),
                    "",
                    format!("{image:?} names the registry {host} but no repository"),
                );
            }
            (None, image)
        }
    };
    match host.map(classify_host) {
        Some(Host::Ecr {
            account,
            region,
            port,
        }) => {
            let mut r = malformed(Some(account), Some(region), rest, String::new());
            if let Some(port) = port.filter(|p| *p != "443") {
                r.parse_error = Some(format!(
                    "port {port}: ECR registries listen on HTTPS, 443, only"
                ));
                return r;
            }
            match parse_path(rest) {
                Ok((repository, tag, digest)) => ImageRef {
                    is_ecr: true,
                    repository,
                    tag,
                    digest,
                    parse_error: None,
                    ..r
                },
                Err(why) => {
                    r.parse_error = Some(why);
                    r
                }
            }
        }
        Some(Host::EcrLike {
            account,
            region,
            why,
        }) => malformed(account, region, rest, why),
        Some(Host::Other) | None => {
            let (repository, tag, digest) = split_loose(rest);
            ImageRef {
                is_ecr: false,
                account_id: None,
                region: None,
                repository,
                tag,
                digest,
                parse_error: None,
            }
        }
    }
}

/// A reference that names an ECR registry but is not valid: what the path loosely says is
/// kept for display, the registry for protection.
fn malformed(account: Option<String>, region: Option<String>, rest: &str, why: String) -> ImageRef {
    let (repository, tag, digest) = split_loose(rest);
    ImageRef {
        is_ecr: false,
        account_id: account,
        region,
        repository,
        tag,
        digest,
        parse_error: Some(why),
    }
}

/// What a registry host is.
enum Host {
    /// One of the documented ECR endpoint forms.
    Ecr {
        account: String,
        region: String,
        port: Option<String>,
    },
    /// Under an AWS domain and naming ECR, but not a documented endpoint form.
    EcrLike {
        account: Option<String>,
        region: Option<String>,
        why: String,
    },
    /// Anything else.
    Other,
}

/// Domains AWS serves ECR registries from (and the European Sovereign Cloud's, for which
/// no ECR endpoint form is documented here: any ECR-looking host there is kept unknown).
const AWS_SUFFIXES: &[&str] = &[
    ".amazonaws.com.cn",
    ".amazonaws.com",
    ".on.aws",
    ".amazonaws.eu",
];

fn classify_host(host: &str) -> Host {
    let lower = host.to_ascii_lowercase();
    let (name, port) = match lower.rsplit_once(':') {
        Some((n, p)) => (n, Some(p.to_owned())),
        None => (lower.as_str(), None),
    };
    let Some(suffix) = AWS_SUFFIXES.iter().find(|s| name.ends_with(*s)) else {
        return Host::Other;
    };
    let labels: Vec<&str> = name[..name.len() - suffix.len()].split('.').collect();
    // Only hosts that spell ECR: `public.ecr.aws` is not under these suffixes, and
    // `s3.eu-west-1.amazonaws.com` names no ECR label.
    if !labels.iter().any(|l| l.contains("ecr")) {
        return Host::Other;
    }
    let account = labels
        .first()
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .map(|a| (*a).to_owned());
    let region = labels
        .last()
        .filter(|r| is_region(r))
        .map(|r| (*r).to_owned());
    let documented = match (*suffix, &labels[..]) {
        (".amazonaws.com", [_, "dkr", "ecr" | "ecr-fips", r]) => !r.starts_with("cn-"),
        (".amazonaws.com.cn", [_, "dkr", "ecr", r]) => r.starts_with("cn-"),
        (".on.aws", [_, "dkr-ecr" | "dkr-ecr-fips", r]) => !r.starts_with("cn-"),
        _ => false,
    };
    match (documented, account, region) {
        (true, Some(account), Some(region)) => Host::Ecr {
            account,
            region,
            port,
        },
        (_, account, region) => {
            let why = if documented && account.is_none() {
                format!(
                    "registry host {host}: the account id is not 12 digits ({:?})",
                    labels[0]
                )
            } else if documented {
                format!("registry host {host}: no region")
            } else {
                format!("registry host {host}: not an ECR endpoint form AWS documents")
            };
            Host::EcrLike {
                account,
                region,
                why,
            }
        }
    }
}

/// `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-3`…
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && (2..=4).contains(&parts[0].len())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// `REPO[:TAG][@DIGEST]` of an ECR reference, validated.
fn parse_path(rest: &str) -> Result<(String, Option<String>, Option<String>), String> {
    let (name_and_tag, digest) = match rest.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (rest, None),
    };
    let (name, tag) = match name_and_tag.split_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (name_and_tag, None),
    };
    if !is_repository_name(name) {
        return Err(format!("repository name {name:?} is not a valid ECR name"));
    }
    if let Some(t) = tag
        && !is_tag(t)
    {
        return Err(format!("tag {t:?} is not a valid tag"));
    }
    if let Some(d) = digest
        && !is_digest(d)
    {
        return Err(format!(
            "digest {d:?} is not sha256: and 64 lowercase hex digits"
        ));
    }
    let tag = match (tag, digest) {
        (None, None) => Some("latest".to_owned()),
        (t, _) => t.map(str::to_owned),
    };
    Ok((name.to_owned(), tag, digest.map(str::to_owned)))
}

/// The path of a non-ECR (or malformed) reference, split without judging it.
fn split_loose(rest: &str) -> (String, Option<String>, Option<String>) {
    let (name_and_tag, digest) = match rest.split_once('@') {
        Some((n, d)) => (n, Some(d.to_owned())),
        None => (rest, None),
    };
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
    (name.to_owned(), tag, digest)
}

/// ECR's `RepositoryName`: 2–256 characters,
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
fn is_repository_name(name: &str) -> bool {
    (2..=256).contains(&name.len()) && name.split('/').all(is_path_component)
}

fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or any number of `-`.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    (1..=300).contains(&b.len())
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
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

    fn ecr(region: &str, repo: &str, tag: Option<&str>, digest: Option<&str>) -> ImageRef {
        ImageRef {
            is_ecr: true,
            account_id: Some("111111111111".into()),
            region: Some(region.into()),
            repository: repo.into(),
            tag: tag.map(Into::into),
            digest: digest.map(Into::into),
            parse_error: None,
        }
    }

    #[test]
    fn parses_tag_digest_and_both() {
        let eu = "eu-west-1";
        assert_eq!(
            parse_image_ref(&format!("{HOST}/team/app:v1")),
            ecr(eu, "team/app", Some("v1"), None)
        );
        assert_eq!(
            parse_image_ref(&format!("{HOST}/app@{DIGEST}")),
            ecr(eu, "app", None, Some(DIGEST))
        );
        assert_eq!(
            parse_image_ref(&format!("{HOST}/app:v1@{DIGEST}")),
            ecr(eu, "app", Some("v1"), Some(DIGEST))
        );
        assert_eq!(
            parse_image_ref(&format!("{HOST}/app")),
            ecr(eu, "app", Some("latest"), None)
        );
        assert_eq!(
            parse_image_ref(&format!("  {HOST}/docker-hub/library/nginx:1.27 ")),
            ecr(eu, "docker-hub/library/nginx", Some("1.27"), None)
        );
        assert_eq!(
            parse_image_ref(&format!("{HOST}/a__b/c--d.e_f:V1.0-rc_2")),
            ecr(eu, "a__b/c--d.e_f", Some("V1.0-rc_2"), None)
        );
    }

    #[test]
    fn every_documented_endpoint_form_names_the_same_registry() {
        for (host, region) in [
            ("111111111111.dkr.ecr.us-east-1.amazonaws.com", "us-east-1"),
            (
                "111111111111.dkr.ecr-fips.us-east-1.amazonaws.com",
                "us-east-1",
            ),
            ("111111111111.dkr-ecr.us-east-1.on.aws", "us-east-1"),
            ("111111111111.dkr-ecr-fips.us-east-1.on.aws", "us-east-1"),
            (
                "111111111111.dkr.ecr.us-east-1.amazonaws.com:443",
                "us-east-1",
            ),
            ("111111111111.dkr-ecr.us-east-1.on.aws:443", "us-east-1"),
            ("111111111111.DKR.ECR.US-EAST-1.AMAZONAWS.COM", "us-east-1"),
            (
                "111111111111.dkr.ecr.cn-north-1.amazonaws.com.cn",
                "cn-north-1",
            ),
            (
                "111111111111.dkr.ecr.cn-northwest-1.amazonaws.com.cn:443",
                "cn-northwest-1",
            ),
            (
                "111111111111.dkr.ecr.us-gov-west-1.amazonaws.com",
                "us-gov-west-1",
            ),
        ] {
            for (suffix, tag, digest) in [
                (":v1".to_owned(), Some("v1"), None),
                (format!("@{DIGEST}"), None, Some(DIGEST)),
                (format!(":v1@{DIGEST}"), Some("v1"), Some(DIGEST)),
            ] {
                let image = format!("{host}/team/app{suffix}");
                assert_eq!(
                    parse_image_ref(&image),
                    ecr(region, "team/app", tag, digest),
                    "{image}"
                );
            }
        }
    }

    #[test]
    fn non_ecr_images_are_marked_not_malformed() {
        for image in [
            "nginx",
            "nginx:1.27",
            "library/nginx@sha256:abc",
            "public.ecr.aws/nginx/nginx:latest",
            "ghcr.io/org/app@sha256:abc",
            "localhost:5000/app:v1",
            "registry.example.com:5000/team/app:v1",
            // Lookalikes under another domain: another registry, which no ECR image is in.
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com.evil.example/app:v1",
            "111111111111.dkr.ecr.eu-west-1.amazonaws.co/app:v1",
            "111111111111.dkr-ecr.eu-west-1.on.aws.example.net/app:v1",
            // AWS hosts that are not registries.
            "s3.eu-west-1.amazonaws.com/bucket/key",
        ] {
            let r = parse_image_ref(image);
            assert!(!r.is_ecr, "{image}");
            assert_eq!(r.parse_error, None, "{image}");
            assert_eq!(r.account_id, None, "{image}");
        }
        let r = parse_image_ref("localhost:5000/app:v1");
        assert_eq!(r.repository, "app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        let r = parse_image_ref("nginx");
        assert_eq!(
            (r.repository.as_str(), r.tag.as_deref()),
            ("nginx", Some("latest"))
        );
    }

    #[test]
    fn ecr_looking_strings_that_do_not_parse_are_malformed_with_their_registry() {
        // (image, account named, region named, words of the reason)
        let cases = [
            // wrong account length
            (
                "11111111111.dkr.ecr.eu-west-1.amazonaws.com/app:v1",
                None,
                Some("eu-west-1"),
                "not 12 digits",
            ),
            (
                "1111111111111.dkr-ecr.eu-west-1.on.aws/app:v1",
                None,
                Some("eu-west-1"),
                "not 12 digits",
            ),
            (
                "12345678901a.dkr.ecr-fips.eu-west-1.amazonaws.com/app:v1",
                None,
                Some("eu-west-1"),
                "not 12 digits",
            ),
            // a registry without a repository
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com:v1",
                Some("111111111111"),
                Some("eu-west-1"),
                "no repository",
            ),
            // another port
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com:5000/app:v1",
                Some("111111111111"),
                Some("eu-west-1"),
                "port 5000",
            ),
            (
                "111111111111.dkr-ecr.eu-west-1.on.aws:80/app:v1",
                Some("111111111111"),
                Some("eu-west-1"),
                "port 80",
            ),
            // undocumented endpoint forms on AWS domains
            (
                "111111111111.dkr.ecr.eu-west-1.on.aws/app:v1",
                Some("111111111111"),
                Some("eu-west-1"),
                "not an ECR endpoint form",
            ),
            (
                "111111111111.dkr.ecr.cn-north-1.amazonaws.com/app:v1",
                Some("111111111111"),
                Some("cn-north-1"),
                "not an ECR endpoint form",
            ),
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com.cn/app:v1",
                Some("111111111111"),
                Some("eu-west-1"),
                "not an ECR endpoint form",
            ),
            (
                "111111111111.ecr.eu-west-1.amazonaws.com/app:v1",
                Some("111111111111"),
                Some("eu-west-1"),
                "not an ECR endpoint form",
            ),
            (
                "dkr.ecr.eu-west-1.amazonaws.com/app:v1",
                None,
                Some("eu-west-1"),
                "not an ECR endpoint form",
            ),
            // bad path on a good host
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com/Team/App:v1",
                Some("111111111111"),
                Some("eu-west-1"),
                "repository name",
            ),
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com/",
                Some("111111111111"),
                Some("eu-west-1"),
                "repository name",
            ),
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com/app:",
                Some("111111111111"),
                Some("eu-west-1"),
                "tag",
            ),
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com/app:-v1",
                Some("111111111111"),
                Some("eu-west-1"),
                "tag",
            ),
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:abc",
                Some("111111111111"),
                Some("eu-west-1"),
                "digest",
            ),
            (
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com/app@md5:0123",
                Some("111111111111"),
                Some("eu-west-1"),
                "digest",
            ),
        ];
        for (image, account, region, why) in cases {
            let r = parse_image_ref(image);
            assert!(!r.is_ecr, "{image}");
            assert!(r.is_malformed_ecr(), "{image}");
            let error = r.parse_error.clone().unwrap_or_default();
            assert!(error.contains(why), "{image}: {error}");
            assert_eq!(r.account_id.as_deref(), account, "{image}");
            assert_eq!(r.region.as_deref(), region, "{image}");
        }
        // A digest with uppercase hex is not what ECR returns.
        let upper = DIGEST.to_ascii_uppercase().replace("SHA256", "sha256");
        assert!(parse_image_ref(&format!("{HOST}/app@{upper}")).is_malformed_ecr());
        // Two tags, or a path that ends in `/`.
        assert!(parse_image_ref(&format!("{HOST}/app:v1:v2")).is_malformed_ecr());
        assert!(parse_image_ref(&format!("{HOST}/team/:v1")).is_malformed_ecr());
    }

    #[test]
    fn regions_are_recognised_by_shape() {
        for r in [
            "eu-west-1",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-3",
            "eusc-de-east-1",
        ] {
            assert!(is_region(r), "{r}");
        }
        for r in [
            "eu-west",
            "euwest1",
            "eu-west-x",
            "EU-WEST-1",
            "e-west-1",
            "-west-1",
        ] {
            assert!(!is_region(r), "{r}");
        }
    }
}
