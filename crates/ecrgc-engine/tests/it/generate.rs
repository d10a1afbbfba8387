//! The random organization generator: proptest strategies over the choices an organization
//! is made of ([`org`], plus [`live_ref`] and [`failure`] for the properties that add to
//! one), and the builder that turns those choices into [`Org`] facts deterministically.
//!
//! Every instant is placed well away from the cut-offs of the default thresholds (no image,
//! pull or use within a day of a boundary, no status change within two hours of the
//! rollback window), so that the oracle is never ambiguous about which side a fact falls.

use std::collections::{BTreeMap, BTreeSet};

use ecrgc_model::image_ref::ecr_host;
use ecrgc_model::time::{DAY, HOUR, Micros};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, subsequence};

use crate::org::{
    ACCOUNTS, Coverage, FAILED_STATUSES, Image, Org, REGIONS, REGISTRY_ACCOUNTS, REPO_NAMES,
    Relation, Repo, SOURCES, SourceStatus, TAG_POOL, Target, WorkloadRef, now,
};

const MEDIA_IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const COSIGN_ARTIFACT: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const SBOM_ARTIFACT: &str = "application/spdx+json";
const NON_ECR_IMAGES: &[&str] = &[
    "nginx:1.27",
    "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
    "ghcr.io/fluxcd/source-controller:v1.4.1",
];
const MAX_IMAGES_PER_REPO: usize = 15;

/// An instant `lo..=hi` hours before now; `f` in 0..=1000 places it in the span.
fn hours_ago(lo: i64, hi: i64) -> impl Strategy<Value = Micros> + Clone {
    (0..=1000i64).prop_map(move |f| now() - (lo + (hi - lo) * f / 1000) * HOUR)
}

/// Within the 90-day windows (use, pull), at least two days from their edge.
fn recent() -> impl Strategy<Value = Micros> + Clone {
    hours_ago(1, 88 * 24)
}

/// Outside the 90-day windows, at least two days from their edge.
fn old() -> impl Strategy<Value = Micros> + Clone {
    hours_ago(92 * 24, 800 * 24)
}

fn pushed_at() -> impl Strategy<Value = Micros> + Clone {
    prop_oneof![
        1 => hours_ago(1, 12 * 24),       // young: under 14 days
        1 => hours_ago(16 * 24, 88 * 24), // old enough, not yet unused
        4 => hours_ago(92 * 24, 700 * 24) // older than unused_days
    ]
}

fn coverage() -> impl Strategy<Value = Option<Coverage>> + Clone {
    let last =
        prop_oneof![2 => Just(None), 1 => recent().prop_map(Some), 2 => old().prop_map(Some)];
    let count = prop_oneof![1 => Just(None), 4 => Just(Some(0)), 1 => (1..4i64).prop_map(Some)];
    let pulled =
        prop_oneof![3 => Just(None), 1 => recent().prop_map(Some), 1 => old().prop_map(Some)];
    let active = prop_oneof![3 => Just(true), 1 => Just(false)];
    prop_oneof![
        1 => Just(None),
        3 => (last, count, pulled, active).prop_map(
            |(last_in_use_at, in_use_count, image_pulled_at, active)| {
                Some(Coverage { last_in_use_at, in_use_count, image_pulled_at, active })
            }
        ),
    ]
}

/// The per-image facts of a spec.
#[derive(Debug, Clone)]
struct Facts {
    pushed_at: Micros,
    size: i64,
    last_pull: Option<Micros>,
    status: &'static str,
    coverage: Option<Coverage>,
    /// Indices into [`TAG_POOL`] the image claims; the newest claimant keeps a tag.
    tags: BTreeSet<usize>,
}

