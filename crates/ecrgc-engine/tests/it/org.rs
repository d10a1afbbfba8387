//! The organization as facts: repositories, images, relations, workload references and
//! collection outcomes ([`Org`]), the fixed `now` and thresholds every plan uses, and the
//! snapshot tables the facts become ([`Org::tables`]).

use arrow::record_batch::RecordBatch;
use ecrgc_config::Config;
use ecrgc_engine::Params;
use ecrgc_model::image_ref::parse_image_ref;
use ecrgc_model::time::{DAY, Micros, parse_rfc3339};
use ecrgc_model::{
    CollectionCoverageBuilder, CollectionCoverageRow, CollectionScopeBuilder, CollectionScopeRow,
    ImageRelationRow, ImageRelationsBuilder, ImageRow, ImageTagRow, ImageTagsBuilder,
    ImagesBuilder, InspectorCoverageBuilder, InspectorCoverageRow, ReplicationRuleRow,
    ReplicationRulesBuilder, RepositoriesBuilder, RepositoryPullerRow, RepositoryPullersBuilder,
    RepositoryRow, RepositoryTagRow, RepositoryTagsBuilder, WorkloadRefRow, WorkloadRefsBuilder,
};

/// The instant every plan is made for.
pub const NOW: &str = "2026-11-21T00:00:00Z";

/// Accounts that own registries.
pub const REGISTRY_ACCOUNTS: &[&str] = &["111111111111", "222222222222"];
/// Every account of the organization: registries first, then workload-only accounts.
pub const ACCOUNTS: &[&str] = &[
    "111111111111",
    "222222222222",
    "333333333333",
    "444444444444",
];
/// Regions of the organization.
pub const REGIONS: &[&str] = &["eu-west-1", "us-east-1"];
/// Repository names, by position in a registry: the same names recur across registries.
pub const REPO_NAMES: &[&str] = &["app", "team/api", "base", "tools"];
/// Tags images claim; the same names recur across repositories.
pub const TAG_POOL: &[&str] = &["latest", "v1", "v2", "stable", "prod"];
/// Usage sources and the ECR source (whose failure blocks nothing).
pub const SOURCES: &[&str] = &["inspector", "config_aggregator", "ecs", "lambda", "ecr"];
/// Statuses of a failed source.
pub const FAILED_STATUSES: &[&str] = &["denied", "error", "disabled"];
/// The exclude tag of the default configuration.
pub const EXCLUDE_TAG: (&str, &str) = ("unusd", "true");
/// The opt-in tag of the default configuration.
pub const OPT_IN_TAG: (&str, &str) = ("ecrgc:auto-delete", "true");

/// The fixed `now`.
pub fn now() -> Micros {
    parse_rfc3339(NOW).expect("NOW is a valid timestamp")
}

/// The default thresholds at [`NOW`].
pub fn params() -> Params {
    Params::from_config(&Config::default(), now())
}

#[test]
fn the_tags_written_are_the_default_configurations() {
    let p = params();
    let selector = |(key, value): (&str, &str)| (key.to_owned(), Some(value.to_owned()));
    assert_eq!(p.exclude_tag, selector(EXCLUDE_TAG));
    assert_eq!(p.opt_in_tag, Some(selector(OPT_IN_TAG)));
}

/// A repository and the repository-level facts that decide its images' fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// Registry account.
    pub account: &'static str,
    /// Registry region.
    pub region: &'static str,
    /// Repository name.
    pub name: &'static str,
    /// Carries the exclude tag.
    pub excluded: bool,
    /// Carries the opt-in tag.
    pub opted_in: bool,
    /// Accounts its policy grants pulls to (`*` for any), besides its own.
    pub pullers: Vec<&'static str>,
}

