//! The demo organization: a deterministic synthetic snapshot with a known right answer.
//!
//! Shape: a central registry account in two regions and a small second registry, four
//! workload accounts, long CI build histories, tag-immutable repositories, multi-arch
//! indexes with their children, cosign signatures and OCI referrers, task definitions ACTIVE
//! and recently deregistered, Lambda image functions, running tasks whose tag has moved,
//! Inspector coverage for most but not all images, one excluded repository, repositories
//! that are not opted in, and one workload account whose ECS usage collection was denied.
//! Inspector keeps monitoring images for their lifetime in the central registry; the
//! second registry has AWS's default rescan durations (14 days after the push and after
//! the last use), so its older images are covered `INACTIVE` (`SCAN_ELIGIBILITY_EXPIRED`)
//! and only rules that need no usage data may flag them.
//!
//! Layers are generated as `collect --layers` would read them: the builds of a repository
//! share the base layers of their base-image generation and platform and differ in one or
//! two top layers, multi-arch children have their own platform's layers, signatures and
//! SBOMs have one small layer. Layers come from random streams of their own, so the images
//! (and every figure of a plan) are the same with or without them.
//!
//! Every image is generated from explicit facts (age, tags, coverage, pulls, references).
//! [`DemoTruth`] is computed from those facts by an evaluator written independently of the
//! SQL rules, with the default configuration, so a plan over the demo can be checked
//! against it image class by image class. Generation streams: memory does not grow with
//! `--images`.

use std::collections::{BTreeMap, HashMap};

use ecrgc_model::image_ref::{ecr_host, parse_image_ref};
use ecrgc_model::time::{DAY, HOUR, Micros};
use ecrgc_model::*;
use ecrgc_store::{RunMarker, Store};
use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::{CollectError, Result};

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Exact number of images (index children and signatures included).
    pub images: u64,
    /// Seed: the same seed and `now` give the same organization.
    pub seed: u64,
    /// The instant the snapshot describes.
    pub now: Micros,
}

/// Image count and bytes.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Images.
    pub images: u64,
    /// Sum of `imageSizeInBytes`, image indexes counted as 0.
    pub bytes: u64,
}

impl Totals {
    fn add(&mut self, bytes: u64) {
        self.images += 1;
        self.bytes += bytes;
    }
}

/// The right answer for a demo organization under the default configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DemoTruth {
    /// Every image generated.
    pub all: Totals,
    /// Repositories generated.
    pub repositories: u64,
    /// Listed images by decision status (`delete`, `not_opted_in`, `protected`,
    /// `kept_with_parent`). Roots no rule flags are not listed by a plan.
    pub by_status: BTreeMap<String, Totals>,
    /// `delete` images by primary rule.
    pub delete_by_rule: BTreeMap<String, Totals>,
    /// `delete` images by registry account.
    pub delete_by_account: BTreeMap<String, Totals>,
    /// `protected` images by primary guard.
    pub protected_by_reason: BTreeMap<String, Totals>,
    /// Bytes of the distinct blobs (layers and configs, `image_layers`) that only `delete`
    /// images of their repository list: what deleting the manifest frees once layers
    /// shared with kept images are counted, always well below the naive sum of
    /// `imageSizeInBytes`.
    pub delete_bytes_freed_after_sharing: u64,
}

/// The accounts of the demo organization and what they are.
pub const ACCOUNTS: &[(&str, &str)] = &[
    ("111111111111", "shared-services"),
    ("222222222222", "prod"),
    ("333333333333", "staging"),
    ("444444444444", "sandbox"),
    ("555555555555", "data"),
];

/// The id of the demo organization.
const DEMO_ORGANIZATION: &str = "o-ecrgcdemo01";

/// The regions of the demo organization.
pub const REGIONS: &[&str] = &["eu-west-1", "us-east-1"];

const CENTRAL: &str = "111111111111";
const PROD: &str = "222222222222";
const STAGING: &str = "333333333333";
const SANDBOX: &str = "444444444444";
const DATA: &str = "555555555555";
/// The registry whose Inspector keeps AWS's default rescan durations for new accounts
/// (14 days; Inspector User Guide, "Configuring the Amazon ECR re-scan duration"), so it
/// stops monitoring images neither pushed nor used within 14 days. Every other registry
/// monitors for the image's lifetime.
const SHORT_RESCAN: &str = DATA;
/// The rescan durations of [`SHORT_RESCAN`], in days.
const SHORT_RESCAN_DAYS: i64 = 14;
/// The account whose ECS collection fails, and where.
const FAILED: (&str, &str, &str) = (SANDBOX, "us-east-1", "ecs");

const EXCLUDE_TAG: (&str, &str) = ("unusd", "true");
const OPT_IN_TAG: (&str, &str) = ("ecrgc:auto-delete", "true");

