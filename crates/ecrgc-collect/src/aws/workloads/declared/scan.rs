//! Finding ECR image URIs in text: every form the reference parser knows
//! (`ecrgc_model::image_ref`), wherever it stands — a YAML value, a JSON string, a Helm
//! values file, a Dockerfile `FROM`, a Terraform string, a line of prose.
//!
//! A candidate starts at a 12-digit account id directly followed by `.dkr` (the registry
//! host of every ECR endpoint form: `.dkr.ecr.`, `.dkr.ecr-fips.`, `.dkr-ecr.`,
//! `.dkr-ecr-fips.`) and not preceded by another host character, and runs as long as the
//! characters can belong to an image reference (`A-Z a-z 0-9 . _ - / : @`). Trailing `:`
//! and `/` are punctuation, never part of a reference. A trailing `.` may be either (the end
//! of a sentence, or the last character of a tag, which the grammar allows), so both
//! readings are kept. A candidate that names the registry but does not parse is kept too:
//! the plan then keeps every image of that registry (`malformed_reference`).
//!
//! A candidate naming a repository with neither tag nor digest (Helm values often give the
//! tag on another line: `repository: …/web` then `tag: v1`) is reported as such; the plan
//! protects every image of that repository for it (`sql/views/image_refs.sql`).

/// One image URI found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// 1-based line number.
    pub line: usize,
    /// The URI as written.
    pub uri: String,
    /// Whether it names a repository alone (no `:tag`, no `@digest`).
    pub repository_only: bool,
}

fn is_ref_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
}

fn is_host_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')
}

/// Every ECR image URI of `text`, in order.
pub(crate) fn scan(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        let mut from = 0;
        while let Some(at) = line[from..].find(".dkr").map(|i| i + from) {
            from = at + 4;
            if at < 12 {
                continue;
            }
            let start = at - 12;
            let account = &bytes[start..at];
            if !account.iter().all(u8::is_ascii_digit)
                || (start > 0 && is_host_char(bytes[start - 1]))
            {
                continue;
            }
            let mut end = at;
            while end < bytes.len() && is_ref_char(bytes[end]) {
                end += 1;
            }
            from = end.max(from);
            let mut uri = &line[start..end];
            uri = uri.trim_end_matches([':', '/']);
            let mut readings = vec![uri];
            if let Some(stripped) = uri.strip_suffix('.') {
                readings.push(stripped.trim_end_matches([':', '/', '.']));
            }
            for uri in readings {
                out.push(Found {
                    line: index + 1,
                    uri: uri.to_owned(),
                    repository_only: repository_only(uri),
                });
            }
        }
    }
    out
}

/// Whether a URI names its repository without a tag or a digest.
fn repository_only(uri: &str) -> bool {
    let Some((_, path)) = uri.split_once('/') else {
        return false;
    };
    !path.contains('@') && !path.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

    fn uris(text: &str) -> Vec<(usize, String, bool)> {
        scan(text)
            .into_iter()
            .map(|f| (f.line, f.uri, f.repository_only))
            .collect()
    }

    #[test]
    fn uris_are_found_in_yaml_json_and_prose() {
        let digest = format!("sha256:{}", "c".repeat(64));
        let text = format!(
            "spec:\n  image: {HOST}/web:v1\n  other: \"{HOST}/api@{digest}\",\n\
             FROM {HOST}/base:2024 AS build\nsee https://{HOST}/docs:latest.\n"
        );
        assert_eq!(
            uris(&text),
            vec![
                (2, format!("{HOST}/web:v1"), false),
                (3, format!("{HOST}/api@{digest}"), false),
                (4, format!("{HOST}/base:2024"), false),
                (5, format!("{HOST}/docs:latest."), false),
                (5, format!("{HOST}/docs:latest"), false),
            ]
        );
    }

    #[test]
    fn every_endpoint_form_is_found() {
        for host in [
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            "123456789012.dkr-ecr.eu-west-1.on.aws",
            "123456789012.dkr-ecr-fips.us-east-1.on.aws",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com:443",
        ] {
            let text = format!("image: '{host}/web:v1'");
            assert_eq!(uris(&text), vec![(1, format!("{host}/web:v1"), false)]);
        }
    }

    #[test]
    fn a_repository_without_tag_is_marked_and_lookalikes_are_not_found() {
        let text = format!(
            "repository: {HOST}/team/web\ntag: v1\nx: 9123456789012.dkr.ecr.eu-west-1.amazonaws.com/a:1\n\
             y: 12345.dkr.ecr.eu-west-1.amazonaws.com/b:1\n"
        );
        assert_eq!(uris(&text), vec![(1, format!("{HOST}/team/web"), true)]);
    }
}
