//! The command line: every clap struct and enum of `ecrgc`, and nothing else. The commands
//! read these; this module reads no other module of the binary.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Find and safely remove unused Amazon ECR images across an AWS organization.
///
/// ecrgc snapshots registries and workloads into Parquet, runs SQL rules and guards over the
/// snapshot, and writes reports and a deletion manifest for a person to review.
#[derive(Debug, Parser)]
#[command(
    name = "ecrgc",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a synthetic organization snapshot and plan it (no AWS needed).
    ///
    /// The organization is deterministic for a seed and a --now: a central registry in two
    /// regions, workload accounts, CI build histories, multi-arch indexes, signatures, task
    /// definitions, Lambda functions, Inspector usage, an excluded repository and a workload
    /// account whose usage collection failed, and image layers (as `collect --layers` reads
    /// them) that builds share with their base image. The expected answer is written next to
    /// the reports as demo-truth.json.
    Demo(DemoArgs),
    /// Snapshot every configured account × region × source into one committed run.
    ///
    /// Reads ECR (repositories, images, index manifests, referrers), Inspector coverage, the
    /// Config aggregator's task definitions, ECS (services with the digests their revisions
    /// pin, recent deployments, task sets, tasks), Lambda, EKS clusters (each cluster's pods
    /// and workloads, with an EKS token), Batch, App Runner, SageMaker and CodeBuild through
    /// the standard AWS credential and endpoint chain (profiles, AWS_REGION,
    /// AWS_ENDPOINT_URL), plus the kubeconfig contexts and declared-reference files of
    /// `[sources]`, assuming
    /// `org.role_name` in every account but the caller's own. A source that fails in one
    /// account and region, or is switched off in the config (`ecs = false` too), is recorded
    /// in `collection_coverage` and the run still commits; `plan` then keeps every image
    /// whose use that gap hides. Prints the run id and
    /// every unit that was not read cleanly.
    ///
    /// Image indexes are read with BatchGetImage for their children, and with --layers (or
    /// `[sources] layers = true`) so are single-platform images for their config and layer
    /// blobs (`image_layers`, the bytes a deletion frees after layer sharing). ECR counts
    /// each read as a pull that moves lastRecordedPullTime (the signal of the
    /// `recent_pull` guard and the `not_pulled` rule) unless the collector's role is a
    /// pull-time update exclusion of the registry. So a manifest is read at most once per
    /// digest per store: what an earlier committed run read is reused, and a second collect
    /// of an unchanged organization makes no BatchGetImage call. collect checks the
    /// exclusion (ListPullTimeUpdateExclusions) in every registry account and region, warns
    /// on stderr where it is missing, records it as a `pull_time_exclusion` unit and
    /// registers it with --register-pull-time-exclusion.
    Collect(CollectArgs),
    /// Run the rules and guards on the latest committed run; write reports and a manifest.
    ///
    /// The engine works within `[engine] memory_limit` (default: the machine's or the
    /// container's memory): steps that do not fit go to `[engine] spill_dir`, and a plan
    /// whose hash joins run out says so on stderr and runs again with sort-merge joins,
    /// which spill. If that fails too, it stops with an error naming the setting and writes
    /// nothing. The writers stream: the manifest's items come first, its header last.
    Plan(PlanArgs),
    /// Print the FinOps report of a plan: savings by rule, account, region, owner and
    /// repository, archive versus delete, and the trend over earlier plans.
    ///
    /// Reads the plan's folder (decisions.parquet, summary.json) and, from the store, the
    /// planned run and the totals earlier plans stored. `plan` writes the same report as
    /// report.json, report.html, report.csv and report.parquet.
    Report(ReportArgs),
    /// Run SQL over every table and the history of committed runs.
    Query(QueryArgs),
    /// Print Athena CREATE EXTERNAL TABLE statements for the store's layout.
    ///
    /// One table per snapshot and plan table, partitioned by `dt` with partition projection
    /// (no crawler, no MSCK REPAIR), a table over the commit markers, and `latest_*` views
    /// that read only the latest committed run. Run them once in an Athena database.
    AthenaDdl(AthenaDdlArgs),
    /// Explain why one image is kept or flagged: every rule and guard, the evidence, the
    /// references and relations.
    Explain(ExplainArgs),
    /// List the rules and guards and what each one does; `ecrgc rules ID` prints one rule's
    /// or guard's documentation.
    ///
    /// The documentation is the header of the rule's or guard's SQL file: what it flags or
    /// protects, why, its evidence and an example. An id that is neither a rule nor a guard
    /// exits 2 and names the known ones.
    Rules(RulesArgs),
    /// Approve a reviewed plan: record your AWS identity's sign-off in the store.
    ///
    /// Give the manifest (or lifecycle plan) as you reviewed it, with any items you removed:
    /// the approval covers exactly its items. With `[safety] approvals_required = N`,
    /// `apply --yes` acts only on plans N principals other than the planner approved, and
    /// only on the items every one of them kept. Written once, never replaced.
    Approve(ecrgc_exec::approve::ApproveArgs),
    /// Apply a reviewed manifest: re-check every image live, then delete (or archive) it.
    ///
    /// Dry run unless --yes: every check is made against live AWS and each item is listed
    /// with what would happen to it. The manifest must be a subset of a plan the store it
    /// names records, not expired by the real clock, not a what-if (planned with --now away
    /// from the real clock, --sql-dir, --rule, or from a demo), planned under the same safety
    /// configuration (the differing keys are named), and approved as `[safety]` asks;
    /// anything else is refused before any API call (exit 2). A dry run shows a what-if or
    /// unapproved plan with a warning.
    /// Each image is re-checked right before its batch: still there with the same digest
    /// and push time, no new tag, no pull since the snapshot, Inspector not seeing it in use,
    /// its repository still opted in and not excluded, not archived since the plan, and no
    /// live workload naming it (every ECS task definition, service, pinned digest and task,
    /// every Lambda version and alias, every Kubernetes pod and workload, Batch job
    /// definition, App Runner service, SageMaker model, CodeBuild project and declared
    /// reference the configuration collects, in every account and region, whether or not it
    /// existed at the snapshot; re-read when older than `[apply] reference_max_age_seconds`);
    /// each batch is described once more right before its call and a changed image is left
    /// alone. Indexes go before their children. Every
    /// decision and API result is journaled (a local JSON Lines file and the store's
    /// `journal` table) before the next call; running the same command again resumes and
    /// never repeats a deletion. The same command ships alone as `ecrgc-exec`.
    Apply(ecrgc_exec::ApplyArgs),
    /// ECR lifecycle advice: the lifecycle policy each repository's observed usage supports.
    ///
    /// `ecrgc lifecycle suggest` prints, per repository, the policy, the evidence behind
    /// each rule and what it would expire now; `--out DIR` writes a lifecycle plan that
    /// `ecrgc apply` (or `ecrgc-exec`) puts, after a dry run, with the same admission rules
    /// and journal as a deletion manifest.
    Lifecycle(LifecycleArgs),
}