// Default thresholds the truth is computed for (see ecrgc-config).
const UNUSED_DAYS: i64 = 90;
const MIN_AGE_DAYS: i64 = 14;
const ROLLBACK_HOURS: i64 = 24;
const PULL_DAYS: i64 = 90;

const TEAMS: &[&str] = &[
    "payments", "search", "identity", "checkout", "data", "ml", "web",
];
const SERVICES: &[&str] = &[
    "api",
    "worker",
    "gateway",
    "batch",
    "ui",
    "scheduler",
    "etl",
];

const MEDIA_IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_DOCKER: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const COSIGN_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const SBOM_ARTIFACT: &str = "application/spdx+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const COSIGN_LAYER: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The digest of `{}`, the empty config every OCI artifact without a config shares.
const OCI_EMPTY_DIGEST: Digest = Digest([
    0x4413_6fa3_55b3_678a,
    0x1146_ad16_f7e8_649e,
    0x94fb_4fc2_1fe7_7e83,
    0x10c0_60f6_1caa_ff8a,
]);

/// The base image of a repository is rebuilt this often; builds in between share it.
const BASE_GENERATION: Micros = 60 * DAY;
/// Random streams of the layer generator start here, apart from the repositories' own.
const LAYER_STREAMS: u64 = 1 << 40;
/// Base layers a build takes while they fit in this share of its size.
const BASE_SHARE_PERCENT: i64 = 85;

/// Rows are flushed to the store every this many images.
const FLUSH_IMAGES: usize = 1 << 16;

/// A repository of the demo and the facts that decide its images' fate.
#[derive(Debug, Clone)]
struct Repo {
    account: &'static str,
    region: &'static str,
    name: String,
    immutable: bool,
    excluded: bool,
    opted_in: bool,
    pullers: Vec<&'static str>,
}

impl Repo {
    /// Whether a usage source failure hides use of this repository's images.
    fn blocked(&self) -> bool {
        self.account == FAILED.0 || self.pullers.iter().any(|p| *p == FAILED.0 || *p == "*")
    }
}

/// A reference from a workload, as facts.
#[derive(Debug, Clone)]
struct RefFact {
    account: &'static str,
    region: &'static str,
    source: &'static str,
    kind: &'static str,
    arn: String,
    status: &'static str,
    status_age: Option<Micros>,
    image_uri: String,
    resolved_digest: Option<String>,
}

impl RefFact {
    fn live(&self) -> bool {
        match self.kind {
            "task_definition" => {
                self.status == "ACTIVE"
                    || self.status_age.is_none_or(|a| a <= ROLLBACK_HOURS * HOUR)
            }
            "task" => {
                self.status != "STOPPED"
                    || self.status_age.is_none_or(|a| a <= ROLLBACK_HOURS * HOUR)
            }
            _ => true,
        }
    }
}

/// One image as facts; ages are durations before `now`.
#[derive(Debug, Clone)]
struct ImageFact {
    digest: String,
    tags: Vec<String>,
    age: Micros,
    size: i64,
    media_type: &'static str,
    artifact_media_type: Option<&'static str>,
    subject: Option<String>,
    /// Inspector coverage: last use age (None = never used) and in-use count.
    coverage: Option<(Option<Micros>, i64)>,
    pull_age: Option<Micros>,
    refs: Vec<RefFact>,
    /// Parent digests within the unit, and the relation to them.
    parents: Vec<(String, &'static str)>,
    /// Platform whose layers the image has: 0 amd64 (single-platform builds), 1 arm64.
    platform: u64,
}

impl ImageFact {
    /// Whether Inspector still monitors the image (scan status `ACTIVE`): always under a
    /// lifetime push duration; in [`SHORT_RESCAN`] only while it was pushed or last used
    /// (or is in use) within the 14 days.
    fn coverage_active(&self, repo: &Repo) -> bool {
        let within = SHORT_RESCAN_DAYS * DAY;
        repo.account != SHORT_RESCAN
            || self.age <= within
            || self
                .coverage
                .is_some_and(|(last, count)| count > 0 || last.is_some_and(|l| l <= within))
    }

    /// Rules that flag the image, in precedence order (see `sql/rules/`). The usage
    /// rules read only coverage Inspector still monitors; an image with inactive coverage
    /// is of unknown use, like one without.
    fn rules(&self, repo: &Repo) -> Vec<&'static str> {
        let mut rules = Vec::new();
        if !self.refs.is_empty()
            && self.age > MIN_AGE_DAYS * DAY
            && self
                .refs
                .iter()
                .all(|r| r.kind == "task_definition" && !r.live())
        {
            rules.push("inactive_task_definition");
        }
        let monitored = self.coverage.filter(|_| self.coverage_active(repo));
        if let Some((last, count)) = monitored {
            if count == 0 && last.is_some_and(|l| l > UNUSED_DAYS * DAY) {
                rules.push("stale");
            }
            if count == 0 && last.is_none() && self.age > UNUSED_DAYS * DAY {
                rules.push("never_used");
            }
        } else if self.tags.is_empty() && self.age > UNUSED_DAYS * DAY {
            rules.push("untagged_fallback");
        }
        rules
    }

