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
//! Every image is generated from explicit facts (age, tags, coverage, pulls, references).
//! [`DemoTruth`] is computed from those facts with the default configuration through
//! [`crate::oracle`], written independently of the SQL rules, so a plan over the demo can
//! be checked against it image class by image class. Generation streams: memory does not grow with
//! `--images`.
//!
//! * `organization` invents the accounts, regions and repositories;
//! * `facts` draws each build's images, their coverage, pulls and references;
//! * `layers` draws the blobs of each image (`collect --layers`);
//! * `truth` decides each image as a plan must ([`DemoTruth`]);
//! * `writing` turns all of it into the snapshot tables of a run.

use ecrgc_model::time::Micros;
use ecrgc_model::{
    CollectionCoverageBuilder, CollectionScopeBuilder, CollectionScopeRow,
    InspectorConfigurationBuilder, RunRow,
};
use ecrgc_store::{RunMarker, Store};

use crate::rng::Rng;
use crate::{CollectError, Result};

mod facts;
mod layers;
mod organization;
mod truth;
mod writing;

use facts::make_unit;
use layers::RepoLayers;
pub use organization::{ACCOUNTS, REGIONS};
use organization::{DEMO_ORGANIZATION, plan_repositories};
use truth::Judge;
pub use truth::{DemoTruth, Totals};
use writing::{
    ConfiguredTags, FLUSH_IMAGES, SourceCounts, Tables, write_collection_coverage, write_image,
    write_inspector_configuration, write_public_refs, write_repository,
};

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
    let judge = Judge::default_configuration();
    let configured_tags = ConfiguredTags::default_configuration();

    let repos = plan_repositories(options.images, options.seed);
    truth.repositories = repos.len() as u64;
    let per_repo = options.images / repos.len() as u64;
    let extra = options.images % repos.len() as u64;
    let mut written = 0u64;
    for (index, repo) in repos.iter().enumerate() {
        write_repository(&mut tables, &configured_tags, repo, now);
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
            let decisions = judge.decide(repo, &unit);
            for (image, decision) in unit.iter().zip(decisions) {
                truth::record(&mut truth, repo, image, decision);
                write_image(&mut tables, &mut counts, repo, image, now);
                let deleted = decision.status == Some("delete");
                layers.write(&mut tables, &mut counts, repo, image, deleted);
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