/// Options every command reading a store shares.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', env = "ECRGC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Snapshot store: a local folder or s3://bucket/prefix [default: the config's `store`,
    /// else ./ecrgc-data].
    #[arg(long, env = "ECRGC_STORE", value_name = "URL")]
    pub store: Option<String>,
}

/// `ecrgc demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Store the demo snapshot is written to.
    #[arg(long, value_name = "URL", default_value = "./ecrgc-demo")]
    pub store: String,
    /// Number of images to generate (index children and signatures included).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub images: u64,
    /// Seed of the generator: the same seed and --now give the same organization.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Output folder for the reports and the manifest.
    #[arg(long, value_name = "DIR", default_value = "./ecrgc-out")]
    pub out: PathBuf,
    /// The instant the snapshot and the plan describe (RFC 3339) [default: the current time].
    #[arg(long, value_name = "TS")]
    pub now: Option<String>,
    /// Configuration file (TOML) for the plan; the demo truth assumes the defaults.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `ecrgc collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The snapshot time the run records (RFC 3339) [default: the current time]; at most
    /// 300 s ahead of this machine's clock (exit 2 otherwise).
    #[arg(long, value_name = "TS")]
    pub now: Option<String>,
    /// Collect only shard I of N of the accounts (sorted by id, every N-th one); the last
    /// shard to finish commits the run. Needs --run-name. The first shard pins the
    /// configuration's hash, the accounts, regions and sources; a shard that differs is
    /// refused (exit 2). Re-running any shard of a run whose shards are all recorded but
    /// which is not committed completes the commit.
    #[arg(long, value_name = "I/N", requires = "run_name")]
    pub shard: Option<String>,
    /// The name every shard of one run shares, e.g. nightly-2026-11-21; the first shard to
    /// start fixes the run's snapshot time.
    #[arg(long, value_name = "NAME", requires = "shard")]
    pub run_name: Option<String>,
    /// Also read the layers of every single-platform image (one BatchGetImage, which ECR
    /// counts as a pull, per 100 images new to the store; register the pull-time update
    /// exclusion first) [default: the config's `sources.layers`, else off].
    #[arg(long, overrides_with = "no_layers")]
    pub layers: bool,
    /// Do not read layers, whatever the config says.
    #[arg(long, overrides_with = "layers")]
    pub no_layers: bool,
    /// Register the collector role as a pull-time update exclusion
    /// (ecr:RegisterPullTimeUpdateExclusion) in every registry account and region where
    /// ListPullTimeUpdateExclusions shows it missing, so that the manifests collect reads
    /// no longer move lastRecordedPullTime. A write to the registries' settings: off unless
    /// given, and the role then needs ecr:RegisterPullTimeUpdateExclusion.
    #[arg(long)]
    pub register_pull_time_exclusion: bool,
}

