//! Who and what a run collects: the accounts (listed or discovered through AWS
//! Organizations), which of them are read for workloads and for registries, the regions,
//! and the part a shard of a split run takes.

use std::collections::BTreeSet;

use ecrgc_aws::Aws;
use ecrgc_config::Config;
use ecrgc_model::time::Micros;
use ecrgc_model::{CollectionScopeBuilder, CollectionScopeRow};
use ecrgc_store::ShardScope;

use crate::{CollectError, Result};

/// One shard of a collection split over processes: `index` of `count`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 1.
    pub index: u32,
    /// Shards in all.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || format!("invalid shard {s:?}: expected I/N with 1 <= I <= N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// Whether this shard takes the `position`-th account of the sorted scope.
    fn takes(&self, position: usize) -> bool {
        position % self.count as usize == (self.index - 1) as usize
    }
}

/// The accounts and regions of a run (of this shard, for a shard).
pub(super) struct Scope {
    /// Accounts whose workloads are read (ECS, Lambda).
    pub(super) workloads: BTreeSet<String>,
    /// Accounts whose registries are read (ECR, Inspector).
    pub(super) registries: BTreeSet<String>,
    pub(super) regions: Vec<String>,
    /// The organization listed (`org.discover = "organizations"`), if any.
    pub(super) organization: Option<String>,
    /// Its ACTIVE accounts.
    pub(super) members: BTreeSet<String>,
    /// Every account of the run and its registry accounts, before a shard took its part:
    /// what a sharded run pins.
    pub(super) all_accounts: Vec<String>,
    pub(super) all_registries: Vec<String>,
}

impl Scope {
    /// The `collection_scope` rows: what the plan compares repository policies against.
    pub(super) fn table(&self, run_id: &str, now: Micros) -> arrow::array::RecordBatch {
        let accounts: BTreeSet<&String> = self.workloads.union(&self.registries).collect();
        let mut b = CollectionScopeBuilder::new(run_id, now, accounts.len());
        for a in accounts {
            b.append(CollectionScopeRow {
                account_id: a,
                workload: self.workloads.contains(a),
                registry: self.registries.contains(a),
                organization_id: self.organization.as_deref(),
                organization_member: self.members.contains(a),
            });
        }
        b.finish()
    }
}

/// What every shard of a run must share: the configuration (by hash), the accounts before
/// the split, the regions and the sources switched on (`--layers` included).
pub(super) fn shard_scope(
    config: &Config,
    scope: &Scope,
    config_hash: &str,
    layers: bool,
) -> ShardScope {
    let s = &config.sources;
    let mut sources: Vec<String> = [
        ("ecr", true),
        ("inspector", s.inspector),
        ("ecs", s.ecs),
        ("lambda", s.lambda),
        ("ecr_layers", layers),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| name.to_owned())
    .collect();
    if let Some(a) = &s.config_aggregator {
        sources.push(format!(
            "config_aggregator {}/{}/{}",
            a.account, a.region, a.name
        ));
    }
    sources.sort();
    ShardScope {
        config_hash: config_hash.to_owned(),
        accounts: scope.all_accounts.clone(),
        registry_accounts: scope.all_registries.clone(),
        regions: scope.regions.clone(),
        sources,
    }
}

/// The scope of a run: listed accounts, plus the organization's ACTIVE accounts when it
/// is discovered; the part of `shard`, when given.
pub(super) async fn scope(config: &Config, aws: &Aws, shard: Option<Shard>) -> Result<Scope> {
    let mut workloads: BTreeSet<String> = config.org.accounts.iter().cloned().collect();
    let mut organization = None;
    let mut members = BTreeSet::new();
    if config.org.discover.is_some() {
        for a in aws.organization_accounts().await? {
            organization = organization.or(a.organization_id);
            members.insert(a.id.clone());
            workloads.insert(a.id);
        }
    }
    // A registry whose account's workloads are not read would be judged without the
    // workloads most likely to run its images: refused before anything is written (the
    // config check does the same for listed accounts; discovered ones are known only now).
    if let Some(a) = config
        .org
        .registry_accounts
        .iter()
        .find(|a| !workloads.contains(*a))
    {
        return Err(CollectError::Invalid(format!(
            "invalid config: `org.registry_accounts` = {a:?}: not among the collected accounts \
             (org.accounts and the ACTIVE accounts of the organization): its images would be \
             judged without its own workloads"
        )));
    }
    let mut registries: BTreeSet<String> = if config.org.registry_accounts.is_empty() {
        workloads.clone()
    } else {
        config.org.registry_accounts.iter().cloned().collect()
    };
    let all_accounts: Vec<String> = workloads.union(&registries).cloned().collect();
    let all_registries: Vec<String> = registries.iter().cloned().collect();
    if let Some(shard) = shard {
        let all: BTreeSet<String> = workloads.union(&registries).cloned().collect();
        let mine: BTreeSet<String> = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| shard.takes(*i))
            .map(|(_, a)| a)
            .collect();
        workloads.retain(|a| mine.contains(a));
        registries.retain(|a| mine.contains(a));
    }
    Ok(Scope {
        workloads,
        registries,
        regions: config.org.regions.clone(),
        organization,
        members,
        all_accounts,
        all_registries,
    })
}