/// Inspector coverage of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    /// `lastInUseAt`.
    pub last_in_use_at: Option<Micros>,
    /// `inUseCount`.
    pub in_use_count: Option<i64>,
    /// `imagePulledAt`.
    pub image_pulled_at: Option<Micros>,
    /// Scan status `ACTIVE` (Inspector monitors the image); else `INACTIVE`,
    /// `SCAN_ELIGIBILITY_EXPIRED`.
    pub active: bool,
}

/// One image of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Index into [`Org::repos`].
    pub repo: usize,
    /// Manifest digest.
    pub digest: String,
    /// Push time.
    pub pushed_at: Micros,
    /// Size in bytes (an index: its largest child).
    pub size: i64,
    /// Manifest media type.
    pub media_type: &'static str,
    /// Artifact media type (signatures, SBOMs).
    pub artifact_media_type: Option<&'static str>,
    /// OCI subject digest (referrers).
    pub subject: Option<String>,
    /// ECR's `lastRecordedPullTime`.
    pub last_pull: Option<Micros>,
    /// `ACTIVE`, `ARCHIVED` or `ACTIVATING`.
    pub status: &'static str,
    /// Inspector coverage, if any.
    pub coverage: Option<Coverage>,
    /// Tags the image holds now.
    pub tags: Vec<String>,
}

/// An `image_relations` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Index into [`Org::repos`].
    pub repo: usize,
    /// The index or subject.
    pub parent: String,
    /// The child, referrer or signature.
    pub child: String,
    /// `index_child`, `referrer` or `cosign_tag`.
    pub relation: &'static str,
}

/// What a workload reference names, as the generator meant it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Registry account, region and repository; `None` for a non-ECR image, whose other
    /// fields mean nothing.
    pub ecr: Option<(&'static str, &'static str, &'static str)>,
    /// Tag (`latest` when the string names neither tag nor digest).
    pub tag: Option<String>,
    /// Digest in the string.
    pub digest: Option<String>,
}

/// A `workload_refs` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRef {
    /// Workload account.
    pub account: &'static str,
    /// Workload region.
    pub region: &'static str,
    /// Where it was read.
    pub source: &'static str,
    /// Workload kind.
    pub kind: &'static str,
    /// Resource ARN.
    pub arn: String,
    /// Resource status.
    pub status: &'static str,
    /// When the status last changed.
    pub status_at: Option<Micros>,
    /// The image string.
    pub image_uri: String,
    /// What the image string names.
    pub target: Target,
    /// The digest the source resolved.
    pub resolved_digest: Option<String>,
}

/// A `collection_coverage` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    /// Account read.
    pub account: &'static str,
    /// Region read.
    pub region: &'static str,
    /// Source.
    pub source: &'static str,
    /// `ok`, `denied`, `error` or `disabled`.
    pub status: &'static str,
}

/// A replication rule of a registry (one destination, at most one prefix filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    /// Source registry account.
    pub account: &'static str,
    /// Source region.
    pub region: &'static str,
    /// Destination registry account.
    pub destination_account: &'static str,
    /// Destination region.
    pub destination_region: &'static str,
    /// `PREFIX_MATCH` filter, or every repository.
    pub filter: Option<&'static str>,
    /// `deleteReplication.enabled`.
    pub delete: bool,
}

/// A whole organization as facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Org {
    /// Repositories.
    pub repos: Vec<Repo>,
    /// Images, parents before their children.
    pub images: Vec<Image>,
    /// Parent → child edges.
    pub relations: Vec<Relation>,
    /// Workload references.
    pub refs: Vec<WorkloadRef>,
    /// Collection outcomes.
    pub sources: Vec<SourceStatus>,
    /// Registry replication rules.
    pub replication: Vec<Replication>,
    /// Accounts of the organization (of [`ACCOUNTS`]) the run did not collect; every other
    /// account of [`ACCOUNTS`] is collected, and no account outside it.
    pub uncollected: Vec<&'static str>,
}

/// The organization every run lists: `*` grants of the generated policies are
/// organization-wide grants of it.
pub const ORGANIZATION: &str = "o-proptest01";