    /// Guards that protect the image, in precedence order (see `sql/guards/`).
    fn guards(&self, repo: &Repo) -> Vec<&'static str> {
        let mut guards = Vec::new();
        if repo.excluded {
            guards.push("exclude_tag");
        }
        if self.refs.iter().any(RefFact::live) {
            guards.push("live_reference");
        }
        if let Some((last, count)) = self.coverage
            && (count > 0 || last.is_some_and(|l| l <= UNUSED_DAYS * DAY))
        {
            guards.push("recent_use");
        }
        if self.pull_age.is_some_and(|p| p <= PULL_DAYS * DAY) {
            guards.push("recent_pull");
        }
        if self.age <= MIN_AGE_DAYS * DAY {
            guards.push("young_image");
        }
        if repo.blocked() {
            guards.push("usage_coverage_gap");
        }
        guards
    }
}

/// Outcome of one image under the default configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// A root no rule flags: not listed.
    Unlisted,
    /// Listed with a status and a label (rule or guard).
    Listed(&'static str, &'static str),
}

impl Fate {
    fn deletable(self) -> bool {
        matches!(self, Fate::Listed("delete" | "not_opted_in", _))
    }
}

/// Decides a unit's images; parents come before their children in `images`.
fn decide(repo: &Repo, images: &[ImageFact]) -> Vec<Fate> {
    let mut fates: Vec<Fate> = Vec::with_capacity(images.len());
    for image in images {
        let rules = image.rules(repo);
        let guards = image.guards(repo);
        let deletable = |rule: &'static str| {
            if repo.opted_in {
                Fate::Listed("delete", rule)
            } else {
                Fate::Listed("not_opted_in", rule)
            }
        };
        let fate = if image.parents.is_empty() {
            match (rules.first(), guards.first()) {
                (None, _) => Fate::Unlisted,
                (Some(_), Some(guard)) => Fate::Listed("protected", guard),
                (Some(rule), None) => deletable(rule),
            }
        } else if let Some(guard) = guards.first() {
            Fate::Listed("protected", guard)
        } else {
            let parent_kept = image.parents.iter().any(|(p, _)| {
                let i = images
                    .iter()
                    .position(|x| &x.digest == p)
                    .expect("parents precede children in a unit");
                !fates[i].deletable()
            });
            if parent_kept {
                Fate::Listed("kept_with_parent", "parent_kept")
            } else {
                deletable(rules.first().copied().unwrap_or("with_parent"))
            }
        };
        fates.push(fate);
    }
    fates
}

/// Builders of every table, flushed together.
struct Tables {
    repositories: RepositoriesBuilder,
    repository_tags: RepositoryTagsBuilder,
    repository_pullers: RepositoryPullersBuilder,
    images: ImagesBuilder,
    image_tags: ImageTagsBuilder,
    image_relations: ImageRelationsBuilder,
    image_layers: ImageLayersBuilder,
    coverage: InspectorCoverageBuilder,
    refs: WorkloadRefsBuilder,
}

impl Tables {
    fn new(run_id: &str, now: Micros) -> Self {
        let cap = 1024;
        Self {
            repositories: RepositoriesBuilder::new(run_id, now, cap),
            repository_tags: RepositoryTagsBuilder::new(run_id, now, cap),
            repository_pullers: RepositoryPullersBuilder::new(run_id, now, cap),
            images: ImagesBuilder::new(run_id, now, FLUSH_IMAGES),
            image_tags: ImageTagsBuilder::new(run_id, now, FLUSH_IMAGES),
            image_relations: ImageRelationsBuilder::new(run_id, now, cap),
            image_layers: ImageLayersBuilder::new(run_id, now, FLUSH_IMAGES * 6),
            coverage: InspectorCoverageBuilder::new(run_id, now, FLUSH_IMAGES),
            refs: WorkloadRefsBuilder::new(run_id, now, cap),
        }
    }

