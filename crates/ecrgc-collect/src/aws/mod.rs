//! The AWS collectors: `ecrgc collect`.
//!
//! One run reads every configured account × region × source as a unit of work:
//!
//! | source | where | tables |
//! |---|---|---|
//! | `ecr` | registry accounts | repositories, repository_tags, repository_pullers, images, image_tags, image_relations |
//! | `inspector` | registry accounts | inspector_coverage |
//! | `inspector_configuration` | registry accounts, inside the `inspector` unit | inspector_configuration |
//! | `config_aggregator` | the aggregator's account and region, once | workload_refs |
//! | `ecs` | workload accounts, always (nothing else sees services) | workload_refs |
//! | `lambda` | workload accounts | workload_refs |
//! | `eks` | workload accounts: every EKS cluster's Kubernetes API | workload_refs |
//! | `batch` | workload accounts | workload_refs |
//! | `apprunner` | workload accounts | workload_refs |
//! | `sagemaker` | workload accounts | workload_refs |
//! | `codebuild` | workload accounts | workload_refs |
//! | `kubernetes` | each kubeconfig context of `sources.kubernetes`, once | workload_refs |
//! | `references` | each location of `sources.references`, once | workload_refs |
//! | `ecr_layers` (with `--layers`) | registry accounts, inside the `ecr` unit | image_layers |
//! | `pull_time_exclusion` | registry accounts, inside the `ecr` unit | manifest_reads |
//! | `ecr_replication` | registry accounts, inside the `ecr` unit | replication_rules |
//! | `ecr_settings` | registry accounts, inside the `ecr` unit | pull_through_cache_rules, repository_creation_templates |
//!
//! Every unit ends as one `collection_coverage` row: `ok`, or `denied`, `disabled`, `error`
//! with the message. A failing unit never stops the run; the plan's `usage_coverage_gap`
//! guard turns a failed usage source into protection for exactly the repositories that
//! account can pull from. Only a store failure stops the run, and then nothing is committed.
//!
//! Units run concurrently (`collect.parallel_units`); inside a unit, requests fan out up to
//! `collect.api_concurrency`, and every call goes through the per-account × region × API
//! gates of [`ecrgc_aws::Caller`].

mod aggregator;
mod ecr;
mod ecs;
mod inspector;
mod lambda;
mod layers;
mod manifest;
mod policy;
mod prior;
mod progress;
mod registry;
mod scope;
mod sink;
mod unit;
pub mod workloads;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ecrgc_aws::{AccountSession, Aws, Caller, Failure};
use ecrgc_config::Config;
use ecrgc_model::time::Micros;
use ecrgc_model::{
    CollectionCoverageBuilder, CollectionCoverageRow, CollectionScopeBuilder, RunRow,
};
use ecrgc_store::{RunMarker, ShardOutcome, Store};
use futures::StreamExt;

pub use progress::{CollectProgress, ProgressSnapshot};
pub use scope::Shard;
pub use unit::{Api, Outcome};

use crate::{CollectError, Result};
use scope::{Scope, scope, shard_scope};
use sink::Sink;
use unit::{RunContext, Unit};

/// What `collect` is asked to do besides the configuration.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// The snapshot time every row carries.
    pub now: Micros,
    /// Split the accounts over several processes writing one run.
    pub shard: Option<Shard>,
    /// The name the shards of one run share (required with `shard`).
    pub run_name: Option<String>,
    /// Read the layers of every single-platform image (`--layers`, else `sources.layers`).
    pub layers: bool,
    /// Register the collector role's pull-time update exclusion in every registry account
    /// and region where it is missing (`--register-pull-time-exclusion`): a write, off by
    /// default.
    pub register_pull_time_exclusion: bool,
}

/// How a collection ended.
#[derive(Debug)]
pub struct CollectReport {
    /// The run written (committed, or waiting for other shards).
    pub run_id: String,
    /// The commit marker, when this process committed the run (or found it committed).
    pub committed: Option<RunMarker>,
    /// Shards finished so far, when sharded and not yet committed.
    pub shards_done: Option<(u32, u32)>,
    /// Every unit's outcome, sorted by account, region, source.
    pub outcomes: Vec<Outcome>,
    /// API calls made, retries included.
    pub api_calls: u64,
    /// Throttling answers met.
    pub throttles: u64,
}

