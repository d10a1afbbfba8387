//! One image now, against what the plan saw: the checks of each batch, made again on the
//! description taken right before the deleting call (see [`crate::deletion`]).
//!
//! The image still has the push time the plan saw, gained no tag, has no pull recorded after
//! the one the plan saw, is not being restored, was not archived since the plan (delete
//! mode), is not in use per Inspector now, and no live workload reference names it —
//! whether or not the reference existed at the snapshot (`in_use_reference`).

use std::collections::HashMap;

use aws_sdk_ecr::types::{ImageDetail, ImageStatus};
use ecrgc_manifest::Item;
use ecrgc_model::time::{Micros, parse_rfc3339, rfc3339};

use crate::checks::inspector::Usage;
use crate::checks::references::{RepositoryKey, View};
use crate::skip::SkipReason;
use crate::summary::Mode;
use crate::timestamp::micros;

/// The verdict on one image.
pub(crate) enum Check {
    /// Every check passed.
    Go,
    /// Archive mode, and the image is archived already.
    AlreadyArchived,
    /// Left alone, for a reason and with what was found.
    Skip(SkipReason, String),
}

/// What an image is judged against: the run's mode and snapshot, and the live usage and
/// references of its repository.
pub(crate) struct ImageCheck<'a> {
    pub(crate) mode: Mode,
    pub(crate) snapshot_time: Micros,
    pub(crate) repo: &'a RepositoryKey,
    pub(crate) usage: Option<&'a HashMap<String, Usage>>,
    pub(crate) view: &'a View,
}

impl ImageCheck<'_> {
    /// Whether `item`, described now as `d`, may be acted on.
    pub(crate) fn judge(&self, item: &Item, d: &ImageDetail) -> Check {
        let usage = self.usage;
        let evidence = &item.evidence;
        if d.image_status() == Some(&ImageStatus::Activating) {
            return Check::Skip(
                SkipReason::Restoring,
                "the image is being restored from the archive".into(),
            );
        }
        if d.image_status() == Some(&ImageStatus::Archived) {
            return match self.mode {
                Mode::Archive => Check::AlreadyArchived,
                // The plan lists ACTIVE images only: someone archived it since.
                Mode::Delete => Check::Skip(
                    SkipReason::ArchivedSincePlan,
                    match d.last_archived_at() {
                        Some(t) => format!("archived at {}, after the plan", rfc3339(micros(t))),
                        None => "archived after the plan".to_owned(),
                    },
                ),
            };
        }
        let planned_push = evidence
            .pushed_at
            .as_deref()
            .and_then(|t| parse_rfc3339(t).ok());
        let live_push = d.image_pushed_at().map(micros);
        if let (Some(planned), Some(live)) = (planned_push, live_push)
            && planned / 1_000_000 != live / 1_000_000
        {
            return Check::Skip(
                SkipReason::Repushed,
                format!(
                    "pushed at {} now, {} in the plan",
                    rfc3339(live),
                    rfc3339(planned)
                ),
            );
        }
        let new_tags: Vec<&str> = d
            .image_tags()
            .iter()
            .map(String::as_str)
            .filter(|t| !item.image_tags.iter().any(|m| m == t))
            .collect();
        if !new_tags.is_empty() {
            return Check::Skip(
                SkipReason::TaggedSincePlan,
                format!("new tags: {}", new_tags.join(", ")),
            );
        }
        let planned_pull = evidence
            .last_recorded_pull_time
            .as_deref()
            .and_then(|t| parse_rfc3339(t).ok());
        if let Some(live) = d.last_recorded_pull_time().map(micros)
            && planned_pull.is_none_or(|p| live > p)
        {
            return Check::Skip(
                SkipReason::PulledSinceSnapshot,
                format!("ECR recorded a pull at {}", rfc3339(live)),
            );
        }
        if let Some(u) = usage.and_then(|u| u.get(&item.image_digest)) {
            let planned_use = evidence
                .last_in_use_at
                .as_deref()
                .and_then(|t| parse_rfc3339(t).ok());
            if u.in_use_count > 0 {
                return Check::Skip(
                    SkipReason::InUse,
                    format!("Inspector counts {} uses", u.in_use_count),
                );
            }
            if let Some(live) = u.last_in_use_at
                && planned_use.is_none_or(|p| live > p)
            {
                return Check::Skip(
                    SkipReason::InUse,
                    format!("Inspector saw it in use at {}", rfc3339(live)),
                );
            }
            if let Some(pulled) = u.pulled_at
                && pulled > self.snapshot_time
            {
                return Check::Skip(
                    SkipReason::PulledSinceSnapshot,
                    format!("Inspector saw a pull at {}", rfc3339(pulled)),
                );
            }
        }
        let mut tags: Vec<&str> = item.image_tags.iter().map(String::as_str).collect();
        tags.extend(d.image_tags().iter().map(String::as_str));
        if let Some(r) = self.view.matching(self.repo, &item.image_digest, &tags) {
            return Check::Skip(
                SkipReason::InUseReference,
                format!("named by {}", r.resource),
            );
        }
        Check::Go
    }
}
