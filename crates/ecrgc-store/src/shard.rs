//! The records of a sharded run below `_shards/<name>/` (see the `run` module for the
//! protocol): the plan the first shard pins, the record of each finished shard, and where
//! an attempt writes its files.

use std::collections::BTreeMap;

use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::location::Store;
use crate::marker::{RunMarker, TableStats};
use crate::{Result, StoreError};

/// Folder of the shard records below the store root.
pub(crate) const SHARD_DIR: &str = "_shards";

/// What the shards of one run must agree on, besides the shard count: pinned by the first
/// shard to start, compared by every other one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShardScope {
    /// The configuration's hash.
    pub config_hash: String,
    /// Every account of the run (workload and registry accounts), sorted: the list the
    /// shards split.
    pub accounts: Vec<String>,
    /// The registry accounts, sorted.
    pub registry_accounts: Vec<String>,
    /// The regions, as configured.
    pub regions: Vec<String>,
    /// The sources switched on, sorted.
    pub sources: Vec<String>,
}

impl ShardScope {
    /// The first field in which `self` (a shard's own scope) differs from `pinned`, with a
    /// description of both values.
    pub(crate) fn difference(&self, pinned: &ShardScope) -> Option<String> {
        fn list(v: &[String]) -> String {
            format!("[{}]", v.join(", "))
        }
        fn missing_extra(own: &[String], pinned: &[String]) -> String {
            let extra: Vec<String> = own
                .iter()
                .filter(|a| !pinned.contains(a))
                .cloned()
                .collect();
            let missing: Vec<String> = pinned
                .iter()
                .filter(|a| !own.contains(a))
                .cloned()
                .collect();
            format!(
                "this shard has {} not in the plan and lacks {}",
                list(&extra),
                list(&missing)
            )
        }
        if self.config_hash != pinned.config_hash {
            return Some(format!(
                "the configuration differs: its hash is {}, the run was started with {}",
                self.config_hash, pinned.config_hash
            ));
        }
        if self.accounts != pinned.accounts {
            return Some(format!(
                "the accounts differ ({}): {} pinned by the first shard, {} now",
                missing_extra(&self.accounts, &pinned.accounts),
                pinned.accounts.len(),
                self.accounts.len()
            ));
        }
        if self.registry_accounts != pinned.registry_accounts {
            return Some(format!(
                "the registry accounts differ ({})",
                missing_extra(&self.registry_accounts, &pinned.registry_accounts)
            ));
        }
        if self.regions != pinned.regions {
            return Some(format!(
                "the regions differ: {} pinned, {} now",
                list(&pinned.regions),
                list(&self.regions)
            ));
        }
        if self.sources != pinned.sources {
            return Some(format!(
                "the sources differ: {} pinned, {} now",
                list(&pinned.sources),
                list(&self.sources)
            ));
        }
        None
    }
}

/// What the first shard of a sharded run fixes for every other shard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ShardPlan {
    pub(crate) run_id: String,
    pub(crate) snapshot_time_micros: i64,
    pub(crate) count: u32,
    pub(crate) started_at: i64,
    pub(crate) origin: String,
    /// Absent in plans written before scopes were pinned: those are not compared.
    #[serde(default)]
    pub(crate) scope: Option<ShardScope>,
}

/// What a finished shard records: the attempt whose files make the shard, and its table
/// statistics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ShardRecord {
    pub(crate) index: u32,
    pub(crate) count: u32,
    /// The attempt's folder name below `attempts/`. Absent in records written before
    /// attempts had folders of their own: their files were written into the run's folders.
    #[serde(default)]
    pub(crate) attempt: Option<String>,
    pub(crate) finished_at: String,
    pub(crate) tables: BTreeMap<String, TableStats>,
}

/// How finishing a shard ended.
#[derive(Debug)]
pub enum ShardOutcome {
    /// Every shard is in and the run is committed (by this shard or a concurrent one).
    Committed(RunMarker),
    /// Other shards are still missing; the last one to finish commits.
    Waiting {
        /// Shards finished, this one included.
        done: u32,
        /// Shards in all.
        count: u32,
    },
}

#[derive(Clone)]
pub(crate) struct ShardOf {
    pub(crate) name: String,
    pub(crate) index: u32,
    pub(crate) count: u32,
    /// This attempt's folder name below `_shards/NAME/attempts/`.
    pub(crate) attempt: String,
    /// The shard was recorded by an earlier attempt: this one only completes the commit.
    pub(crate) recorded: bool,
}

/// The folder of one attempt of a shard, as path parts below the store root.
pub(crate) fn attempt_folder(name: &str, attempt: &str) -> Vec<String> {
    vec![
        SHARD_DIR.to_owned(),
        name.to_owned(),
        "attempts".to_owned(),
        attempt.to_owned(),
    ]
}

pub(crate) fn record_path(
    store: &Store,
    name: &str,
    index: u32,
    count: u32,
) -> object_store::path::Path {
    store.path(&[SHARD_DIR, name, &format!("{index}of{count}.json")])
}

/// The records of the shards of `name` that are in, by index.
pub(crate) async fn read_records(
    store: &Store,
    name: &str,
    count: u32,
) -> Result<Vec<ShardRecord>> {
    let mut records = Vec::new();
    for i in 1..=count {
        let p = record_path(store, name, i, count);
        match store.object_store().get(&p).await {
            Ok(got) => {
                let bytes = got.bytes().await?;
                let r: ShardRecord =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::CorruptMarker {
                        path: p.to_string(),
                        source,
                    })?;
                records.push(r);
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(records)
}