fn facts(tagged: bool) -> impl Strategy<Value = Facts> {
    let pull =
        prop_oneof![3 => Just(None), 1 => recent().prop_map(Some), 2 => old().prop_map(Some)];
    let tags = if tagged {
        prop_oneof![2 => Just(BTreeSet::new()), 3 => proptest::collection::btree_set(0..TAG_POOL.len(), 1..=2)]
            .boxed()
    } else {
        Just(BTreeSet::new()).boxed()
    };
    let status = prop_oneof![30 => Just("ACTIVE"), 1 => Just("ARCHIVED"), 1 => Just("ACTIVATING")];
    (
        pushed_at(),
        1_000..2_000_000_000i64,
        pull,
        status,
        coverage(),
        tags,
    )
        .prop_map(
            |(pushed_at, size, last_pull, status, coverage, tags)| Facts {
                pushed_at,
                size,
                last_pull,
                status,
                coverage,
                tags,
            },
        )
}

#[derive(Debug, Clone)]
struct ChildSpec {
    facts: Facts,
    signature: Option<Facts>,
}

/// One root image with what hangs below it.
#[derive(Debug, Clone)]
struct UnitSpec {
    root: Facts,
    /// Reuse the digest of a root of another repository (the same image pushed twice).
    copy_of: Option<Index>,
    /// The root is a referrer whose subject is gone.
    orphan: bool,
    /// Index children (the root is then an image index).
    children: Vec<ChildSpec>,
    /// Also list a child of another index of the repository.
    share: Option<Index>,
    signature: Option<Facts>,
    referrers: Vec<Facts>,
}

fn unit() -> impl Strategy<Value = UnitSpec> {
    let child = (facts(false), option::weighted(0.25, facts(false)))
        .prop_map(|(facts, signature)| ChildSpec { facts, signature });
    (
        facts(true),
        option::weighted(0.15, any::<Index>()),
        prop::bool::weighted(0.08),
        prop_oneof![3 => Just(Vec::new()), 1 => vec(child, 1..=3)],
        option::weighted(0.3, any::<Index>()),
        option::weighted(0.25, facts(false)),
        prop_oneof![4 => Just(Vec::new()), 1 => vec(facts(false), 1..=2)],
    )
        .prop_map(
            |(root, copy_of, orphan, children, share, signature, referrers)| UnitSpec {
                root,
                copy_of,
                orphan,
                children,
                share,
                signature,
                referrers,
            },
        )
}

#[derive(Debug, Clone)]
struct RepoSpec {
    excluded: bool,
    opted_in: bool,
    pullers: Vec<&'static str>,
    units: Vec<UnitSpec>,
}

fn repo() -> impl Strategy<Value = RepoSpec> {
    let puller_pool: Vec<&'static str> = ACCOUNTS.iter().copied().chain(["*"]).collect();
    (
        prop::bool::weighted(0.12),
        prop::bool::weighted(0.8),
        prop_oneof![2 => Just(Vec::new()), 3 => subsequence(puller_pool, 1..=2)],
        vec(unit(), 0..=7),
    )
        .prop_map(|(excluded, opted_in, pullers, units)| RepoSpec {
            excluded,
            opted_in,
            pullers,
            units,
        })
}

/// How a reference names its image.
#[derive(Debug, Clone)]
pub enum Form {
    /// `repo@digest`.
    Digest,
    /// `repo:tag`, resolved through the tag in the snapshot.
    Tag,
    /// `repo:tag@digest` (the tag is a random pool tag: the digest wins).
    TagAtDigest(usize),
    /// `repo:tag` where the source resolved the image's digest (the tag may have moved).
    Resolved(usize),
    /// `repo`, which means `repo:latest`.
    Bare,
}

/// What kind of workload, in which state.
#[derive(Debug, Clone)]
pub enum Kind {
    /// An ACTIVE task definition.
    TaskDefinitionActive,
    /// An INACTIVE task definition, deregistered at `status_at`.
    TaskDefinitionInactive(Option<Micros>),
    /// A service.
    Service,
    /// A service's current revision, pinning a digest (ECS version consistency).
    ServiceRevision,
    /// A revision named by a service deployment created at `status_at` (a rollback target).
    ServiceDeployment(Option<Micros>),
    /// A running task.
    TaskRunning,
    /// A stopped task, stopped at `status_at`.
    TaskStopped(Option<Micros>),
    /// A Lambda function version.
    LambdaVersion,
    /// A Lambda alias.
    LambdaAlias,
}

