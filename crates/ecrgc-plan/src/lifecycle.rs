//! `ecrgc lifecycle suggest`: per repository, the ECR lifecycle policy the observed usage
//! supports.
//!
//! The snapshot and the guards come from the same session `plan` uses (the run, its history
//! window, the params, every guard computed once); this module reads from it what the
//! derivation needs — images with their tags, push and use times, the guards protecting
//! them, their parents (indexes, subjects), the repositories with their policy in place,
//! exclude and opt-in tags and coverage gaps — and hands each repository to
//! [`ecrgc_lifecycle::derive`]. The queries are the files of `sql/lifecycle/`. `--out`
//! writes the lifecycle plan and records it in the store, as `plan` does for a deletion
//! manifest.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow::array::{RecordBatch, StringArray};
use datafusion::execution::context::SessionContext;
use ecrgc_engine::{Planner, SqlKind, run_query};
use ecrgc_lifecycle::derive::{Counts, RepoFacts, Status, Suggestion};
use ecrgc_lifecycle::plan::{LifecycleHeader, LifecycleItem, LifecyclePlan};
use ecrgc_lifecycle::render::{Heading, text};
use ecrgc_lifecycle::{DeriveSettings, ImageFacts, derive};
use ecrgc_model::time::rfc3339;
use ecrgc_report::columns::{Columns, opt_str, opt_time};
use ecrgc_review::ReviewedPlan;

use crate::error::{PlanError, Result};
use crate::header::{Provenance, plan_header};
use crate::inputs::PlanInputs;
use crate::session::prepare_session;

/// File name of the lifecycle plan in the output folder.
pub const PLAN_FILE: &str = "lifecycle-plan.json";

/// A repository: account, region, name.
pub use ecrgc_model::keys::RepositoryKey;

/// Parses `ACCOUNT/REGION/NAME` (`--repository`).
pub fn parse_repository(s: &str) -> Result<RepositoryKey> {
    let mut parts = s.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(r), Some(n))
            if a.len() == 12
                && a.bytes().all(|b| b.is_ascii_digit())
                && !r.is_empty()
                && !n.is_empty() =>
        {
            Ok(RepositoryKey::new(a, r, n))
        }
        _ => Err(PlanError::bad_input(format!(
            "invalid --repository {s:?}: expected ACCOUNT/REGION/NAME, e.g. 111111111111/eu-west-1/team/app"
        ))),
    }
}

/// The stages of [`suggest`], for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The guards are computed.
    Guards,
    /// The facts are read from the session.
    Reading,
}

impl Stage {
    /// What the stage does, for a spinner.
    pub fn message(self) -> &'static str {
        match self {
            Self::Guards => "running the guards",
            Self::Reading => "reading the snapshot",
        }
    }
}

/// The advice of every repository, and the lifecycle plan written, if any.
pub struct Suggested {
    /// One suggestion per repository, in account, region, name order.
    pub suggestions: Vec<Suggestion>,
    /// What was written, one line per file.
    pub written: Vec<String>,
}

impl Suggested {
    /// The text `lifecycle suggest` prints.
    pub fn text(&self, inputs: &PlanInputs<'_>) -> String {
        let run = &inputs.chosen.run;
        let heading = Heading {
            run_id: &run.run_id,
            snapshot_time: &run.snapshot_time,
            now: &rfc3339(inputs.now),
        };
        text(&heading, &self.suggestions, &self.written)
    }

    /// The JSON document `lifecycle suggest --format json` prints.
    pub fn json(&self, inputs: &PlanInputs<'_>) -> serde_json::Value {
        let run = &inputs.chosen.run;
        serde_json::json!({
            "run_id": run.run_id,
            "snapshot_time": run.snapshot_time,
            "now": rfc3339(inputs.now),
            "repositories": self.suggestions,
            "written": self.written,
        })
    }
}

