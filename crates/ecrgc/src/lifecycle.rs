//! `ecrgc lifecycle suggest`: per repository, the ECR lifecycle policy the observed usage
//! supports.
//!
//! The snapshot and the guards come from the same session `plan` uses (the run, its history
//! window, the params, every guard computed once); this module reads from it what the
//! derivation needs — images with their tags, push and use times, the guards protecting
//! them, their parents (indexes, subjects), the repositories with their policy in place,
//! exclude and opt-in tags and coverage gaps — and hands each repository to
//! [`ecrgc_lifecycle::derive`]. `--out` writes the lifecycle plan and records it in the
//! store, as `plan` does for a deletion manifest.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use arrow::array::{RecordBatch, StringArray};
use clap::{Args, Subcommand, ValueEnum};
use datafusion::execution::context::SessionContext;
use ecrgc_engine::Planner;
use ecrgc_lifecycle::derive::{Counts, RepoFacts, Status, Suggestion};
use ecrgc_lifecycle::plan::{LifecycleHeader, LifecycleItem, LifecyclePlan};
use ecrgc_lifecycle::render::{Heading, text};
use ecrgc_lifecycle::{DeriveSettings, ImageFacts, derive};
use ecrgc_model::time::rfc3339;
use ecrgc_report::columns::{Columns, opt_str, opt_time};
use ecrgc_review::ReviewedPlan;

use crate::cli::StoreArgs;
use crate::commands::{Chosen, load_config, open_store, parse_now, prepare_session, spinner};
use crate::error::bad_input;
use crate::planned::{Provenance, plan_header};

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

/// File name of the lifecycle plan in the output folder.
pub const PLAN_FILE: &str = "lifecycle-plan.json";

/// Runs `ecrgc lifecycle …`.
pub async fn run(args: LifecycleArgs) -> Result<()> {
    match args.command {
        LifecycleCommand::Suggest(a) => suggest(a).await,
    }
}

type RepoKey = (String, String, String);

fn parse_repository(s: &str) -> Result<RepoKey> {
    let mut parts = s.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(r), Some(n))
            if a.len() == 12
                && a.bytes().all(|b| b.is_ascii_digit())
                && !r.is_empty()
                && !n.is_empty() =>
        {
            Ok((a.to_owned(), r.to_owned(), n.to_owned()))
        }
        _ => Err(bad_input(format!(
            "invalid --repository {s:?}: expected ACCOUNT/REGION/NAME, e.g. 111111111111/eu-west-1/team/app"
        ))),
    }
}