fn status_at() -> impl Strategy<Value = Option<Micros>> + Clone {
    prop_oneof![
        1 => Just(None),
        2 => hours_ago(1, 22).prop_map(Some),
        4 => hours_ago(48, 120 * 24).prop_map(Some),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::TaskDefinitionActive),
        4 => status_at().prop_map(Kind::TaskDefinitionInactive),
        2 => Just(Kind::Service),
        2 => Just(Kind::ServiceRevision),
        2 => status_at().prop_map(Kind::ServiceDeployment),
        2 => Just(Kind::TaskRunning),
        3 => status_at().prop_map(Kind::TaskStopped),
        1 => Just(Kind::LambdaVersion),
        1 => Just(Kind::LambdaAlias),
    ]
}

/// A live kind only.
pub fn live_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::TaskDefinitionActive),
        hours_ago(1, 22).prop_map(|t| Kind::TaskDefinitionInactive(Some(t))),
        Just(Kind::TaskDefinitionInactive(None)),
        Just(Kind::Service),
        Just(Kind::ServiceRevision),
        hours_ago(1, 22).prop_map(|t| Kind::ServiceDeployment(Some(t))),
        Just(Kind::ServiceDeployment(None)),
        Just(Kind::TaskRunning),
        hours_ago(1, 22).prop_map(|t| Kind::TaskStopped(Some(t))),
        Just(Kind::LambdaVersion),
        Just(Kind::LambdaAlias),
    ]
}

/// What a reference points at, before the organization exists.
#[derive(Debug, Clone)]
pub enum Aim {
    /// An existing image (`Index` over all images), named in `Form`; `elsewhere` names it
    /// under other coordinates instead of its own (the digest or tag then names nothing,
    /// or another image).
    Image {
        /// Which image.
        image: Index,
        /// How.
        form: Form,
        /// Other coordinates, with the image's digest or tag.
        elsewhere: Option<Elsewhere>,
    },
    /// A pool tag in a repository, whatever holds it now.
    Tag {
        /// Which repository.
        repo: Index,
        /// Index into [`TAG_POOL`].
        tag: usize,
    },
    /// A digest no image has.
    Missing {
        /// Which repository.
        repo: Index,
    },
    /// A public image.
    NonEcr(usize),
}

/// Coordinates other than an image's own.
#[derive(Debug, Clone)]
pub enum Elsewhere {
    /// Another repository of the organization.
    Repo(Index),
    /// The same repository name and region under the other registry account.
    Account,
    /// The same repository name and account in the other region.
    Region,
}

impl Elsewhere {
    fn coords(&self, org: &Org, own: usize) -> (&'static str, &'static str, &'static str) {
        let twin = |list: &[&'static str], own: &str| {
            list.iter()
                .copied()
                .find(|x| *x != own)
                .expect("two of each")
        };
        let r = &org.repos[own];
        match self {
            Elsewhere::Repo(ix) => {
                let r = &org.repos[ix.index(org.repos.len())];
                (r.account, r.region, r.name)
            }
            Elsewhere::Account => (twin(REGISTRY_ACCOUNTS, r.account), r.region, r.name),
            Elsewhere::Region => (r.account, twin(REGIONS, r.region), r.name),
        }
    }
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        3 => Just(Form::Digest),
        3 => Just(Form::Tag),
        1 => (0..TAG_POOL.len()).prop_map(Form::TagAtDigest),
        2 => (0..TAG_POOL.len()).prop_map(Form::Resolved),
        1 => Just(Form::Bare),
    ]
}