/// An account no run collects.
pub const STRANGER: &str = "999999999999";

impl Org {
    /// Whether the run collected `account`'s workloads.
    pub fn collected(&self, account: &str) -> bool {
        ACCOUNTS.contains(&account) && !self.uncollected.contains(&account)
    }

    /// The image with this repository and digest.
    pub fn find(&self, repo: usize, digest: &str) -> Option<usize> {
        self.images
            .iter()
            .position(|i| i.repo == repo && i.digest == digest)
    }

    /// Sets the status of one source (adding its row when missing).
    pub fn set_source(&mut self, failure: SourceStatus) {
        match self.sources.iter_mut().find(|s| {
            (s.account, s.region, s.source) == (failure.account, failure.region, failure.source)
        }) {
            Some(s) => s.status = failure.status,
            None => self.sources.push(failure),
        }
    }

    /// Every table of the snapshot, by name.
    pub fn tables(&self) -> Vec<(&'static str, RecordBatch)> {
        let run = "proptest";
        let now = now();
        let mut repositories = RepositoriesBuilder::new(run, now, 16);
        let mut repository_tags = RepositoryTagsBuilder::new(run, now, 16);
        let mut pullers = RepositoryPullersBuilder::new(run, now, 16);
        for r in &self.repos {
            let arn = format!(
                "arn:aws:ecr:{}:{}:repository/{}",
                r.region, r.account, r.name
            );
            repositories.append(RepositoryRow {
                account_id: r.account,
                region: r.region,
                repository_name: r.name,
                repository_arn: &arn,
                created_at: Some(now - 800 * DAY),
                image_tag_mutability: "MUTABLE",
                lifecycle_policy_text: None,
            });
            let mut tags = vec![("team", "platform")];
            if r.excluded {
                tags.push(EXCLUDE_TAG);
            } else {
                // The right key with another value excludes nothing.
                tags.push((EXCLUDE_TAG.0, "false"));
            }
            if r.opted_in {
                tags.push(OPT_IN_TAG);
            }
            for (tag_key, tag_value) in tags {
                repository_tags.append(RepositoryTagRow {
                    account_id: r.account,
                    region: r.region,
                    repository_name: r.name,
                    tag_key,
                    tag_value,
                });
            }
            for p in std::iter::once(&r.account).chain(&r.pullers) {
                let (grant_kind, org) = if *p == "*" {
                    ("organization", Some(ORGANIZATION))
                } else {
                    ("account", None)
                };
                pullers.append(RepositoryPullerRow {
                    account_id: r.account,
                    region: r.region,
                    repository_name: r.name,
                    puller_account_id: p,
                    grant_kind,
                    principal: p,
                    principal_org_id: org,
                });
            }
        }
        let mut images = ImagesBuilder::new(run, now, 64);
        let mut image_tags = ImageTagsBuilder::new(run, now, 64);
        let mut coverage = InspectorCoverageBuilder::new(run, now, 64);
        for i in &self.images {
            let r = &self.repos[i.repo];
            images.append(ImageRow {
                account_id: r.account,
                region: r.region,
                repository_name: r.name,
                image_digest: &i.digest,
                image_pushed_at: i.pushed_at,
                image_size_bytes: i.size,
                image_manifest_media_type: i.media_type,
                artifact_media_type: i.artifact_media_type,
                last_recorded_pull_time: i.last_pull,
                image_status: i.status,
                subject_manifest_digest: i.subject.as_deref(),
                tag_count: i.tags.len() as i64,
            });
            for tag in &i.tags {
                image_tags.append(ImageTagRow {
                    account_id: r.account,
                    region: r.region,
                    repository_name: r.name,
                    image_digest: &i.digest,
                    image_tag: tag,
                });
            }
            if let Some(c) = i.coverage {
                coverage.append(InspectorCoverageRow {
                    account_id: r.account,
                    region: r.region,
                    repository_name: r.name,
                    image_digest: &i.digest,
                    last_in_use_at: c.last_in_use_at,
                    in_use_count: c.in_use_count,
                    image_pulled_at: c.image_pulled_at,
                    scan_status: if c.active { "ACTIVE" } else { "INACTIVE" },
                    scan_status_reason: Some(if c.active {
                        "SUCCESSFUL"
                    } else {
                        "SCAN_ELIGIBILITY_EXPIRED"
                    }),
                });
            }
        }
        let mut relations = ImageRelationsBuilder::new(run, now, 16);
        for e in &self.relations {
            let r = &self.repos[e.repo];
            relations.append(ImageRelationRow {
                account_id: r.account,
                region: r.region,
                repository_name: r.name,
                parent_digest: &e.parent,
                child_digest: &e.child,
                relation: e.relation,
            });
        }
        let mut refs = WorkloadRefsBuilder::new(run, now, 16);
        for w in &self.refs {
            // The columns are parsed from the string, as the collectors do.
            let parsed = parse_image_ref(&w.image_uri);
            refs.append(WorkloadRefRow {
                account_id: w.account,
                region: w.region,
                source: w.source,
                kind: w.kind,
                resource_arn: &w.arn,
                status: w.status,
                status_at: w.status_at,
                container_name: (!w.kind.starts_with("lambda")).then_some("app"),
                image_uri: &w.image_uri,
                ref_is_ecr: parsed.is_ecr,
                ref_account_id: parsed.account_id.as_deref(),
                ref_region: parsed.region.as_deref(),
                ref_repository: Some(&parsed.repository),
                ref_tag: parsed.tag.as_deref(),
                ref_digest: parsed.digest.as_deref(),
                resolved_digest: w.resolved_digest.as_deref(),
                ref_parse_error: parsed.parse_error.as_deref(),
            });
        }
        let mut sources = CollectionCoverageBuilder::new(run, now, 64);
        for s in &self.sources {
            let ok = s.status == "ok";
            sources.append(CollectionCoverageRow {
                account_id: s.account,
                region: s.region,
                source: s.source,
                status: s.status,
                error: (!ok).then_some("AccessDeniedException"),
                items: i64::from(ok),
                api_calls: 1,
                throttles: 0,
                duration_ms: 10,
            });
        }
        let mut replication = ReplicationRulesBuilder::new(run, now, 4);
        for (index, r) in self.replication.iter().enumerate() {
            replication.append(ReplicationRuleRow {
                account_id: r.account,
                region: r.region,
                rule_index: index as i64,
                destination_account_id: r.destination_account,
                destination_region: r.destination_region,
                repository_filter: r.filter,
                filter_type: r.filter.map(|_| "PREFIX_MATCH"),
                delete_replication: r.delete,
            });
        }
        let mut scope = CollectionScopeBuilder::new(run, now, ACCOUNTS.len());
        for a in ACCOUNTS {
            scope.append(CollectionScopeRow {
                account_id: a,
                workload: self.collected(a),
                registry: REGISTRY_ACCOUNTS.contains(a),
                organization_id: Some(ORGANIZATION),
                organization_member: true,
            });
        }
        vec![
            (ReplicationRulesBuilder::NAME, replication.finish()),
            (CollectionScopeBuilder::NAME, scope.finish()),
            (RepositoriesBuilder::NAME, repositories.finish()),
            (RepositoryTagsBuilder::NAME, repository_tags.finish()),
            (RepositoryPullersBuilder::NAME, pullers.finish()),
            (ImagesBuilder::NAME, images.finish()),
            (ImageTagsBuilder::NAME, image_tags.finish()),
            (ImageRelationsBuilder::NAME, relations.finish()),
            (InspectorCoverageBuilder::NAME, coverage.finish()),
            (WorkloadRefsBuilder::NAME, refs.finish()),
            (CollectionCoverageBuilder::NAME, sources.finish()),
        ]
    }
}