async fn suggest(args: SuggestArgs) -> Result<()> {
    let config = load_config(args.store.config.as_deref())?;
    let now = parse_now(args.now.as_deref())?;
    let only: Vec<RepoKey> = args
        .repositories
        .iter()
        .map(|r| parse_repository(r))
        .collect::<Result<_>>()?;
    let store = open_store(&args.store, &config).await?;
    let chosen = Chosen::pick(&store, args.run.as_deref(), &config).await?;
    let catalog = ecrgc_engine::Catalog::builtin();
    let catalog_for_header = catalog.clone();
    let planner = Planner::new(catalog);
    let bar = spinner("running the guards");
    let (ctx, _) = prepare_session(&store, &chosen, &config, &planner, now).await?;
    bar.set_message("reading the snapshot");
    let mut repos = load_facts(&ctx).await.context("reading the snapshot")?;
    bar.finish_and_clear();
    if !only.is_empty() {
        for key in &only {
            if !repos.contains_key(key) {
                return Err(bad_input(format!(
                    "--repository {}/{}/{}: no such repository in run {}",
                    key.0, key.1, key.2, chosen.run.run_id
                )));
            }
        }
        repos.retain(|k, _| only.contains(k));
    }
    let settings = DeriveSettings {
        now,
        untagged_margin_days: config.lifecycle.untagged_margin_days,
        count_margin: config.lifecycle.count_margin,
        min_prefix_images: config.lifecycle.min_prefix_images,
        min_age_days: config.rules.min_age_days,
    };
    let suggestions: Vec<Suggestion> = repos.values().map(|r| derive(r, &settings)).collect();

    let run = &chosen.run;
    let mut written = Vec::new();
    if let Some(dir) = &args.out {
        let header = plan_header(
            ecrgc_lifecycle::plan::KIND,
            run,
            &config,
            Provenance {
                config_path: args.store.config.as_deref(),
                sql_dir: None,
                only_rules: &[],
            },
            &catalog_for_header,
            now,
            store.display(),
        )
        .await;
        let plan = build_plan(&suggestions, &repos, header);
        let record = plan.record();
        let parts = ecrgc_review::record_parts(&record.plan_id);
        store
            .put_object(&[&parts[0], &parts[1]], serde_json::to_vec_pretty(&record)?)
            .await
            .with_context(|| {
                format!(
                    "recording the lifecycle plan in the store {}",
                    store.display()
                )
            })?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(PLAN_FILE);
        let staged = dir.join(format!(".{PLAN_FILE}.tmp"));
        std::fs::write(&staged, serde_json::to_vec_pretty(&plan)?)
            .with_context(|| format!("cannot write {}", staged.display()))?;
        std::fs::rename(&staged, &path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(format!(
            "{} ({} repositories, plan {})",
            path.display(),
            plan.items.len(),
            record.plan_id
        ));
    }

    let mut stdout = crate::output::stdout();
    match args.format {
        SuggestFormat::Text => {
            let heading = Heading {
                run_id: &run.run_id,
                snapshot_time: &run.snapshot_time,
                now: &rfc3339(now),
            };
            stdout.write_all(text(&heading, &suggestions, &written).as_bytes())?;
        }
        SuggestFormat::Json => {
            let doc = serde_json::json!({
                "run_id": run.run_id,
                "snapshot_time": run.snapshot_time,
                "now": rfc3339(now),
                "repositories": suggestions,
                "written": written,
            });
            serde_json::to_writer_pretty(&mut stdout, &doc)?;
            writeln!(stdout)?;
        }
    }
    stdout.flush()?;
    Ok(())
}

fn build_plan(
    suggestions: &[Suggestion],
    repos: &BTreeMap<RepoKey, RepoFacts>,
    header: ecrgc_review::PlanHeader,
) -> LifecyclePlan {
    let mut items = Vec::new();
    let mut expires = Counts::default();
    for s in suggestions {
        let (true, Status::Suggested, Some(policy), Some(sha)) =
            (s.opted_in, s.status, &s.policy, &s.policy_sha256)
        else {
            continue;
        };
        let key = (
            s.account_id.clone(),
            s.region.clone(),
            s.repository_name.clone(),
        );
        expires.images += s.expires_now.images;
        expires.bytes += s.expires_now.bytes;
        items.push(LifecycleItem {
            item_id: String::new(),
            account_id: s.account_id.clone(),
            region: s.region.clone(),
            repository_name: s.repository_name.clone(),
            policy: policy.clone(),
            policy_sha256: sha.clone(),
            replaces_policy_sha256: repos
                .get(&key)
                .and_then(|r| r.existing_policy.as_deref())
                .map(ecrgc_lifecycle::policy::policy_sha256),
            expires_now: s.expires_now,
            support: s
                .rules
                .iter()
                .map(|r| format!("rule {}: {}", r.rule_priority, r.support))
                .collect(),
            kept_digests: s.kept_digests.clone(),
        });
    }
    LifecyclePlan::new(
        LifecycleHeader {
            plan: header,
            repositories: 0,
            expires_now: expires,
        },
        items,
    )
}

const REPOSITORIES_SQL: &str = "
WITH excluded AS (
    SELECT DISTINCT t.account_id, t.region, t.repository_name, t.tag_key || '=' || t.tag_value AS tag
    FROM repository_tags t CROSS JOIN params p
    WHERE t.tag_key = p.exclude_tag_key
      AND (p.exclude_tag_value IS NULL OR t.tag_value = p.exclude_tag_value)
),
opted_in AS (
    SELECT DISTINCT t.account_id, t.region, t.repository_name
    FROM repository_tags t CROSS JOIN params p
    WHERE t.tag_key = p.opt_in_tag_key
      AND (p.opt_in_tag_value IS NULL OR t.tag_value = p.opt_in_tag_value)
),
gap AS (
    SELECT account_id, region, repository_name, MIN(detail) AS detail
    FROM protections WHERE guard_id = 'usage_coverage_gap'
    GROUP BY account_id, region, repository_name
)
SELECT r.account_id, r.region, r.repository_name, r.lifecycle_policy_text,
       e.tag AS excluded,
       CASE WHEN p.opt_in_tag_key IS NULL OR o.repository_name IS NOT NULL
            THEN 'yes' ELSE 'no' END AS opted_in,
       g.detail AS coverage_gap
FROM repositories r
CROSS JOIN params p
LEFT JOIN excluded e
  ON e.account_id = r.account_id AND e.region = r.region AND e.repository_name = r.repository_name
LEFT JOIN opted_in o
  ON o.account_id = r.account_id AND o.region = r.region AND o.repository_name = r.repository_name
LEFT JOIN gap g
  ON g.account_id = r.account_id AND g.region = r.region AND g.repository_name = r.repository_name";

const IMAGES_SQL: &str = "
SELECT i.account_id, i.region, i.repository_name, i.image_digest, i.image_pushed_at,
       i.image_size_bytes, i.image_status, i.last_recorded_pull_time,
       c.last_in_use_at, c.image_pulled_at
FROM images i
LEFT JOIN inspector_coverage c
  ON c.account_id = i.account_id AND c.region = i.region
 AND c.repository_name = i.repository_name AND c.image_digest = i.image_digest";

const TAGS_SQL: &str = "SELECT account_id, region, repository_name, image_digest, image_tag FROM image_tags ORDER BY image_tag";

const GUARDS_SQL: &str = "
SELECT account_id, region, repository_name, image_digest, guard_id
FROM protections ORDER BY guard_order, guard_id";

const EDGES_SQL: &str = "SELECT account_id, region, repository_name, parent_digest, child_digest FROM edges ORDER BY parent_digest";

/// The key columns of a batch, read once.
struct Keys {
    account: StringArray,
    region: StringArray,
    name: StringArray,
}

impl Keys {
    fn new(c: &Columns<'_>) -> Result<Self> {
        Ok(Self {
            account: c.text("account_id")?,
            region: c.text("region")?,
            name: c.text("repository_name")?,
        })
    }

    fn at(&self, i: usize) -> RepoKey {
        (
            self.account.value(i).to_owned(),
            self.region.value(i).to_owned(),
            self.name.value(i).to_owned(),
        )
    }
}

async fn batches(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// Every repository of the run with its images, in account, region, name order.
async fn load_facts(ctx: &SessionContext) -> Result<BTreeMap<RepoKey, RepoFacts>> {
    let mut repos: BTreeMap<RepoKey, RepoFacts> = BTreeMap::new();
    for b in batches(ctx, REPOSITORIES_SQL).await? {
        let c = Columns::new(&b);
        let keys = Keys::new(&c)?;
        let (policy, excluded, gap, opted_in) = (
            c.text("lifecycle_policy_text")?,
            c.text("excluded")?,
            c.text("coverage_gap")?,
            c.text("opted_in")?,
        );
        for i in 0..b.num_rows() {
            let k = keys.at(i);
            let repo = RepoFacts {
                account_id: k.0.clone(),
                region: k.1.clone(),
                repository_name: k.2.clone(),
                existing_policy: opt_str(&policy, i).map(str::to_owned),
                excluded: opt_str(&excluded, i).map(str::to_owned),
                coverage_gap: opt_str(&gap, i).map(str::to_owned),
                opted_in: opted_in.value(i) == "yes",
                images: Vec::new(),
            };
            repos.insert(k, repo);
        }
    }
    // Position of each image within its repository's list, for tags, guards and parents.
    let mut at: HashMap<(RepoKey, String), usize> = HashMap::new();
    for b in batches(ctx, IMAGES_SQL).await? {
        let c = Columns::new(&b);
        let keys = Keys::new(&c)?;
        let (digest, pushed, size, status) = (
            c.text("image_digest")?,
            c.time("image_pushed_at")?,
            c.int("image_size_bytes")?,
            c.text("image_status")?,
        );
        let uses = [
            c.time("last_recorded_pull_time")?,
            c.time("last_in_use_at")?,
            c.time("image_pulled_at")?,
        ];
        for i in 0..b.num_rows() {
            let k = keys.at(i);
            let Some(repo) = repos.get_mut(&k) else {
                continue;
            };
            let d = digest.value(i).to_owned();
            at.insert((k, d.clone()), repo.images.len());
            repo.images.push(ImageFacts {
                digest: d,
                pushed_at: pushed.value(i),
                size: size.value(i),
                tags: Vec::new(),
                active: status.value(i) == "ACTIVE",
                parents: Vec::new(),
                guards: Vec::new(),
                last_used_at: uses.iter().filter_map(|u| opt_time(u, i)).max(),
            });
        }
    }
    // Tags, guards and parents, each attached to the image named by (key, digest column).
    for (sql, digest_col, value_col) in [
        (TAGS_SQL, "image_digest", "image_tag"),
        (GUARDS_SQL, "image_digest", "guard_id"),
        (EDGES_SQL, "child_digest", "parent_digest"),
    ] {
        for b in batches(ctx, sql).await? {
            let c = Columns::new(&b);
            let keys = Keys::new(&c)?;
            let (digest, value) = (c.text(digest_col)?, c.text(value_col)?);
            for i in 0..b.num_rows() {
                let k = keys.at(i);
                let Some(&pos) = at.get(&(k.clone(), digest.value(i).to_owned())) else {
                    continue;
                };
                let Some(im) = repos.get_mut(&k).map(|r| &mut r.images[pos]) else {
                    continue;
                };
                let list = match value_col {
                    "image_tag" => &mut im.tags,
                    "guard_id" => &mut im.guards,
                    _ => &mut im.parents,
                };
                let v = value.value(i).to_owned();
                if !list.contains(&v) {
                    list.push(v);
                }
            }
        }
    }
    Ok(repos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_account_region_name() {
        assert_eq!(
            parse_repository("111111111111/eu-west-1/team/app").expect("valid"),
            (
                "111111111111".to_owned(),
                "eu-west-1".to_owned(),
                "team/app".to_owned()
            )
        );
        for bad in [
            "app",
            "1111/eu-west-1/app",
            "111111111111/eu-west-1/",
            "111111111111/app",
        ] {
            let err = parse_repository(bad).expect_err(bad);
            assert!(err.to_string().contains("ACCOUNT/REGION/NAME"), "{err}");
        }
    }
}