fn aim() -> impl Strategy<Value = Aim> {
    prop_oneof![
        8 => (any::<Index>(), form(), option::weighted(0.2, prop_oneof![
            any::<Index>().prop_map(Elsewhere::Repo),
            Just(Elsewhere::Account),
            Just(Elsewhere::Region),
        ]))
            .prop_map(|(image, form, elsewhere)| Aim::Image { image, form, elsewhere }),
        2 => (any::<Index>(), 0..TAG_POOL.len()).prop_map(|(repo, tag)| Aim::Tag { repo, tag }),
        1 => any::<Index>().prop_map(|repo| Aim::Missing { repo }),
        1 => (0..NON_ECR_IMAGES.len()).prop_map(Aim::NonEcr),
    ]
}

/// A reference before the organization exists.
#[derive(Debug, Clone)]
pub struct RefSpec {
    account: usize,
    region: usize,
    /// Workload kind and state.
    pub kind: Kind,
    aim: Aim,
}

fn ref_spec(kind: impl Strategy<Value = Kind>) -> impl Strategy<Value = RefSpec> {
    (0..ACCOUNTS.len(), 0..REGIONS.len(), kind, aim()).prop_map(|(account, region, kind, aim)| {
        RefSpec {
            account,
            region,
            kind,
            aim,
        }
    })
}

/// A live reference to a random existing image (in any form), for [`Org::add_ref`].
pub fn live_ref() -> impl Strategy<Value = RefSpec> {
    (
        0..ACCOUNTS.len(),
        0..REGIONS.len(),
        live_kind(),
        any::<Index>(),
        form(),
    )
        .prop_map(|(account, region, kind, image, form)| RefSpec {
            account,
            region,
            kind,
            aim: Aim::Image {
                image,
                form,
                elsewhere: None,
            },
        })
}

/// A service's current revision pinning an existing image's digest (`resolved_digest`),
/// whatever tag its image string names: ECS version consistency.
pub fn pinned_revision() -> impl Strategy<Value = RefSpec> {
    (
        0..ACCOUNTS.len(),
        0..REGIONS.len(),
        any::<Index>(),
        0..TAG_POOL.len(),
    )
        .prop_map(|(account, region, image, tag)| RefSpec {
            account,
            region,
            kind: Kind::ServiceRevision,
            aim: Aim::Image {
                image,
                form: Form::Resolved(tag),
                elsewhere: None,
            },
        })
}

/// A failed usage source.
pub fn failure() -> impl Strategy<Value = SourceStatus> {
    (
        prop::sample::select(ACCOUNTS),
        prop::sample::select(REGIONS),
        prop::sample::select(&SOURCES[..4]),
        prop::sample::select(FAILED_STATUSES),
    )
        .prop_map(|(account, region, source, status)| SourceStatus {
            account,
            region,
            source,
            status,
        })
}

fn any_failure() -> impl Strategy<Value = SourceStatus> {
    (
        prop::sample::select(ACCOUNTS),
        prop::sample::select(REGIONS),
        prop::sample::select(SOURCES),
        prop::sample::select(FAILED_STATUSES),
    )
        .prop_map(|(account, region, source, status)| SourceStatus {
            account,
            region,
            source,
            status,
        })
}

/// A random organization.
pub fn org() -> impl Strategy<Value = Org> {
    let registries: Vec<(usize, usize)> = (0..REGISTRY_ACCOUNTS.len())
        .flat_map(|a| (0..REGIONS.len()).map(move |r| (a, r)))
        .collect();
    (
        subsequence(registries, 1..=3),
        vec(vec(repo(), 1..=4), 3),
        vec(ref_spec(kind()), 0..=14),
        prop_oneof![3 => Just(Vec::new()), 2 => vec(any_failure(), 1..=2)],
    )
        .prop_map(|(registries, repos, refs, failures)| build(&registries, repos, refs, failures))
}

/// A deterministic digest for the `n`-th image.
fn digest(n: u64) -> String {
    let mut x = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut out = String::from("sha256:");
    for _ in 0..4 {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.push_str(&format!("{z:016x}"));
    }
    out
}

struct Builder {
    org: Org,
    next_digest: u64,
    /// Claimed pool tags per image, resolved when the repository is complete.
    claims: Vec<BTreeSet<usize>>,
}

