//! The facts of every image the demo generates: age, tags, size, media type, Inspector
//! coverage, pulls and workload references, drawn build by build from a repository's
//! random stream. Facts are ages before `now`, so the organization moves with the clock.

use ecrgc_model::image_ref::ecr_host;
use ecrgc_model::time::{DAY, HOUR, Micros};

use super::organization::{DATA, PROD, Repo, SHORT_RESCAN, SHORT_RESCAN_DAYS, STAGING};
use crate::rng::Rng;

pub(super) const MEDIA_IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
pub(super) const MEDIA_DOCKER: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(super) const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(super) const COSIGN_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
pub(super) const SBOM_ARTIFACT: &str = "application/spdx+json";

/// A reference from a workload, as facts.
#[derive(Debug, Clone)]
pub(super) struct RefFact {
    pub(super) account: &'static str,
    pub(super) region: &'static str,
    pub(super) source: &'static str,
    pub(super) kind: &'static str,
    pub(super) arn: String,
    pub(super) status: &'static str,
    pub(super) status_age: Option<Micros>,
    pub(super) image_uri: String,
    pub(super) resolved_digest: Option<String>,
}

/// One image as facts; ages are durations before `now`.
#[derive(Debug, Clone)]
pub(super) struct ImageFact {
    pub(super) digest: String,
    pub(super) tags: Vec<String>,
    pub(super) age: Micros,
    pub(super) size: i64,
    pub(super) media_type: &'static str,
    pub(super) artifact_media_type: Option<&'static str>,
    pub(super) subject: Option<String>,
    /// Inspector coverage: last use age (None = never used) and in-use count.
    pub(super) coverage: Option<(Option<Micros>, i64)>,
    pub(super) pull_age: Option<Micros>,
    pub(super) refs: Vec<RefFact>,
    /// Parent digests within the unit, and the relation to them.
    pub(super) parents: Vec<(String, &'static str)>,
    /// Platform whose layers the image has: 0 amd64 (single-platform builds), 1 arm64.
    pub(super) platform: u64,
}

impl ImageFact {
    /// Whether Inspector still monitors the image (scan status `ACTIVE`): always under a
    /// lifetime push duration; in [`SHORT_RESCAN`] only while it was pushed or last used
    /// (or is in use) within the 14 days.
    pub(super) fn coverage_active(&self, repo: &Repo) -> bool {
        let within = SHORT_RESCAN_DAYS * DAY;
        repo.account != SHORT_RESCAN
            || self.age <= within
            || self
                .coverage
                .is_some_and(|(last, count)| count > 0 || last.is_some_and(|l| l <= within))
    }
}

/// Image sizes: mostly 50–800 MB, some up to 2 GB.
fn image_size(rng: &mut Rng) -> i64 {
    if rng.chance(10) {
        rng.range(800_000_000, 2_000_000_000)
    } else {
        rng.range(50_000_000, 800_000_000)
    }
}

fn ref_fact(
    rng: &mut Rng,
    repo: &Repo,
    kind: &'static str,
    status: &'static str,
    status_age: Option<Micros>,
    image_uri: String,
    resolved_digest: Option<String>,
) -> RefFact {
    // Workloads run in the production and staging accounts (and the data account for
    // Lambda); services and tasks live in the registry's region, like most deployments.
    let account = if kind.starts_with("lambda") {
        if rng.chance(50) { PROD } else { DATA }
    } else if rng.chance(70) {
        PROD
    } else {
        STAGING
    };
    let region = repo.region;
    let family = repo.name.replace('/', "-");
    let revision = rng.range(1, 400);
    let (source, arn) = match kind {
        "task_definition" => (
            "config_aggregator",
            format!("arn:aws:ecs:{region}:{account}:task-definition/{family}:{revision}"),
        ),
        "service" => (
            "ecs",
            format!("arn:aws:ecs:{region}:{account}:service/main/{family}"),
        ),
        "task" => (
            "ecs",
            format!(
                "arn:aws:ecs:{region}:{account}:task/main/{:016x}",
                rng.next_u64()
            ),
        ),
        _ => (
            "lambda",
            format!("arn:aws:lambda:{region}:{account}:function:{family}:{revision}"),
        ),
    };
    RefFact {
        account,
        region,
        source,
        kind,
        arn,
        status,
        status_age,
        image_uri,
        resolved_digest,
    }
}

/// One build of a repository: a single image, or an index with its children, or an image
/// with its signature or attestation. At most `budget` images.
pub(super) fn make_unit(rng: &mut Rng, repo: &Repo, build: u64, budget: u64) -> Vec<ImageFact> {
    let host = ecr_host(repo.account, repo.region);
    let days = |rng: &mut Rng, lo: i64, hi: i64| rng.range(lo * DAY, hi * DAY);
    let build_tags = |rng: &mut Rng, repo: &Repo| -> Vec<String> {
        let mut tags = vec![format!("build-{build}")];
        if rng.chance(50) {
            tags.push(format!("git-{:07x}", rng.next_u64() & 0xfff_ffff));
        }
        if !repo.immutable && rng.chance(5) {
            tags.push(format!("branch-{}", rng.range(1, 50)));
        }
        tags
    };
    let plain = |tags: Vec<String>, age: Micros, rng: &mut Rng| ImageFact {
        digest: rng.digest(),
        tags,
        age,
        size: image_size(rng),
        media_type: if rng.chance(60) {
            MEDIA_IMAGE
        } else {
            MEDIA_DOCKER
        },
        artifact_media_type: None,
        subject: None,
        coverage: None,
        pull_age: None,
        refs: Vec::new(),
        parents: Vec::new(),
        platform: 0,
    };

    // Archetypes and their weights; multi-image ones need room in the budget.
    const WEIGHTS: [u64; 17] = [10, 10, 30, 15, 8, 5, 4, 3, 3, 2, 3, 3, 3, 3, 2, 1, 1];
    const NEEDS: [u64; 17] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 2, 2, 2, 1];
    let mut kind = rng.weighted(&WEIGHTS);
    if NEEDS[kind] > budget {
        kind = 2;
    }
    let release = format!("release-{build}");
    match kind {
        // Fresh build, a few days old.
        0 => {
            let mut img = plain(build_tags(rng, repo), rng.range(HOUR, 13 * DAY), rng);
            if rng.chance(80) {
                img.coverage = Some((None, 0));
            }
            vec![img]
        }
        // In use: Inspector saw it recently.
        1 => {
            let mut img = plain(build_tags(rng, repo), days(rng, 20, 700), rng);
            let last = rng.range(HOUR, 30 * DAY);
            let count = if last < DAY { rng.range(1, 5) } else { 0 };
            img.coverage = Some((Some(last), count));
            img.pull_age = Some(last);
            vec![img]
        }
        // Never used CI build.
        2 => {
            let mut img = plain(build_tags(rng, repo), days(rng, 100, 700), rng);
            img.coverage = Some((None, 0));
            vec![img]
        }
        // Stale: used long ago.
        3 => {
            let age = days(rng, 200, 700);
            let mut img = plain(build_tags(rng, repo), age, rng);
            let last = rng.range(100 * DAY, age - DAY);
            img.coverage = Some((Some(last), 0));
            img.pull_age = Some(last);
            vec![img]
        }
        // Untagged leftover without Inspector coverage.
        4 => vec![plain(Vec::new(), days(rng, 100, 700), rng)],
        // Tagged without coverage: unknown, never flagged.
        5 => vec![plain(build_tags(rng, repo), days(rng, 100, 700), rng)],
        // Scaled-to-zero service: ACTIVE task definition by tag, never seen running.
        6 => {
            let mut img = plain(vec![release.clone()], days(rng, 100, 700), rng);
            img.coverage = Some((None, 0));
            let uri = format!("{host}/{}:{release}", repo.name);
            img.refs.push(ref_fact(
                rng,
                repo,
                "task_definition",
                "ACTIVE",
                None,
                uri.clone(),
                None,
            ));
            if rng.chance(50) {
                img.refs
                    .push(ref_fact(rng, repo, "service", "ACTIVE", None, uri, None));
            }
            vec![img]
        }
        // Lambda function pinned by digest to an untagged image.
        7 => {
            let mut img = plain(Vec::new(), days(rng, 100, 700), rng);
            let uri = format!("{host}/{}@{}", repo.name, img.digest);
            let digest = img.digest.clone();
            img.refs.push(ref_fact(
                rng,
                repo,
                "lambda_version",
                "ACTIVE",
                None,
                uri,
                Some(digest),
            ));
            vec![img]
        }
        // Only deregistered task definitions, long ago.
        8 => {
            let mut img = plain(vec![release.clone()], days(rng, 100, 700), rng);
            let uri = format!("{host}/{}:{release}", repo.name);
            let gone = days(rng, 30, 90);
            img.refs.push(ref_fact(
                rng,
                repo,
                "task_definition",
                "INACTIVE",
                Some(gone),
                uri,
                None,
            ));
            vec![img]
        }
        // Deregistered a few hours ago: still a rollback target.
        9 => {
            let mut img = plain(vec![release.clone()], days(rng, 100, 700), rng);
            img.coverage = Some((None, 0));
            let uri = format!("{host}/{}:{release}", repo.name);
            let gone = rng.range(2 * HOUR, 20 * HOUR);
            img.refs.push(ref_fact(
                rng,
                repo,
                "task_definition",
                "INACTIVE",
                Some(gone),
                uri,
                None,
            ));
            vec![img]
        }
        // Pulled recently by something Inspector does not watch.
        10 => {
            let mut img = plain(build_tags(rng, repo), days(rng, 100, 700), rng);
            img.coverage = Some((None, 0));
            img.pull_age = Some(days(rng, 1, 60));
            vec![img]
        }
        // Multi-arch index in use, or stale, with two platform children.
        11 | 12 => {
            let in_use = kind == 11;
            let age = days(rng, 150, 700);
            let mut index = plain(build_tags(rng, repo), age, rng);
            index.media_type = MEDIA_INDEX;
            let (last, pull) = if in_use {
                let l = rng.range(HOUR, 30 * DAY);
                (l, l)
            } else {
                let l = rng.range(100 * DAY, age - DAY);
                (l, l)
            };
            index.coverage = Some((Some(last), 0));
            index.pull_age = Some(pull);
            let mut children = Vec::new();
            for platform in 0..2 {
                let mut child = plain(Vec::new(), age, rng);
                child.media_type = MEDIA_IMAGE;
                child.parents.push((index.digest.clone(), "index_child"));
                child.platform = platform;
                // Pulling the index pulls the amd64 child with it; arm64 is never pulled.
                if platform == 0 {
                    child.pull_age = Some(pull);
                }
                children.push(child);
            }
            index.size = children.iter().map(|c| c.size).max().unwrap_or(0);
            let mut unit = vec![index];
            unit.extend(children);
            unit
        }
        // Signed image (cosign tag), never used or in use.
        13 | 14 => {
            let in_use = kind == 14;
            let mut img = plain(build_tags(rng, repo), days(rng, 100, 700), rng);
            if in_use {
                let last = rng.range(HOUR, 30 * DAY);
                img.coverage = Some((Some(last), 0));
            } else {
                img.coverage = Some((None, 0));
            }
            let hex = img.digest.trim_start_matches("sha256:").to_owned();
            let mut sig = plain(vec![format!("sha256-{hex}.sig")], img.age - HOUR, rng);
            sig.size = rng.range(1_000, 5_000);
            sig.media_type = MEDIA_IMAGE;
            sig.artifact_media_type = Some(COSIGN_ARTIFACT);
            sig.parents.push((img.digest.clone(), "cosign_tag"));
            vec![img, sig]
        }
        // Never-used image with an SBOM attached as an OCI referrer.
        15 => {
            let mut img = plain(build_tags(rng, repo), days(rng, 100, 700), rng);
            img.coverage = Some((None, 0));
            let mut sbom = plain(Vec::new(), img.age - HOUR, rng);
            sbom.size = rng.range(20_000, 200_000);
            sbom.media_type = MEDIA_IMAGE;
            sbom.artifact_media_type = Some(SBOM_ARTIFACT);
            sbom.subject = Some(img.digest.clone());
            sbom.parents.push((img.digest.clone(), "referrer"));
            vec![img, sbom]
        }
        // The tag a running task was started from has moved on; the task still runs the
        // old digest, which only its container's imageDigest shows.
        _ => {
            let mut img = plain(Vec::new(), days(rng, 100, 700), rng);
            let uri = format!("{host}/{}:{release}", repo.name);
            let digest = img.digest.clone();
            let started = days(rng, 1, 60);
            img.refs.push(ref_fact(
                rng,
                repo,
                "task",
                "RUNNING",
                Some(started),
                uri,
                Some(digest),
            ));
            vec![img]
        }
    }
}