/// Collects the organization the configuration describes into one run of `store`.
pub async fn collect(
    config: &Config,
    store: &Store,
    options: &CollectOptions,
    progress: Arc<CollectProgress>,
) -> Result<CollectReport> {
    if config.org.regions.is_empty() {
        return Err(CollectError::Invalid(
            "the config lists no regions: set org.regions".into(),
        ));
    }
    if config.org.accounts.is_empty() && config.org.discover.is_none() {
        return Err(CollectError::Invalid(
            "the config names no accounts: set org.accounts or org.discover = \"organizations\""
                .into(),
        ));
    }
    if options.shard.is_some() && options.run_name.is_none() {
        return Err(CollectError::Invalid(
            "--shard needs --run-name, the name every shard of the run shares".into(),
        ));
    }
    let c = &config.collect;
    let caller = Caller::from_keys(
        c.max_attempts,
        (c.initial_backoff_ms, c.max_backoff_ms),
        c.api_concurrency,
        &c.api_concurrency_overrides,
    );
    progress.set_phase("connecting");
    let aws = Aws::load(
        caller.clone(),
        config.org.regions.first().map(String::as_str),
    )
    .await?;

    progress.set_phase("listing accounts");
    let scope = scope(config, &aws, options.shard).await?;

    // Start writing only now: a scope that cannot be read leaves nothing behind.
    let config_hash = config.hash();
    let run = match (&options.shard, &options.run_name) {
        (Some(shard), Some(name)) => {
            let pinned = shard_scope(config, &scope, &config_hash, options.layers);
            store
                .begin_shard(
                    name,
                    options.now,
                    "collect",
                    (shard.index, shard.count),
                    &pinned,
                )
                .await?
        }
        _ => store.begin_run(options.now, "collect"),
    };
    if run.shard_already_recorded() {
        // Every shard is recorded but the marker is missing (the committing process died):
        // this shard collects nothing and completes the commit.
        progress.set_phase("committing");
        let run_id = run.run_id().to_owned();
        let row = RunRow {
            started_at: run.snapshot_time(),
            origin: "collect",
            tool_version: env!("CARGO_PKG_VERSION"),
            config_hash: Some(&config_hash),
            demo_seed: None,
        };
        let (committed, shards_done) = match run.finish_shard(row).await? {
            ShardOutcome::Committed(m) => (Some(m), None),
            ShardOutcome::Waiting { done, count } => (None, Some((done, count))),
        };
        return Ok(CollectReport {
            run_id,
            committed,
            shards_done,
            outcomes: Vec::new(),
            api_calls: caller.totals().calls(),
            throttles: caller.totals().throttles(),
        });
    }
    let run_id = run.run_id().to_owned();
    let now = run.snapshot_time();
    // Manifests an earlier run read are not read again (each read is a pull).
    progress.set_phase("reading earlier runs");
    let prior = Arc::new(prior::Prior::load(store).await);
    if let Some(why) = &prior.unreadable {
        eprintln!(
            "warning: no earlier run could be reused, so every image index (and, with \
             --layers, every image) is read again with BatchGetImage: {why}"
        );
    }
    let (sink, writer) = Sink::start(run);
    let ctx = RunContext {
        caller: caller.clone(),
        sink: sink.clone(),
        run_id: Arc::from(run_id.as_str()),
        now,
        progress: progress.clone(),
        fan_out: c.api_concurrency.max(1) as usize,
        prior,
    };

    progress.set_phase("assuming roles");
    let mut needed: BTreeSet<String> = scope.workloads.union(&scope.registries).cloned().collect();
    let aggregator = config
        .sources
        .config_aggregator
        .as_ref()
        .filter(|_| options.shard.is_none_or(|s| s.index == 1));
    if let Some(agg) = aggregator {
        needed.insert(agg.account.clone());
    }
    let sessions: BTreeMap<String, std::result::Result<AccountSession, Failure>> =
        futures::stream::iter(needed)
            .map(|account| {
                let aws = aws.clone();
                let role = config.org.role_name.clone();
                async move {
                    let s = aws.account(&account, &role).await;
                    (account, s)
                }
            })
            .buffer_unordered(c.parallel_units as usize)
            .collect()
            .await;

    let first_shard = options.shard.is_none_or(|s| s.index == 1);
    let (jobs, mut outcomes) = plan_units(
        config,
        &scope,
        &sessions,
        aggregator.is_some(),
        (options.layers, first_shard),
    );
    let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
    for job in jobs
        .iter()
        .filter(|j| j.aggregator.is_none() && j.session.is_some())
    {
        *remaining.entry(job.account.clone()).or_default() += 1;
    }
    let accounts_total = scope.workloads.union(&scope.registries).count() as u64;
    progress.set_totals(jobs.len() as u64, accounts_total);
    // Accounts without a unit to run (their role could not be assumed) are done already.
    for _ in remaining.len() as u64..accounts_total {
        progress.account_done();
    }
    progress.set_phase("collecting");

    let ecs_scope = ecs::EcsScope {
        // Read directly even with an aggregator: a stale aggregator source must not hide a
        // rollback target (see `aggregator`).
        inactive_definitions: true,
        rollback_since: ecrgc_model::time::before(
            now,
            i64::from(config.rules.rollback_window_hours),
            ecrgc_model::time::HOUR,
        ),
    };
    let reading = Reading {
        layers: options.layers,
        register_exclusion: options.register_pull_time_exclusion,
        ecs: ecs_scope,
        kubeconfig: config.sources.kubernetes.kubeconfig.clone(),
    };
    let mut runs = futures::stream::iter(jobs)
        .map(|job| run_unit(ctx.clone(), job, reading.clone()))
        .buffer_unordered(c.parallel_units as usize);
    let mut sink_failed = false;
    while let Some(result) = runs.next().await {
        progress.unit_done();
        match result {
            Ok(job_outcomes) => {
                if let Some(outcome) = job_outcomes.first()
                    && !matches!(
                        outcome.source,
                        "config_aggregator" | "kubernetes" | "references"
                    )
                    && let Some(n) = remaining.get_mut(&outcome.account_id)
                {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        progress.account_done();
                    }
                }
                outcomes.extend(job_outcomes);
            }
            Err(_) => {
                sink_failed = true;
                break;
            }
        }
    }
    drop(runs);

    outcomes.sort_by(|a, b| {
        (&a.account_id, &a.region, a.source).cmp(&(&b.account_id, &b.region, b.source))
    });
    if !sink_failed {
        let mut coverage = CollectionCoverageBuilder::new(&run_id, now, outcomes.len());
        for o in &outcomes {
            coverage.append(CollectionCoverageRow {
                account_id: &o.account_id,
                region: &o.region,
                source: o.source,
                status: &o.status,
                error: o.error.as_deref(),
                items: o.items,
                api_calls: o.api_calls,
                throttles: o.throttles,
                duration_ms: o.duration_ms,
            });
        }
        sink_failed = sink
            .send(CollectionCoverageBuilder::NAME, coverage.finish())
            .await
            .is_err()
            || sink
                .send(CollectionScopeBuilder::NAME, scope.table(&run_id, now))
                .await
                .is_err();
    }
    drop(ctx);
    drop(sink);
    let run = match writer.await {
        Ok(Ok(run)) if !sink_failed => run,
        Ok(Err(e)) => return Err(e.into()),
        Ok(Ok(_)) => {
            return Err(CollectError::Invalid(
                "the run writer stopped before every row was written".into(),
            ));
        }
        Err(e) => {
            return Err(CollectError::Invalid(format!("the run writer failed: {e}")));
        }
    };

    progress.set_phase("committing");
    let row = RunRow {
        started_at: now,
        origin: "collect",
        tool_version: env!("CARGO_PKG_VERSION"),
        config_hash: Some(&config_hash),
        demo_seed: None,
    };
    let (committed, shards_done) = if options.shard.is_some() {
        match run.finish_shard(row).await? {
            ShardOutcome::Committed(m) => (Some(m), None),
            ShardOutcome::Waiting { done, count } => (None, Some((done, count))),
        }
    } else {
        (Some(run.commit(row).await?), None)
    };
    Ok(CollectReport {
        run_id,
        committed,
        shards_done,
        outcomes,
        api_calls: caller.totals().calls(),
        throttles: caller.totals().throttles(),
    })
}