    async fn flush(&mut self, run: &mut ecrgc_store::RunWriter) -> Result<()> {
        run.write(RepositoriesBuilder::NAME, self.repositories.finish())
            .await?;
        run.write(RepositoryTagsBuilder::NAME, self.repository_tags.finish())
            .await?;
        run.write(
            RepositoryPullersBuilder::NAME,
            self.repository_pullers.finish(),
        )
        .await?;
        run.write(ImagesBuilder::NAME, self.images.finish()).await?;
        run.write(ImageTagsBuilder::NAME, self.image_tags.finish())
            .await?;
        run.write(ImageRelationsBuilder::NAME, self.image_relations.finish())
            .await?;
        run.write(ImageLayersBuilder::NAME, self.image_layers.finish())
            .await?;
        run.write(InspectorCoverageBuilder::NAME, self.coverage.finish())
            .await?;
        run.write(WorkloadRefsBuilder::NAME, self.refs.finish())
            .await?;
        Ok(())
    }
}

/// Per account × region × source counters for the `collection_coverage` table.
#[derive(Default)]
struct SourceCounts(BTreeMap<(&'static str, &'static str, &'static str), u64>);

impl SourceCounts {
    fn add(&mut self, account: &'static str, region: &'static str, source: &'static str) {
        *self.0.entry((account, region, source)).or_default() += 1;
    }
}

/// Generates the demo organization into a new committed run of `store`.
///
/// `progress` is called with the number of images written so far.
pub async fn generate(
    store: &Store,
    options: &DemoOptions,
    mut progress: impl FnMut(u64),
) -> Result<(RunMarker, DemoTruth)> {
    if options.images == 0 {
        return Err(CollectError::Invalid("--images must be at least 1".into()));
    }
    let now = options.now;
    let mut run = store.begin_run(now, "demo");
    let run_id = run.run_id().to_owned();
    let mut tables = Tables::new(&run_id, now);
    let mut truth = DemoTruth::default();
    let mut counts = SourceCounts::default();

    let repos = plan_repositories(options);
    truth.repositories = repos.len() as u64;
    let per_repo = options.images / repos.len() as u64;
    let extra = options.images % repos.len() as u64;
    let mut written = 0u64;
    for (index, repo) in repos.iter().enumerate() {
        write_repository(&mut tables, repo, now);
        counts.add(repo.account, repo.region, "ecr");
        let budget = per_repo + u64::from((index as u64) < extra);
        let mut rng = Rng::derive(options.seed, index as u64 + 1);
        let mut layers = RepoLayers::new(options.seed, index as u64);
        let mut build = 0u64;
        let mut left = budget;
        while left > 0 {
            build += 1;
            let unit = make_unit(&mut rng, repo, build, left);
            left -= unit.len() as u64;
            let fates = decide(repo, &unit);
            for (image, fate) in unit.iter().zip(&fates) {
                record_truth(&mut truth, repo, image, *fate);
                write_image(&mut tables, &mut counts, repo, image, now);
                layers.write(&mut tables, &mut counts, repo, image, *fate);
            }
        }
        truth.delete_bytes_freed_after_sharing += layers.freed();
        written += budget;
        if tables.images.len() >= FLUSH_IMAGES {
            tables.flush(&mut run).await?;
            progress(written);
        }
    }
    write_public_refs(&mut tables);
    tables.flush(&mut run).await?;
    progress(written);

    let mut settings = InspectorConfigurationBuilder::new(&run_id, now, 16);
    write_inspector_configuration(&mut settings, &mut counts, now);
    run.write(InspectorConfigurationBuilder::NAME, settings.finish())
        .await?;
    let mut coverage = CollectionCoverageBuilder::new(&run_id, now, 64);
    write_collection_coverage(&mut coverage, &counts);
    run.write(CollectionCoverageBuilder::NAME, coverage.finish())
        .await?;
    // The whole organization, listed and collected: every grant is within the scope.
    let mut scope = CollectionScopeBuilder::new(&run_id, now, ACCOUNTS.len());
    for (account, _) in ACCOUNTS {
        scope.append(CollectionScopeRow {
            account_id: account,
            workload: true,
            registry: true,
            organization_id: Some(DEMO_ORGANIZATION),
            organization_member: true,
        });
    }
    run.write(CollectionScopeBuilder::NAME, scope.finish())
        .await?;

    let marker = run
        .commit(RunRow {
            started_at: now,
            origin: "demo",
            tool_version: env!("CARGO_PKG_VERSION"),
            config_hash: None,
            demo_seed: Some(options.seed as i64),
        })
        .await?;
    Ok((marker, truth))
}

fn plan_repositories(options: &DemoOptions) -> Vec<Repo> {
    let count = (options.images / 150)
        .clamp(12, 1_000_000)
        .min(options.images) as usize;
    let mut rng = Rng::derive(options.seed, 0);
    let mut repos = Vec::with_capacity(count);
    for i in 0..count {
        let (account, region) = match rng.weighted(&[60, 30, 10]) {
            0 => (CENTRAL, "eu-west-1"),
            1 => (CENTRAL, "us-east-1"),
            _ => (DATA, "eu-west-1"),
        };
        let team = TEAMS[i % TEAMS.len()];
        let service = SERVICES[(i / TEAMS.len()) % SERVICES.len()];
        let generation = i / (TEAMS.len() * SERVICES.len());
        let mut repo = Repo {
            account,
            region,
            name: if generation == 0 {
                format!("{team}/{service}")
            } else {
                format!("{team}/{service}-{generation}")
            },
            immutable: rng.chance(30),
            excluded: false,
            opted_in: i % 10 != 7,
            pullers: if account == DATA {
                vec![PROD]
            } else {
                vec![PROD, STAGING, DATA]
            },
        };
        // A few repositories with a special role, at fixed positions so every size has them.
        match i {
            0 => {
                repo.account = CENTRAL;
                repo.region = "eu-west-1";
                repo.name = "platform/base-images".into();
                repo.excluded = true;
            }
            1 => {
                repo.account = CENTRAL;
                repo.region = "us-east-1";
                repo.name = "sandbox/experiments".into();
                repo.pullers = vec![PROD, STAGING, SANDBOX];
            }
            2 => {
                repo.account = CENTRAL;
                repo.region = "eu-west-1";
                repo.name = "platform/tools".into();
                repo.pullers = vec!["*"];
            }
            _ if team == "web" && i % 3 == 0 => repo.pullers.push(SANDBOX),
            _ => {}
        }
        repos.push(repo);
    }
    repos
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
fn make_unit(rng: &mut Rng, repo: &Repo, build: u64, budget: u64) -> Vec<ImageFact> {
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

/// A `sha256:` digest as its bits: layers are many, so they are hashed and copied as
/// numbers and spelled out only when written (as [`Rng::digest`] spells them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Digest([u64; 4]);

impl Digest {
    /// Draws the same bits [`Rng::digest`] would.
    fn draw(rng: &mut Rng) -> Self {
        Self([
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        ])
    }

    /// Spells the digest into `buf`, reusing its allocation.
    fn spell<'a>(&self, buf: &'a mut String) -> &'a str {
        use std::fmt::Write;
        buf.clear();
        let [a, b, c, d] = self.0;
        // Writing into a String cannot fail.
        let _ = write!(buf, "sha256:{a:016x}{b:016x}{c:016x}{d:016x}");
        buf
    }
}

/// The layers of one repository's images, and which of them deleted and kept images list.
struct RepoLayers {
    seed: u64,
    repo_index: u64,
    /// Top layers and configs, drawn in image order.
    rng: Rng,
    /// Base stacks by (generation, platform): digest and size, bottom first.
    stacks: HashMap<(i64, u64), Vec<(Digest, i64)>>,
    /// Every blob listed: size, listed by a `delete` image, listed by any other image.
    blobs: HashMap<Digest, (i64, bool, bool)>,
    /// Scratch space for spelling digests.
    spelled: String,
}

impl RepoLayers {
    fn new(seed: u64, repo_index: u64) -> Self {
        Self {
            seed,
            repo_index,
            rng: Rng::derive(seed, LAYER_STREAMS + repo_index),
            stacks: HashMap::new(),
            blobs: HashMap::new(),
            spelled: String::with_capacity(72),
        }
    }

    /// The base stack of a generation and platform: OS, runtime, dependencies, each drawn
    /// from a stream of its own so that it does not depend on the order images come in.
    fn stack(&mut self, generation: i64, platform: u64) -> &[(Digest, i64)] {
        let (seed, repo_index) = (self.seed, self.repo_index);
        self.stacks
            .entry((generation, platform))
            .or_insert_with(|| {
                let stream =
                    LAYER_STREAMS + (repo_index << 16) + ((generation as u64) << 1) + platform + 1;
                let mut rng = Rng::derive(seed ^ LAYER_STREAMS, stream);
                [
                    (20_000_000, 35_000_000),
                    (30_000_000, 120_000_000),
                    (40_000_000, 300_000_000),
                    (80_000_000, 600_000_000),
                ]
                .iter()
                .map(|(lo, hi)| (Digest::draw(&mut rng), rng.range(*lo, *hi)))
                .collect()
            })
    }

    /// Writes the blobs of `image` and notes who lists them. Layers (kind `layer`) add up
    /// to the image's `imageSizeInBytes`; the config comes on top.
    fn write(
        &mut self,
        t: &mut Tables,
        counts: &mut SourceCounts,
        repo: &Repo,
        image: &ImageFact,
        fate: Fate,
    ) {
        if image.media_type == MEDIA_INDEX {
            return; // an index's bytes are its children's
        }
        let docker = image.media_type == MEDIA_DOCKER;
        let (config_type, layer_type) = if docker {
            (DOCKER_CONFIG, DOCKER_LAYER)
        } else {
            (OCI_CONFIG, OCI_LAYER)
        };
        let mut blobs: Vec<(Digest, i64, &'static str)> = Vec::with_capacity(8);
        let rng = &mut self.rng;
        match image.artifact_media_type {
            Some(COSIGN_ARTIFACT) => {
                blobs.push((Digest::draw(rng), rng.range(200, 300), OCI_CONFIG));
                blobs.push((Digest::draw(rng), image.size, COSIGN_LAYER));
            }
            Some(artifact) => {
                blobs.push((OCI_EMPTY_DIGEST, 2, OCI_EMPTY));
                blobs.push((Digest::draw(rng), image.size, artifact));
            }
            None => {
                blobs.push((Digest::draw(rng), rng.range(2_000, 12_000), config_type));
                let budget = image.size * BASE_SHARE_PERCENT / 100;
                let mut used = 0;
                let generation = image.age / BASE_GENERATION;
                for (digest, size) in self.stack(generation, image.platform) {
                    if used + size > budget {
                        break;
                    }
                    used += size;
                    blobs.push((*digest, *size, layer_type));
                }
                // The build's own layers: dependencies that changed, then the application.
                let rng = &mut self.rng;
                let rest = image.size - used;
                if rng.chance(50) {
                    let first = rest * rng.range(10, 60) / 100;
                    blobs.push((Digest::draw(rng), first, layer_type));
                    blobs.push((Digest::draw(rng), rest - first, layer_type));
                } else {
                    blobs.push((Digest::draw(rng), rest, layer_type));
                }
            }
        }
        let deleted = matches!(fate, Fate::Listed("delete", _));
        for (i, (digest, size, media_type)) in blobs.iter().enumerate() {
            let entry = self.blobs.entry(*digest).or_insert((*size, false, false));
            if deleted {
                entry.1 = true;
            } else {
                entry.2 = true;
            }
            counts.add(repo.account, repo.region, "ecr_layers");
            t.image_layers.append(ImageLayerRow {
                account_id: repo.account,
                region: repo.region,
                repository_name: &repo.name,
                image_digest: &image.digest,
                layer_digest: digest.spell(&mut self.spelled),
                layer_size_bytes: *size,
                media_type,
                layer_kind: if i == 0 { "config" } else { "layer" },
                layer_index: (i > 0).then(|| i as i64 - 1),
            });
        }
    }

    /// Bytes of the blobs only deleted images list.
    fn freed(&self) -> u64 {
        self.blobs
            .values()
            .filter(|(_, deleted, kept)| *deleted && !*kept)
            .map(|(size, _, _)| *size as u64)
            .sum()
    }
}

/// Images of public registries that workloads run beside their own: parsed, kept, never
/// matched to a repository.
const PUBLIC_IMAGES: &[&str] = &[
    "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
    "nginx:1.27",
    "ghcr.io/fluxcd/source-controller:v1.4.1",
];

fn write_public_refs(t: &mut Tables) {
    for (account, _) in &ACCOUNTS[1..3] {
        for region in REGIONS {
            for (i, image) in PUBLIC_IMAGES.iter().enumerate() {
                let parsed = parse_image_ref(image);
                let arn = format!(
                    "arn:aws:ecs:{region}:{account}:task-definition/sidecars:{}",
                    i + 1
                );
                t.refs.append(WorkloadRefRow {
                    account_id: account,
                    region,
                    source: "config_aggregator",
                    kind: "task_definition",
                    resource_arn: &arn,
                    status: "ACTIVE",
                    status_at: None,
                    container_name: Some("sidecar"),
                    image_uri: image,
                    ref_is_ecr: parsed.is_ecr,
                    ref_account_id: parsed.account_id.as_deref(),
                    ref_region: parsed.region.as_deref(),
                    ref_repository: Some(&parsed.repository),
                    ref_tag: parsed.tag.as_deref(),
                    ref_digest: parsed.digest.as_deref(),
                    resolved_digest: None,
                    ref_parse_error: parsed.parse_error.as_deref(),
                });
            }
        }
    }
}

fn record_truth(truth: &mut DemoTruth, repo: &Repo, image: &ImageFact, fate: Fate) {
    // As the reports count: an index's children are images of their own, so the index adds
    // nothing (its `imageSizeInBytes` is its largest child's).
    let bytes = if is_index_media_type(image.media_type) {
        0
    } else {
        image.size as u64
    };
    truth.all.add(bytes);
    if let Fate::Listed(status, label) = fate {
        truth.by_status.entry(status.into()).or_default().add(bytes);
        match status {
            "delete" => {
                truth
                    .delete_by_rule
                    .entry(label.into())
                    .or_default()
                    .add(bytes);
                truth
                    .delete_by_account
                    .entry(repo.account.into())
                    .or_default()
                    .add(bytes);
            }
            "protected" => {
                truth
                    .protected_by_reason
                    .entry(label.into())
                    .or_default()
                    .add(bytes);
            }
            _ => {}
        }
    }
}

fn write_repository(t: &mut Tables, repo: &Repo, now: Micros) {
    let arn = format!(
        "arn:aws:ecr:{}:{}:repository/{}",
        repo.region, repo.account, repo.name
    );
    let lifecycle = repo.immutable.then_some(
        r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":365},"action":{"type":"expire"}}]}"#,
    );
    t.repositories.append(RepositoryRow {
        account_id: repo.account,
        region: repo.region,
        repository_name: &repo.name,
        repository_arn: &arn,
        created_at: Some(now - 800 * DAY),
        image_tag_mutability: if repo.immutable {
            "IMMUTABLE"
        } else {
            "MUTABLE"
        },
        lifecycle_policy_text: lifecycle,
    });
    let team = repo.name.split('/').next().unwrap_or("platform");
    let mut tags: Vec<(&str, &str)> = vec![("team", team), ("cost-center", "cc-1042")];
    if repo.excluded {
        tags.push(EXCLUDE_TAG);
    }
    if repo.opted_in {
        tags.push(OPT_IN_TAG);
    }
    for (key, value) in tags {
        t.repository_tags.append(RepositoryTagRow {
            account_id: repo.account,
            region: repo.region,
            repository_name: &repo.name,
            tag_key: key,
            tag_value: value,
        });
    }
    for puller in std::iter::once(&repo.account).chain(repo.pullers.iter()) {
        // `*` is an organization-wide grant (`aws:PrincipalOrgID`): the demo collects the
        // whole organization, so it covers no account the run does not see.
        let (kind, principal, org) = if *puller == "*" {
            ("organization", "*".to_owned(), Some(DEMO_ORGANIZATION))
        } else {
            ("account", format!("arn:aws:iam::{puller}:root"), None)
        };
        t.repository_pullers.append(RepositoryPullerRow {
            account_id: repo.account,
            region: repo.region,
            repository_name: &repo.name,
            puller_account_id: puller,
            grant_kind: kind,
            principal: &principal,
            principal_org_id: org,
        });
    }
}

fn write_image(
    t: &mut Tables,
    counts: &mut SourceCounts,
    repo: &Repo,
    image: &ImageFact,
    now: Micros,
) {
    let (account_id, region, repository_name) = (repo.account, repo.region, repo.name.as_str());
    t.images.append(ImageRow {
        account_id,
        region,
        repository_name,
        image_digest: &image.digest,
        image_pushed_at: now - image.age,
        image_size_bytes: image.size,
        image_manifest_media_type: image.media_type,
        artifact_media_type: image.artifact_media_type,
        last_recorded_pull_time: image.pull_age.map(|a| now - a),
        image_status: "ACTIVE",
        subject_manifest_digest: image.subject.as_deref(),
        tag_count: image.tags.len() as i64,
    });
    for tag in &image.tags {
        t.image_tags.append(ImageTagRow {
            account_id,
            region,
            repository_name,
            image_digest: &image.digest,
            image_tag: tag,
        });
    }
    for (parent, relation) in &image.parents {
        t.image_relations.append(ImageRelationRow {
            account_id,
            region,
            repository_name,
            parent_digest: parent,
            child_digest: &image.digest,
            relation,
        });
    }
    if let Some((last, count)) = image.coverage {
        counts.add(account_id, region, "inspector");
        let (scan_status, reason) = if image.coverage_active(repo) {
            ("ACTIVE", "SUCCESSFUL")
        } else {
            ("INACTIVE", "SCAN_ELIGIBILITY_EXPIRED")
        };
        t.coverage.append(InspectorCoverageRow {
            account_id,
            region,
            repository_name,
            image_digest: &image.digest,
            last_in_use_at: last.map(|a| now - a),
            in_use_count: Some(count),
            image_pulled_at: image.pull_age.map(|a| now - a),
            scan_status,
            scan_status_reason: Some(reason),
        });
    }
    for r in &image.refs {
        counts.add(r.account, r.region, r.source);
        let parsed = parse_image_ref(&r.image_uri);
        t.refs.append(WorkloadRefRow {
            account_id: r.account,
            region: r.region,
            source: r.source,
            kind: r.kind,
            resource_arn: &r.arn,
            status: r.status,
            status_at: r.status_age.map(|a| now - a),
            container_name: (!r.kind.starts_with("lambda")).then_some("app"),
            image_uri: &r.image_uri,
            ref_is_ecr: parsed.is_ecr,
            ref_account_id: parsed.account_id.as_deref(),
            ref_region: parsed.region.as_deref(),
            ref_repository: Some(&parsed.repository),
            ref_tag: parsed.tag.as_deref(),
            ref_digest: parsed.digest.as_deref(),
            resolved_digest: r.resolved_digest.as_deref(),
            ref_parse_error: parsed.parse_error.as_deref(),
        });
    }
}

/// The Inspector rescan settings of every account × region: lifetime monitoring, except
/// AWS's 14-day defaults in [`SHORT_RESCAN`].
fn write_inspector_configuration(
    b: &mut InspectorConfigurationBuilder,
    counts: &mut SourceCounts,
    now: Micros,
) {
    for (account, _) in ACCOUNTS {
        for region in REGIONS {
            counts.add(account, region, "inspector_configuration");
            let short = *account == SHORT_RESCAN;
            b.append(InspectorConfigurationRow {
                account_id: account,
                region,
                rescan_duration: Some(if short { "DAYS_14" } else { "LIFETIME" }),
                pull_date_rescan_duration: Some(if short { "DAYS_14" } else { "DAYS_180" }),
                pull_date_rescan_mode: Some("LAST_IN_USE_AT"),
                status: Some("SUCCESS"),
                updated_at: Some(now - 400 * DAY),
            });
        }
    }
}

fn write_collection_coverage(b: &mut CollectionCoverageBuilder, counts: &SourceCounts) {
    for (account, _) in ACCOUNTS {
        for region in REGIONS {
            for source in [
                "ecr",
                "ecr_replication",
                "ecr_settings",
                "ecr_layers",
                "pull_time_exclusion",
                "inspector",
                "inspector_configuration",
                "ecs",
                "lambda",
            ] {
                let failed = (*account, *region, source) == FAILED;
                let items = counts
                    .0
                    .get(&(*account, *region, source))
                    .copied()
                    .unwrap_or(0);
                let items = if failed { 0 } else { items as i64 };
                b.append(CollectionCoverageRow {
                    account_id: account,
                    region,
                    source,
                    status: if failed { "denied" } else { "ok" },
                    error: failed.then_some(
                        "AccessDeniedException: User: arn:aws:sts::444444444444:assumed-role/ecrgc-collector/ecrgc \
                         is not authorized to perform: ecs:ListClusters",
                    ),
                    items,
                    api_calls: 1 + items / 100,
                    throttles: 0,
                    duration_ms: 40 + items / 10,
                });
            }
        }
    }
    let items = counts
        .0
        .iter()
        .filter(|((_, _, s), _)| *s == "config_aggregator")
        .map(|(_, n)| *n as i64)
        .sum::<i64>();
    b.append(CollectionCoverageRow {
        account_id: CENTRAL,
        region: "eu-west-1",
        source: "config_aggregator",
        status: "ok",
        error: None,
        items,
        api_calls: 1 + items / 100,
        throttles: 0,
        duration_ms: 200 + items / 10,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> Repo {
        Repo {
            account: CENTRAL,
            region: "eu-west-1",
            name: "team/app".into(),
            immutable: false,
            excluded: false,
            opted_in: true,
            pullers: vec![PROD],
        }
    }

    #[test]
    fn digests_are_spelled_as_the_generator_spells_them() {
        let mut buf = String::new();
        assert_eq!(
            Digest::draw(&mut Rng::new(9)).spell(&mut buf),
            Rng::new(9).digest()
        );
        assert_eq!(
            OCI_EMPTY_DIGEST.spell(&mut buf),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn a_kept_index_keeps_its_children_and_a_deleted_one_takes_them() {
        for (kind, index_fate) in [(11, Fate::Unlisted), (12, Fate::Listed("delete", "stale"))] {
            // Find a unit of the wanted kind by scanning seeds: the archetype draw is random.
            let unit = (0..10_000)
                .map(|s| make_unit(&mut Rng::new(s), &repo(), 1, 3))
                .find(|u| {
                    u.len() == 3 && {
                        let in_use = u[0]
                            .coverage
                            .and_then(|c| c.0)
                            .is_some_and(|l| l < 90 * DAY);
                        in_use == (kind == 11)
                    }
                })
                .expect("some seed draws a multi-arch unit");
            let fates = decide(&repo(), &unit);
            assert_eq!(fates[0], index_fate);
            if kind == 11 {
                assert_eq!(fates[1], Fate::Listed("protected", "recent_pull"));
                assert_eq!(fates[2], Fate::Listed("kept_with_parent", "parent_kept"));
            } else {
                assert!(fates[1..].iter().all(|f| f.deletable()), "{fates:?}");
            }
        }
    }
}