/// `ecrgc plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The instant to plan for (RFC 3339) [default: the current time].
    #[arg(long, value_name = "TS")]
    pub now: Option<String>,
    /// Output folder for the reports and the manifest.
    #[arg(long, value_name = "DIR", default_value = "./ecrgc-out")]
    pub out: PathBuf,
    /// Plan this committed run instead of the latest. The latest is the newest run whose
    /// snapshot time is at most 300 s ahead of this machine's clock (later ones are ignored
    /// with a warning) and, when the store holds collected runs, the newest collected one: a
    /// demo run never becomes the latest of such a store.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Run only these rules (repeatable) [default: every rule].
    #[arg(long = "rule", value_name = "ID")]
    pub rules: Vec<String>,
    /// Load rules, guards and views from this folder (laid out like sql/) instead of the
    /// built-in ones.
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<PathBuf>,
}

/// `ecrgc explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The image: a URI (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG` or `…/REPO@sha256:…`)
    /// or a bare digest (`sha256:…`, explained in every repository that holds it).
    pub image: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The instant to plan for (RFC 3339) [default: the current time].
    #[arg(long, value_name = "TS")]
    pub now: Option<String>,
    /// Explain within this committed run instead of the latest.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Load rules, guards and views from this folder instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<PathBuf>,
}

/// Output formats of `ecrgc query` and `ecrgc report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header line; a text cell that begins with =, +, -, @, a tab or a carriage
    /// return gets a leading ' so that a spreadsheet shows it instead of running it.
    Csv,
    /// One JSON object per line (`query`), one JSON document (`report`).
    Json,
    /// Apache Parquet (binary: written to --out, or to stdout when it is not a terminal).
    Parquet,
    /// One self-contained HTML page with charts (`report` only).
    Html,
}

/// `ecrgc query`.
#[derive(Debug, Args)]
#[command(after_help = "\
Tables, each over every committed run of the store (rows carry run_id and snapshot_time):
  runs, repositories, repository_tags, repository_pullers, images, image_tags,
  image_relations, image_layers, inspector_coverage, workload_refs, collection_coverage
  (snapshots; image_layers is empty unless collected with --layers)
  plan_totals (the figures of the latest plan of each run)
latest_<table>: the same table for the latest committed run only (or --run).
journal: every line `ecrgc apply` wrote to the store (event, item, reason, API result).

The query only reads: statements that create, change or write anything (CREATE, CREATE
EXTERNAL TABLE, DROP, INSERT, COPY ... TO, SET, ...) are refused with exit status 2.