impl Builder {
    fn fresh_digest(&mut self) -> String {
        self.next_digest += 1;
        digest(self.next_digest)
    }

    /// Adds an image unless the repository is full; returns its digest.
    fn push(
        &mut self,
        repo: usize,
        digest: String,
        facts: &Facts,
        media_type: &'static str,
    ) -> Option<String> {
        let count = self.org.images.iter().filter(|i| i.repo == repo).count();
        if count >= MAX_IMAGES_PER_REPO || self.org.find(repo, &digest).is_some() {
            return None;
        }
        self.org.images.push(Image {
            repo,
            digest: digest.clone(),
            pushed_at: facts.pushed_at,
            size: facts.size,
            media_type,
            artifact_media_type: None,
            subject: None,
            last_pull: facts.last_pull,
            status: facts.status,
            coverage: facts.coverage,
            tags: Vec::new(),
        });
        self.claims.push(facts.tags.clone());
        Some(digest)
    }

    fn relate(&mut self, repo: usize, parent: &str, child: &str, relation: &'static str) {
        self.org.relations.push(Relation {
            repo,
            parent: parent.to_owned(),
            child: child.to_owned(),
            relation,
        });
    }

    /// A cosign signature of `subject`: tag `sha256-<hex>.sig`, relation `cosign_tag`.
    fn sign(&mut self, repo: usize, subject: &str, facts: &Facts) {
        let d = self.fresh_digest();
        if let Some(d) = self.push(repo, d, facts, MEDIA_IMAGE) {
            let image = self.org.images.last_mut().expect("just pushed");
            image.artifact_media_type = Some(COSIGN_ARTIFACT);
            image.tags = vec![format!("{}.sig", subject.replacen(':', "-", 1))];
            self.relate(repo, subject, &d, "cosign_tag");
        }
    }

    /// An OCI referrer of `subject` (the subject may not exist).
    fn refer(&mut self, repo: usize, subject: &str, facts: &Facts) -> Option<String> {
        let d = self.fresh_digest();
        let d = self.push(repo, d, facts, MEDIA_IMAGE)?;
        let image = self.org.images.last_mut().expect("just pushed");
        image.artifact_media_type = Some(SBOM_ARTIFACT);
        image.subject = Some(subject.to_owned());
        self.relate(repo, subject, &d, "referrer");
        Some(d)
    }

    fn unit(&mut self, repo: usize, spec: &UnitSpec) {
        if spec.orphan {
            let gone = self.fresh_digest();
            self.refer(repo, &gone, &spec.root);
            return;
        }
        let copies: Vec<String> = self
            .org
            .images
            .iter()
            .filter(|i| i.repo != repo && i.media_type == MEDIA_IMAGE)
            .filter(|i| i.artifact_media_type.is_none())
            .map(|i| i.digest.clone())
            .collect();
        let root_digest = match &spec.copy_of {
            Some(ix) if !copies.is_empty() => copies[ix.index(copies.len())].clone(),
            _ => self.fresh_digest(),
        };
        let media = if spec.children.is_empty() {
            MEDIA_IMAGE
        } else {
            MEDIA_INDEX
        };
        // Children of other indexes of this repository, for sharing.
        let shareable: Vec<String> = self
            .org
            .relations
            .iter()
            .filter(|e| e.repo == repo && e.relation == "index_child")
            .map(|e| e.child.clone())
            .collect();
        let Some(root) = self.push(repo, root_digest, &spec.root, media) else {
            return;
        };
        let root_index = self.org.images.len() - 1;
        let mut largest = None;
        for child in &spec.children {
            let d = self.fresh_digest();
            let Some(d) = self.push(repo, d, &child.facts, MEDIA_IMAGE) else {
                break;
            };
            largest = largest.max(Some(child.facts.size));
            self.relate(repo, &root, &d, "index_child");
            if let Some(sig) = &child.signature {
                self.sign(repo, &d, sig);
            }
        }
        if let (Some(ix), false) = (&spec.share, spec.children.is_empty())
            && !shareable.is_empty()
        {
            let shared = shareable[ix.index(shareable.len())].clone();
            if let Some(i) = self.org.find(repo, &shared) {
                largest = largest.max(Some(self.org.images[i].size));
            }
            self.relate(repo, &root, &shared, "index_child");
        }
        if let Some(size) = largest {
            self.org.images[root_index].size = size;
        }
        if let Some(sig) = &spec.signature {
            self.sign(repo, &root, sig);
        }
        for r in &spec.referrers {
            self.refer(repo, &root, r);
        }
    }

