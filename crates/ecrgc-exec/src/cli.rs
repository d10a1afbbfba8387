//! `apply`: the command line shared by `ecrgc apply` and the `ecrgc-exec` binary, and the
//! text it prints. The per-item listing and the summary go to stdout; progress to stderr.

use std::path::{Path, PathBuf};

use clap::Args;
use ecrgc_config::Config;
use ecrgc_model::format::human_bytes;
use ecrgc_model::time::{Micros, parse_rfc3339};
use ecrgc_store::Store;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::admit::{Checks, Review, admit, admit_lifecycle};
use crate::error::{ExecError, Result};
use crate::executor::{self, Report, RunOptions};
use crate::journal::Event;
use crate::lifecycle::LifecycleReport;
use crate::output::print;
use crate::summary::{Mode, Summary, render_summary_tail};

/// Apply a reviewed manifest: re-check every image live, then delete (or archive) it.
///
/// Without --yes this is a dry run: every check is made against live AWS and each item is
/// listed with what would happen to it; nothing is changed and nothing is journaled. Every
/// live workload reference (ECS task definitions, services and their pinned digests, tasks,
/// Lambda versions and aliases, in every account and region) keeps an image, whether or not
/// it existed at the snapshot, and each batch is described again right before its call. With
/// --yes, every decision and API result is appended to the journal (a local JSON Lines file
/// and the store's `journal` table) before the next call, so running the same command again
/// after a crash resumes where it stopped and never repeats a deletion.
///
/// One apply --yes at a time per manifest, and the exit statuses: [`APPLY_AFTER_HELP`].
#[derive(Debug, Clone, Args)]
#[command(after_help = APPLY_AFTER_HELP)]
pub struct ApplyArgs {
    /// The reviewed manifest: `manifest.json` from `ecrgc plan`, with any items removed; or
    /// a lifecycle plan, `lifecycle-plan.json` from `ecrgc lifecycle suggest --out`, with any
    /// repositories removed (its policies are put instead of images deleted).
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Configuration file (TOML): the store, accounts, regions, safety tags and `[apply]`.
    #[arg(long, short = 'c', env = "ECRGC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Store the plan was made from: a local folder or s3://bucket/prefix [default: the
    /// config's `store`, else ./ecrgc-data].
    #[arg(long, env = "ECRGC_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Act for real. Without it nothing is deleted, archived or journaled.
    #[arg(long)]
    pub yes: bool,
    /// Move images to ECR's archive storage class (UpdateImageStorageClass) instead of
    /// deleting them. Archived images cannot be pulled until restored, and archive storage
    /// is charged for at least 90 days.
    #[arg(long)]
    pub archive: bool,
    /// The clock for the expiry check of a dry run (RFC 3339) [default: the current time].
    /// Refused with --yes: a plan is applied by the real clock only.
    #[arg(long, value_name = "TS")]
    pub now: Option<String>,
    /// Local journal file [default: next to the manifest, `<name>.journal.jsonl`].
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
}

/// The end of `apply --help` in both binaries: the lease and the exit statuses.
pub const APPLY_AFTER_HELP: &str = "\
One apply --yes at a time per manifest: it takes a lease in the store (_leases/, renewed every
third of [apply] lease_seconds, default 120) before its first change; a second one exits 2
naming the holder, until the first ends or its lease expires. Dry runs take no lease.

Exit status:
  0  every item deleted, archived, already gone, or skipped for a finding (in_use,
     tagged_since_plan, pulled_since_snapshot, parent_kept, replica_kept, ...)
  1  an item failed, or the run could not finish (the journal has what was done)
  2  bad input, or another apply holds the manifest's lease: nothing was changed
  3  nothing failed, but items were blocked: skipped because a check could not be made
     (role_unavailable, reference_check_failed, describe_failed, ...); the next apply
     checks them again";