Examples:
  ecrgc query 'SELECT COUNT(*) FROM latest_images'
  ecrgc query 'SELECT run_id, SUM(bytes) FROM plan_totals WHERE status = '\''stored'\'' GROUP BY 1'
  ecrgc query --file rollup.sql --format parquet --out rollup.parquet")]
pub struct QueryArgs {
    /// SQL to run; `-` reads it from standard input. See the tables below.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub sql: Option<String>,
    /// Read the SQL from this file.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The run the `latest_*` tables show instead of the latest.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Output format (html is for `report`).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the result to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `ecrgc report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The plan's output folder (what `plan --out` wrote).
    #[arg(long, value_name = "DIR", default_value = "./ecrgc-out")]
    pub plan: PathBuf,
    /// Configuration file (TOML): prices and the owner tag.
    #[arg(long, short = 'c', env = "ECRGC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Snapshot store [default: the config's `store`, else the store the plan read].
    #[arg(long, env = "ECRGC_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `ecrgc athena-ddl`.
#[derive(Debug, Args)]
pub struct AthenaDdlArgs {
    /// The store's S3 location, `s3://bucket/prefix`.
    #[arg(long, value_name = "URL")]
    pub location: String,
    /// Athena database the tables are created in.
    #[arg(long, default_value = "ecrgc")]
    pub database: String,
    /// First date the `dt` projection covers (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", default_value = "2024-01-01")]
    pub since: String,
}

/// `ecrgc rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// A rule or guard, e.g. never_used: print its documentation [default: list them all].
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    /// Print the full SQL files, documentation included.
    #[arg(long)]
    pub full: bool,
    /// Load the catalog from this folder instead of the built-in one.
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<PathBuf>,
}
/// `ecrgc lifecycle`.
#[derive(Debug, Args)]
pub struct LifecycleArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: LifecycleCommand,
}

/// `ecrgc lifecycle …` subcommands.
#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// Suggest, per repository, the ECR lifecycle policy the observed usage supports.
    ///
    /// Reads a committed run with the same guards as `plan` (in use, referenced, recently
    /// pulled, young, newest N, history, coverage gaps); an image they protect is kept, and
    /// so are the index children and signatures of a kept image. Two kinds of rule are
    /// derived: "expire untagged images older than N days", N being the age of the oldest
    /// kept untagged image (or the age at which one was last seen used, and at least
    /// min_age_days) plus `lifecycle.untagged_margin_days`; and for each tag prefix with
    /// enough images (`ci-`, `pr-`…) "keep the newest K", K being the rank of its oldest kept
    /// image plus `lifecycle.count_margin`. Each policy is evaluated against the snapshot the
    /// way ECR evaluates it (rules in priority order, an image counted by the first rule
    /// whose tags it matches, the newest N by push time) and a rule is only suggested if,
    /// today, it expires something and nothing ecrgc keeps. Excluded repositories and those
    /// with a usage coverage gap get no suggestion. With --out, the policies of opted-in
    /// repositories are written to DIR/lifecycle-plan.json and recorded in the store, for
    /// `ecrgc apply DIR/lifecycle-plan.json` (a dry run unless --yes).
    Suggest(SuggestArgs),
}

/// Output formats of `lifecycle suggest`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SuggestFormat {
    /// Per repository the rules, their evidence and the policy JSON.
    Text,
    /// One JSON document with every repository's advice.
    Json,
}

/// `ecrgc lifecycle suggest`.
#[derive(Debug, Args)]
pub struct SuggestArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The instant to evaluate at (RFC 3339) [default: the current time].
    #[arg(long, value_name = "TS")]
    pub now: Option<String>,
    /// Read this committed run instead of the latest.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Only these repositories, as ACCOUNT/REGION/NAME (repeatable) [default: all].
    #[arg(long = "repository", value_name = "ACCOUNT/REGION/NAME")]
    pub repositories: Vec<String>,
    /// Write the lifecycle plan (opted-in repositories with a suggestion) to
    /// DIR/lifecycle-plan.json and record it in the store.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: SuggestFormat,
}
