//! Writing the demo to the store: the builders of every snapshot table, the rows of each
//! repository and image, and the per-source coverage the collectors would record.

use std::collections::BTreeMap;

use ecrgc_config::{Config, TagSelector};
use ecrgc_model::image_ref::parse_image_ref;
use ecrgc_model::time::{DAY, Micros};
use ecrgc_model::*;
use ecrgc_store::RunWriter;

use super::facts::ImageFact;
use super::organization::{
    ACCOUNTS, CENTRAL, DEMO_ORGANIZATION, FAILED, REGIONS, Repo, SHORT_RESCAN,
};
use crate::Result;

/// Rows are flushed to the store every this many images.
pub(super) const FLUSH_IMAGES: usize = 1 << 16;

/// Builders of every table, flushed together.
pub(super) struct Tables {
    pub(super) repositories: RepositoriesBuilder,
    pub(super) repository_tags: RepositoryTagsBuilder,
    pub(super) repository_pullers: RepositoryPullersBuilder,
    pub(super) images: ImagesBuilder,
    pub(super) image_tags: ImageTagsBuilder,
    pub(super) image_relations: ImageRelationsBuilder,
    pub(super) image_layers: ImageLayersBuilder,
    pub(super) coverage: InspectorCoverageBuilder,
    pub(super) refs: WorkloadRefsBuilder,
}

impl Tables {
    pub(super) fn new(run_id: &str, now: Micros) -> Self {
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

    pub(super) async fn flush(&mut self, run: &mut RunWriter) -> Result<()> {
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
pub(super) struct SourceCounts(BTreeMap<(&'static str, &'static str, &'static str), u64>);

impl SourceCounts {
    pub(super) fn add(
        &mut self,
        account: &'static str,
        region: &'static str,
        source: &'static str,
    ) {
        *self.0.entry((account, region, source)).or_default() += 1;
    }
}

/// Images of public registries that workloads run beside their own: parsed, kept, never
/// matched to a repository.
const PUBLIC_IMAGES: &[&str] = &[
    "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
    "nginx:1.27",
    "ghcr.io/fluxcd/source-controller:v1.4.1",
];

pub(super) fn write_public_refs(t: &mut Tables) {
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

/// The repository tags the configuration reads, as the demo writes them.
pub(super) struct ConfiguredTags {
    exclude: TagSelector,
    opt_in: Option<TagSelector>,
}

impl ConfiguredTags {
    /// The exclude and opt-in tags of the default configuration.
    pub(super) fn default_configuration() -> Self {
        let config = Config::default();
        Self {
            exclude: config.exclude_tag(),
            opt_in: config.opt_in_tag(),
        }
    }
}

/// A selector as a tag that it selects.
fn tag_of(selector: &TagSelector) -> (&str, &str) {
    (&selector.key, selector.value.as_deref().unwrap_or("true"))
}

pub(super) fn write_repository(t: &mut Tables, tags: &ConfiguredTags, repo: &Repo, now: Micros) {
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
    let mut repository_tags: Vec<(&str, &str)> = vec![("team", team), ("cost-center", "cc-1042")];
    if repo.excluded {
        repository_tags.push(tag_of(&tags.exclude));
    }
    if repo.opted_in
        && let Some(opt_in) = &tags.opt_in
    {
        repository_tags.push(tag_of(opt_in));
    }
    for (key, value) in repository_tags {
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

pub(super) fn write_image(
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
pub(super) fn write_inspector_configuration(
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

pub(super) fn write_collection_coverage(b: &mut CollectionCoverageBuilder, counts: &SourceCounts) {
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