/// Runs `apply`; prints the listing (dry run) and the summary to stdout.
pub async fn run(args: ApplyArgs) -> Result<Summary> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if args.yes
        && let Some(now) = &args.now
    {
        return Err(ExecError::BadArgument {
            flag: "--now",
            value: now.clone(),
            reason: "--now is for dry runs: apply --yes checks a plan against the real clock only"
                .into(),
        });
    }
    let now = parse_now(args.now.as_deref())?;
    let store = open_store(&args, &config).await?;
    let text = crate::admit::read(&args.manifest)?;
    let checks = Checks {
        store: &store,
        config: &config,
        configured: args.config.is_some(),
        now,
        execute: args.yes,
    };
    if ecrgc_lifecycle::plan::is_lifecycle_plan(&text) {
        return run_lifecycle(&args, &config, &store, &checks, &text).await;
    }
    let admitted = admit(&args.manifest, &text, &checks).await?;
    report_review(&admitted.review, args.yes);
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| default_journal(&args.manifest));
    let report = executor::run(RunOptions {
        admitted: &admitted,
        config: &config,
        store: &store,
        mode: if args.archive {
            Mode::Archive
        } else {
            Mode::Delete
        },
        execute: args.yes,
        journal_path,
        progress: progress(),
    })
    .await?;
    print(&render(
        &report,
        admitted.manifest.header.plan.run_id.as_str(),
    ))?;
    Ok(report.summary)
}

/// Tells on stderr what review left out, and what `--yes` would refuse.
fn report_review(review: &Review, execute: bool) {
    for w in &review.warnings {
        eprintln!("warning: apply --yes would refuse this plan: {w}");
    }
    if !review.approvers.is_empty() {
        eprintln!("approved by {}", review.approvers.join(", "));
    }
    if review.not_approved > 0 {
        eprintln!(
            "{} item(s) of the file are left alone: not every counted approval kept them",
            review.not_approved
        );
    }
    if !execute {
        eprintln!("dry run: nothing is changed; pass --yes to apply");
    }
}

/// A lifecycle plan instead of a manifest: admitted the same way, applied per repository.
async fn run_lifecycle(
    args: &ApplyArgs,
    config: &Config,
    store: &Store,
    checks: &Checks<'_>,
    text: &str,
) -> Result<Summary> {
    use crate::lifecycle::{LifecycleRun, run};
    let shown = args.manifest.display().to_string();
    if args.archive {
        return Err(ExecError::BadArgument {
            flag: "--archive",
            value: shown,
            reason: "a lifecycle plan puts policies; --archive applies to deletion manifests"
                .into(),
        });
    }
    let admitted = admit_lifecycle(&shown, text, checks).await?;
    report_review(&admitted.review, args.yes);
    let report = run(LifecycleRun {
        admitted: &admitted,
        config,
        store,
        execute: args.yes,
        // ECR evaluates a policy by the real clock, so the simulation does too.
        now: chrono::Utc::now().timestamp_micros(),
        journal_path: args
            .journal
            .clone()
            .unwrap_or_else(|| default_journal(&args.manifest)),
    })
    .await?;
    print(&render_lifecycle(
        &report,
        &admitted.plan.header.plan.run_id,
    ))?;
    Ok(report.summary)
}

fn parse_now(now: Option<&str>) -> Result<Micros> {
    match now {
        Some(s) => parse_rfc3339(s).map_err(|e| ExecError::BadArgument {
            flag: "--now",
            value: s.to_owned(),
            reason: format!("{e} (expected RFC 3339, e.g. 2026-11-21T03:00:00Z)"),
        }),
        None => Ok(chrono::Utc::now().timestamp_micros()),
    }
}

async fn open_store(args: &ApplyArgs, config: &Config) -> Result<Store> {
    Ok(ecrgc_aws::open_store(&config.store_location(args.store.as_deref())).await?)
}

/// `out/manifest.json` → `out/manifest.journal.jsonl`.
pub fn default_journal(manifest: &Path) -> PathBuf {
    let stem = manifest
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "manifest".into());
    manifest.with_file_name(format!("{stem}.journal.jsonl"))
}

fn progress() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images ({elapsed})")
            .expect("valid template"),
    );
    bar
}