    /// Gives each pool tag to the newest image of the repository that claims it: the tag
    /// has moved there from the older claimants.
    fn resolve_tags(&mut self, repo: usize) {
        let mut holder: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, claims) in self.claims.iter().enumerate() {
            if self.org.images[i].repo != repo {
                continue;
            }
            for &t in claims {
                let newer = holder
                    .get(&t)
                    .is_none_or(|&h| self.org.images[h].pushed_at <= self.org.images[i].pushed_at);
                if newer {
                    holder.insert(t, i);
                }
            }
        }
        for (t, i) in holder {
            self.org.images[i].tags.push(TAG_POOL[t].to_owned());
        }
    }

    fn add_ref(&mut self, spec: &RefSpec) {
        let n = self.org.refs.len() + 1;
        let account = ACCOUNTS[spec.account];
        let region = REGIONS[spec.region];
        let (kind, status, status_at, source, arn) = match &spec.kind {
            Kind::TaskDefinitionActive => (
                "task_definition",
                "ACTIVE",
                None,
                if n.is_multiple_of(2) {
                    "ecs"
                } else {
                    "config_aggregator"
                },
                format!("arn:aws:ecs:{region}:{account}:task-definition/app:{n}"),
            ),
            Kind::TaskDefinitionInactive(at) => (
                "task_definition",
                "INACTIVE",
                *at,
                if n.is_multiple_of(2) {
                    "ecs"
                } else {
                    "config_aggregator"
                },
                format!("arn:aws:ecs:{region}:{account}:task-definition/app:{n}"),
            ),
            Kind::Service => (
                "service",
                "ACTIVE",
                None,
                "ecs",
                format!("arn:aws:ecs:{region}:{account}:service/main/svc{n}"),
            ),
            Kind::ServiceRevision => (
                "service_revision",
                "ACTIVE",
                None,
                "ecs",
                format!("arn:aws:ecs:{region}:{account}:service-revision/main/svc{n}/{n}"),
            ),
            Kind::ServiceDeployment(at) => (
                "service_deployment",
                "SUCCESSFUL",
                *at,
                "ecs",
                format!("arn:aws:ecs:{region}:{account}:service-revision/main/svc{n}/{n}"),
            ),
            Kind::TaskRunning => (
                "task",
                "RUNNING",
                Some(now() - 3 * DAY),
                "ecs",
                format!("arn:aws:ecs:{region}:{account}:task/main/{n:032x}"),
            ),
            Kind::TaskStopped(at) => (
                "task",
                "STOPPED",
                *at,
                "ecs",
                format!("arn:aws:ecs:{region}:{account}:task/main/{n:032x}"),
            ),
            Kind::LambdaVersion => (
                "lambda_version",
                "ACTIVE",
                None,
                "lambda",
                format!("arn:aws:lambda:{region}:{account}:function:fn{n}:3"),
            ),
            Kind::LambdaAlias => (
                "lambda_alias",
                "ACTIVE",
                None,
                "lambda",
                format!("arn:aws:lambda:{region}:{account}:function:fn{n}:live"),
            ),
        };
        let coords = |org: &Org, repo: usize| {
            let r = &org.repos[repo];
            Some((r.account, r.region, r.name))
        };
        let pool = |t: usize| Some(TAG_POOL[t].to_owned());
        let repos = self.org.repos.len();
        // Registry and repository, tag, digest, and the digest the source resolved.
        let (ecr, tag, digest, resolved_digest) = match &spec.aim {
            Aim::Image {
                image,
                form,
                elsewhere,
            } => {
                if self.org.images.is_empty() {
                    return;
                }
                let img = &self.org.images[image.index(self.org.images.len())];
                let ecr = match elsewhere {
                    Some(e) => Some(e.coords(&self.org, img.repo)),
                    None => coords(&self.org, img.repo),
                };
                let digest = Some(img.digest.clone());
                match (form, img.tags.first()) {
                    // An untagged image can only be named by digest.
                    (Form::Digest, _) | (Form::Tag, None) => (ecr, None, digest, None),
                    (Form::Tag, Some(tag)) => (ecr, Some(tag.clone()), None, None),
                    (Form::TagAtDigest(t), _) => (ecr, pool(*t), digest, None),
                    (Form::Resolved(t), _) => (ecr, pool(*t), None, digest),
                    (Form::Bare, _) => (ecr, None, None, None),
                }
            }
            Aim::Tag { repo, tag } => {
                (coords(&self.org, repo.index(repos)), pool(*tag), None, None)
            }
            Aim::Missing { repo } => {
                let d = Some(self.fresh_digest());
                (coords(&self.org, repo.index(repos)), None, d, None)
            }
            Aim::NonEcr(_) => (None, None, None, None),
        };
        let image_uri = match (&spec.aim, ecr) {
            (Aim::NonEcr(i), _) => NON_ECR_IMAGES[*i].to_owned(),
            (_, Some((a, r, name))) => {
                let tag = tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
                let digest = digest.as_ref().map(|d| format!("@{d}")).unwrap_or_default();
                format!("{}/{name}{tag}{digest}", ecr_host(a, r))
            }
            (_, None) => unreachable!("only a non-ECR aim has no registry"),
        };
        let target = Target {
            ecr,
            tag: tag.or_else(|| digest.is_none().then(|| "latest".to_owned())),
            digest,
        };
        self.org.refs.push(WorkloadRef {
            account,
            region,
            source,
            kind,
            arn,
            status,
            status_at,
            image_uri,
            target,
            resolved_digest,
        });
    }
}