/// Derives the lifecycle policy of every repository of the chosen run (only those of `only`
/// unless it is empty). With `out`, writes the lifecycle plan of the opted-in repositories
/// with a suggestion to `out/lifecycle-plan.json` and records it in the store.
pub async fn suggest(
    inputs: &PlanInputs<'_>,
    only: &[RepositoryKey],
    out: Option<&Path>,
    config_path: Option<&Path>,
    progress: &dyn Fn(Stage),
) -> Result<Suggested> {
    let (store, chosen, config, now) = (inputs.store, inputs.chosen, inputs.config, inputs.now);
    let catalog = ecrgc_engine::Catalog::builtin();
    let catalog_for_header = catalog.clone();
    let planner = Planner::new(catalog);
    progress(Stage::Guards);
    let (ctx, _) = prepare_session(store, chosen, config, &planner, now).await?;
    progress(Stage::Reading);
    let mut repos = load_facts(&ctx)
        .await
        .map_err(|e| PlanError::ReadFacts(Box::new(e)))?;
    if !only.is_empty() {
        for key in only {
            if !repos.contains_key(key) {
                return Err(PlanError::bad_input(format!(
                    "--repository {key}: no such repository in run {}",
                    chosen.run.run_id
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

    let mut written = Vec::new();
    if let Some(dir) = out {
        let provenance = Provenance {
            config_path,
            sql_dir: None,
            only_rules: &[],
        };
        let header = plan_header(
            ecrgc_lifecycle::plan::KIND,
            inputs,
            provenance,
            &catalog_for_header,
        )
        .await;
        let plan = build_plan(&suggestions, &repos, header);
        let record = plan.record();
        let parts = ecrgc_review::record_parts(&record.plan_id);
        store
            .put_object(&[&parts[0], &parts[1]], serde_json::to_vec_pretty(&record)?)
            .await
            .map_err(|source| PlanError::RecordLifecyclePlan {
                store: store.display().to_owned(),
                source,
            })?;
        let io = |path: &Path, action| {
            let path = path.display().to_string();
            move |source| PlanError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(io(dir, "create"))?;
        let path = dir.join(PLAN_FILE);
        let staged = dir.join(format!(".{PLAN_FILE}.tmp"));
        std::fs::write(&staged, serde_json::to_vec_pretty(&plan)?).map_err(io(&staged, "write"))?;
        std::fs::rename(&staged, &path).map_err(io(&path, "write"))?;
        written.push(format!(
            "{} ({} repositories, plan {})",
            path.display(),
            plan.items.len(),
            record.plan_id
        ));
    }
    Ok(Suggested {
        suggestions,
        written,
    })
}

fn build_plan(
    suggestions: &[Suggestion],
    repos: &BTreeMap<RepositoryKey, RepoFacts>,
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
        let key = RepositoryKey::new(&s.account_id, &s.region, &s.repository_name);
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

    fn at(&self, i: usize) -> RepositoryKey {
        RepositoryKey::new(
            self.account.value(i),
            self.region.value(i),
            self.name.value(i),
        )
    }
}

/// The rows of `sql/lifecycle/<id>.sql`.
async fn batches(ctx: &SessionContext, id: &str) -> Result<Vec<RecordBatch>> {
    Ok(run_query(ctx, SqlKind::Lifecycle, id).await?)
}

/// Every repository of the run with its images, in account, region, name order.
async fn load_facts(ctx: &SessionContext) -> Result<BTreeMap<RepositoryKey, RepoFacts>> {
    let mut repos: BTreeMap<RepositoryKey, RepoFacts> = BTreeMap::new();
    for b in batches(ctx, "repositories").await? {
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
                account_id: k.account_id.clone(),
                region: k.region.clone(),
                repository_name: k.repository_name.clone(),
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
    let mut at: HashMap<(RepositoryKey, String), usize> = HashMap::new();
    for b in batches(ctx, "images").await? {
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
    for (id, digest_col, value_col) in [
        ("image_tags", "image_digest", "image_tag"),
        ("guards", "image_digest", "guard_id"),
        ("parents", "child_digest", "parent_digest"),
    ] {
        for b in batches(ctx, id).await? {
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
            RepositoryKey::new("111111111111", "eu-west-1", "team/app")
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
