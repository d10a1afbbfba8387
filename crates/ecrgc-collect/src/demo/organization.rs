//! The organization the demo invents: its accounts and regions, which of them hold
//! registries and workloads, where a usage source fails, and the repositories with the
//! settings (tag mutability, exclusion, opt-in, pull grants) that decide their images' fate.

use crate::rng::Rng;

/// The accounts of the demo organization and what they are.
pub const ACCOUNTS: &[(&str, &str)] = &[
    ("111111111111", "shared-services"),
    ("222222222222", "prod"),
    ("333333333333", "staging"),
    ("444444444444", "sandbox"),
    ("555555555555", "data"),
];

/// The id of the demo organization.
pub(super) const DEMO_ORGANIZATION: &str = "o-ecrgcdemo01";

/// The regions of the demo organization.
pub const REGIONS: &[&str] = &["eu-west-1", "us-east-1"];

pub(super) const CENTRAL: &str = "111111111111";
pub(super) const PROD: &str = "222222222222";
pub(super) const STAGING: &str = "333333333333";
pub(super) const SANDBOX: &str = "444444444444";
pub(super) const DATA: &str = "555555555555";
/// The registry whose Inspector keeps AWS's default rescan durations for new accounts
/// (14 days; Inspector User Guide, "Configuring the Amazon ECR re-scan duration"), so it
/// stops monitoring images neither pushed nor used within 14 days. Every other registry
/// monitors for the image's lifetime.
pub(super) const SHORT_RESCAN: &str = DATA;
/// The rescan durations of [`SHORT_RESCAN`], in days.
pub(super) const SHORT_RESCAN_DAYS: i64 = 14;
/// The account whose ECS collection fails, and where.
pub(super) const FAILED: (&str, &str, &str) = (SANDBOX, "us-east-1", "ecs");

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

/// A repository of the demo and the facts that decide its images' fate.
#[derive(Debug, Clone)]
pub(super) struct Repo {
    pub(super) account: &'static str,
    pub(super) region: &'static str,
    pub(super) name: String,
    pub(super) immutable: bool,
    /// Carries the configured exclude tag.
    pub(super) excluded: bool,
    /// Carries the configured opt-in tag.
    pub(super) opted_in: bool,
    /// Accounts granted pulls besides the registry's own; `*` is an organization-wide grant.
    pub(super) pullers: Vec<&'static str>,
}

impl Repo {
    /// Whether a usage source failure hides use of this repository's images.
    pub(super) fn blocked(&self) -> bool {
        self.account == FAILED.0 || self.pullers.iter().any(|p| *p == FAILED.0 || *p == "*")
    }
}

/// The repositories of an organization of `images` images: about one per 150 images, at
/// least 12 (when there are that many images), each with a special role at a fixed position.
pub(super) fn plan_repositories(images: u64, seed: u64) -> Vec<Repo> {
    let count = (images / 150).clamp(12, 1_000_000).min(images) as usize;
    let mut rng = Rng::derive(seed, 0);
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