fn build(
    registries: &[(usize, usize)],
    repos: Vec<Vec<RepoSpec>>,
    refs: Vec<RefSpec>,
    failures: Vec<SourceStatus>,
) -> Org {
    let mut b = Builder {
        org: Org::default(),
        next_digest: 0,
        claims: Vec::new(),
    };
    for (&(a, r), specs) in registries.iter().zip(repos) {
        for (name, spec) in REPO_NAMES.iter().zip(specs) {
            let repo = b.org.repos.len();
            b.org.repos.push(Repo {
                account: REGISTRY_ACCOUNTS[a],
                region: REGIONS[r],
                name,
                excluded: spec.excluded,
                opted_in: spec.opted_in,
                pullers: spec.pullers,
            });
            for u in &spec.units {
                b.unit(repo, u);
            }
            b.resolve_tags(repo);
        }
    }
    for spec in &refs {
        b.add_ref(spec);
    }
    for account in ACCOUNTS {
        for region in REGIONS {
            for source in ["ecr", "ecr_replication", "inspector", "ecs", "lambda"] {
                b.org.sources.push(SourceStatus {
                    account,
                    region,
                    source,
                    status: "ok",
                });
            }
        }
    }
    b.org.sources.push(SourceStatus {
        account: ACCOUNTS[0],
        region: REGIONS[0],
        source: "config_aggregator",
        status: "ok",
    });
    for f in failures {
        b.org.set_source(f);
    }
    b.org
}

impl Org {
    /// Adds a reference (resolved against the images as they are now).
    pub fn add_ref(&mut self, spec: &RefSpec) {
        let mut b = Builder {
            org: std::mem::take(self),
            next_digest: u64::MAX / 2,
            claims: Vec::new(),
        };
        b.add_ref(spec);
        *self = b.org;
    }
}