/// A unit to run, with the session of its account (none for the units that read no AWS
/// account: kubeconfig contexts and declared references, named by `account`).
struct Job {
    account: String,
    region: String,
    session: Option<AccountSession>,
    source: &'static str,
    /// The aggregator's name, for the `config_aggregator` unit.
    aggregator: Option<String>,
}

/// The units to run, and the outcomes already known: sources switched off in the config
/// and accounts whose role could not be assumed.
fn plan_units(
    config: &Config,
    scope: &Scope,
    sessions: &BTreeMap<String, std::result::Result<AccountSession, Failure>>,
    with_aggregator: bool,
    (layers, first_shard): (bool, bool),
) -> (Vec<Job>, Vec<Outcome>) {
    let src = &config.sources;
    let mut jobs = Vec::new();
    let mut known = Vec::new();
    let mut add =
        |account: &str, region: &str, source: &'static str, agg: Option<String>| match &sessions
            [account]
        {
            Ok(session) => jobs.push(Job {
                account: account.to_owned(),
                region: region.to_owned(),
                session: Some(session.clone()),
                source,
                aggregator: agg,
            }),
            Err(f) => known.push(Outcome::not_read(
                account,
                region,
                source,
                f.kind.coverage_status(),
                &f.message,
            )),
        };
    let off = |what: &str| format!("switched off in the config (sources.{what} = false)");
    let mut disabled = Vec::new();
    for region in &scope.regions {
        for account in &scope.registries {
            add(account, region, "ecr", None);
            // The exclusion check and the layer units run inside the ECR unit; without a
            // session they fail with it.
            if let Err(f) = &sessions[account] {
                let sources: &[&'static str] = if layers {
                    &["ecr_layers", "pull_time_exclusion"]
                } else {
                    &["pull_time_exclusion"]
                };
                for &source in sources {
                    disabled.push(Outcome::not_read(
                        account,
                        region,
                        source,
                        f.kind.coverage_status(),
                        &f.message,
                    ));
                }
            }
            if src.inspector {
                add(account, region, "inspector", None);
            } else {
                disabled.push(Outcome::not_read(
                    account,
                    region,
                    "inspector",
                    "disabled",
                    &off("inspector"),
                ));
            }
        }
        for account in &scope.workloads {
            // Nothing else sees ECS services (the aggregator never does, Inspector only counts
            // running tasks): an account whose ECS is not read hides use.
            if src.ecs {
                add(account, region, "ecs", None);
            } else {
                disabled.push(Outcome::not_read(
                    account,
                    region,
                    "ecs",
                    "disabled",
                    &off("ecs"),
                ));
            }
            let workload_sources: [(&'static str, bool); 6] = [
                ("lambda", src.lambda),
                ("eks", src.eks),
                ("batch", src.batch),
                ("apprunner", src.apprunner),
                ("sagemaker", src.sagemaker),
                ("codebuild", src.codebuild),
            ];
            for (source, on) in workload_sources {
                if on {
                    add(account, region, source, None);
                } else {
                    disabled.push(Outcome::not_read(
                        account,
                        region,
                        source,
                        "disabled",
                        &off(source),
                    ));
                }
            }
        }
    }
    if with_aggregator && let Some(agg) = &src.config_aggregator {
        add(
            &agg.account,
            &agg.region,
            "config_aggregator",
            Some(agg.name.clone()),
        );
    }
    known.extend(disabled);
    // Read once per run, by the first shard: no AWS account of the scope is involved.
    if first_shard {
        let once = src
            .kubernetes
            .contexts
            .iter()
            .map(|c| (c, "kubernetes"))
            .chain(src.references.iter().map(|l| (l, "references")));
        for (what, source) in once {
            jobs.push(Job {
                account: what.clone(),
                region: String::new(),
                session: None,
                source,
                aggregator: None,
            });
        }
    }
    (jobs, known)
}

/// How units read what the configuration and the command line ask for.
#[derive(Clone)]
struct Reading {
    layers: bool,
    register_exclusion: bool,
    ecs: ecs::EcsScope,
    kubeconfig: Option<String>,
}

/// Runs one job; its outcomes are the unit's own and those of units read inside it.
async fn run_unit(
    ctx: RunContext,
    job: Job,
    reading: Reading,
) -> std::result::Result<Vec<Outcome>, sink::SinkClosed> {
    let mut unit = Unit::new(&ctx, &job.account, &job.region, job.source);
    let region = job.region.as_str();
    let result = match (job.source, &job.session) {
        ("kubernetes", _) => {
            let read = workloads::read_context(&unit.api, reading.kubeconfig.as_deref()).await;
            record(&mut unit, "kubernetes", read).await
        }
        ("references", _) => {
            let read = workloads::declared::read(&job.account).await;
            record(&mut unit, "references", read).await
        }
        (source, Some(session)) => {
            run_aws_unit(&mut unit, source, session, region, &job, &reading).await
        }
        (other, None) => Err(Failure::other(format!("no session for source {other}")).into()),
    };
    unit.finish(result).await
}

/// Records a workload source's reading in its unit, or the failure that cost it whole.
async fn record(
    unit: &mut Unit,
    source: &'static str,
    read: std::result::Result<workloads::Reading, Failure>,
) -> std::result::Result<(), unit::UnitError> {
    workloads::record(unit, source, read?).await?;
    Ok(())
}

/// Runs one unit of an AWS account.
async fn run_aws_unit(
    unit: &mut Unit,
    source: &str,
    session: &AccountSession,
    region: &str,
    job: &Job,
    reading: &Reading,
) -> std::result::Result<(), unit::UnitError> {
    match source {
        "ecr" => {
            let manifests = ecr::ManifestReading {
                principal: session.principal_arn(),
                layers: reading.layers,
                register_exclusion: reading.register_exclusion,
            };
            ecr::collect(unit, &session.ecr(region), manifests).await
        }
        "inspector" => inspector::collect(unit, &session.inspector(region)).await,
        "ecs" => ecs::collect(unit, &session.ecs(region), reading.ecs).await,
        "lambda" => lambda::collect(unit, &session.lambda(region)).await,
        "eks" | "batch" | "apprunner" | "sagemaker" | "codebuild" => {
            let config = session.in_region(region);
            let read =
                workloads::read_source(&unit.api, job.source, &config, unit.ctx.fan_out).await;
            record(unit, job.source, read).await
        }
        "config_aggregator" => {
            let name = job.aggregator.as_deref().unwrap_or_default();
            aggregator::collect(unit, &session.config_service(region), name).await
        }
        other => Err(Failure::other(format!("unknown source {other}")).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecrgc_aws::FailureKind;

    /// The plan of units when no role can be assumed: every outcome is known up front.
    fn known_outcomes(config_text: &str) -> Vec<(String, String, &'static str, String)> {
        let config =
            Config::parse(config_text, std::path::Path::new("ecrgc.toml")).expect("config");
        let scope = Scope {
            workloads: config.org.accounts.iter().cloned().collect(),
            registries: config.org.registry_accounts.iter().cloned().collect(),
            regions: config.org.regions.clone(),
            organization: None,
            members: BTreeSet::new(),
            all_accounts: Vec::new(),
            all_registries: Vec::new(),
        };
        let sessions: BTreeMap<String, std::result::Result<AccountSession, Failure>> = scope
            .workloads
            .union(&scope.registries)
            .map(|a| {
                let f = Failure {
                    kind: FailureKind::Denied,
                    code: Some("AccessDenied".into()),
                    message: "not authorized to perform sts:AssumeRole".into(),
                };
                (a.clone(), Err(f))
            })
            .collect();
        let with_aggregator = config.sources.config_aggregator.is_some();
        let (jobs, known) = plan_units(&config, &scope, &sessions, with_aggregator, (false, true));
        assert!(jobs.is_empty());
        known
            .into_iter()
            .map(|o| (o.account_id, o.region, o.source, o.status))
            .collect()
    }

    const ORG: &str = r#"
[org]
accounts = ["111111111111", "222222222222"]
regions = ["eu-west-1", "us-east-1"]
registry_accounts = ["111111111111"]
"#;

    #[test]
    fn ecs_switched_off_is_a_gap_even_with_the_aggregator_and_inspector() {
        let text = format!(
            "{ORG}\n[sources]\ninspector = true\necs = false\n\
             config_aggregator = {{ account = \"111111111111\", region = \"eu-west-1\", name = \"org\" }}\n"
        );
        let ecs: Vec<_> = known_outcomes(&text)
            .into_iter()
            .filter(|o| o.2 == "ecs")
            .collect();
        let expected: Vec<_> = ["111111111111", "222222222222"]
            .iter()
            .flat_map(|a| {
                ["eu-west-1", "us-east-1"]
                    .map(|r| (a.to_string(), r.to_string(), "ecs", "disabled".to_string()))
            })
            .collect();
        let mut got = ecs;
        got.sort();
        assert_eq!(got, expected);
    }

    #[test]
    fn ecs_switched_on_is_attempted_in_every_workload_account() {
        // With no role assumed every ECS unit is recorded as denied, none as disabled.
        let ecs: Vec<_> = known_outcomes(ORG)
            .into_iter()
            .filter(|o| o.2 == "ecs")
            .collect();
        assert_eq!(ecs.len(), 4);
        assert!(ecs.iter().all(|o| o.3 == "denied"), "{ecs:?}");
    }
}