/// The text `apply` prints: in a dry run one line per item, then the summary.
pub fn render(report: &Report, run_id: &str) -> String {
    let s = &report.summary;
    let mut t = String::new();
    if s.dry_run {
        t.push_str("action\taccount\tregion\trepository\tdigest\ttags\tbytes\twhy\n");
        for (item, d, earlier) in &report.items {
            let action = match (d.event, *earlier) {
                (_, true) if d.event.is_done(s.mode == Some(Mode::Archive)) => {
                    format!("done_earlier:{}", d.event.name())
                }
                (Event::Deleted, false) => "would_delete".into(),
                (Event::Archived, false) => "would_archive".into(),
                (e, _) => e.name(),
            };
            let why = match (&d.reason, &d.message) {
                (Some(r), Some(m)) => format!("{r}: {m}"),
                (Some(r), None) => r.clone(),
                (None, Some(m)) => m.clone(),
                (None, None) => String::new(),
            };
            t.push_str(&format!(
                "{action}\t{}\t{}\t{}\t{}\t{}\t{}\t{why}\n",
                item.account_id,
                item.region,
                item.repository_name,
                item.image_digest,
                item.image_tags.join(","),
                item.image_size_bytes,
            ));
        }
        t.push('\n');
    }
    let mode = match s.mode {
        Some(Mode::Archive) => "archive",
        _ => "delete",
    };
    t.push_str(&format!(
        "manifest {} (run {run_id}): {} of {} planned items, mode {mode}{}\n",
        s.manifest_id,
        s.items,
        s.planned_items,
        if s.dry_run { ", dry run" } else { "" }
    ));
    let get = |k: &str| s.by_event.get(k).copied().unwrap_or(0);
    let (verb, done) = match (s.mode, s.dry_run) {
        (Some(Mode::Archive), true) => ("would archive", get("archived")),
        (Some(Mode::Archive), false) => ("archived", get("archived")),
        (_, true) => ("would delete", get("deleted")),
        (_, false) => ("deleted", get("deleted")),
    };
    t.push_str(&format!(
        "  {verb:<16}{done:>8} images, {}{}\n",
        human_bytes(s.bytes),
        if s.dry_run { "" } else { " freed" }
    ));
    if s.mode == Some(Mode::Archive) {
        t.push_str(&format!(
            "  {:<16}{:>8}\n",
            "already archived",
            get("already_archived")
        ));
    }
    t.push_str(&format!("  {:<16}{:>8}\n", "already gone", get("absent")));
    render_summary_tail(&mut t, s);
    t
}

/// The text a lifecycle apply prints: in a dry run one line per repository, then the summary.
pub fn render_lifecycle(report: &LifecycleReport, run_id: &str) -> String {
    let s = &report.summary;
    let mut t = String::new();
    if s.dry_run {
        t.push_str("action\taccount\tregion\trepository\tpolicy_sha256\texpires_images\texpires_bytes\twhy\n");
        for o in &report.items {
            let (item, d, live) = (&o.item, &o.decision, &o.live);
            let action = match (d.event, o.earlier) {
                (e, true) if e.is_done(false) => format!("done_earlier:{}", e.name()),
                (Event::PolicyPut, false) => "would_put".into(),
                (Event::PolicyInPlace, false) => "in_place".into(),
                (e, _) => e.name(),
            };
            let why = match (&d.reason, &d.message) {
                (Some(r), Some(m)) => format!("{r}: {m}"),
                (Some(r), None) => r.clone(),
                (None, Some(m)) => m.clone(),
                (None, None) => String::new(),
            };
            let (n, b) = live.map_or((String::new(), String::new()), |(n, b)| {
                (n.to_string(), b.to_string())
            });
            t.push_str(&format!(
                "{action}\t{}\t{}\t{}\t{}\t{n}\t{b}\t{why}\n",
                item.account_id,
                item.region,
                item.repository_name,
                &item.policy_sha256[..12.min(item.policy_sha256.len())],
            ));
        }
        t.push('\n');
    }
    t.push_str(&format!(
        "lifecycle plan {} (run {run_id}): {} of {} planned repositories{}\n",
        s.manifest_id,
        s.items,
        s.planned_items,
        if s.dry_run { ", dry run" } else { "" }
    ));
    let get = |k: &str| s.by_event.get(k).copied().unwrap_or(0);
    t.push_str(&format!(
        "  {:<16}{:>8} policies{}\n",
        if s.dry_run { "would put" } else { "put" },
        get("policy_put"),
        if get("policy_put") > 0 {
            format!(" (expiring {} now, by the simulator)", human_bytes(s.bytes))
        } else {
            String::new()
        }
    ));
    t.push_str(&format!(
        "  {:<16}{:>8}\n",
        "in place",
        get("policy_in_place")
    ));
    t.push_str(&format!(
        "  {:<16}{:>8}\n",
        "repository gone",
        get("absent")
    ));
    render_summary_tail(&mut t, s);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_sits_next_to_the_manifest() {
        assert_eq!(
            default_journal(Path::new("out/manifest.json")),
            PathBuf::from("out/manifest.journal.jsonl")
        );
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 B");
    }
}
