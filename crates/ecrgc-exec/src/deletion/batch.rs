//! One batch of a repository: the references and the images checked live, intents
//! journaled, then the last look and the call, and every result journaled.

use std::collections::HashMap;

use ecrgc_manifest::Item;

use crate::checks::image::{Check, ImageCheck};
use crate::checks::inspector::Usage;
use crate::deletion::last_look::{Last, Refusal, changed};
use crate::deletion::repo::Repo;
use crate::error::Result;
use crate::journal::{Entry, Event};
use crate::skip::SkipReason;
use crate::summary::Mode;

impl Repo<'_> {
    /// Re-validates and acts on one batch; returns each digest with whether it is gone
    /// (or archived) now.
    pub(super) async fn batch<'i>(
        &mut self,
        batch: &[&'i Item],
        usage: Option<&HashMap<String, Usage>>,
    ) -> Result<Vec<(&'i str, bool)>> {
        let kept = |batch: &[&'i Item]| {
            batch
                .iter()
                .map(|i| (i.image_digest.as_str(), false))
                .collect::<Vec<_>>()
        };
        // The references this batch is judged on: re-read first when too old.
        let view = self.shared.references.view().await;
        if let Some(why) = view.blocked() {
            let entries = batch
                .iter()
                .map(|i| {
                    self.decide(
                        i,
                        Event::Skipped,
                        Some(SkipReason::ReferenceCheckFailed),
                        Some(why.clone()),
                    )
                })
                .collect();
            self.record(entries).await?;
            return Ok(kept(batch));
        }
        let judge = ImageCheck {
            mode: self.shared.mode,
            snapshot_time: self.shared.snapshot_time,
            repo: self.key,
            usage,
            view: &view,
        };
        let digests: Vec<&str> = batch.iter().map(|i| i.image_digest.as_str()).collect();
        let mut outcome = Vec::new();
        let (live, absent) = match self.describe(&digests).await {
            Ok(described) => described,
            Err(f) => {
                let entries = batch
                    .iter()
                    .map(|i| {
                        self.decide(
                            i,
                            Event::Skipped,
                            Some(SkipReason::DescribeFailed),
                            Some(f.to_string()),
                        )
                    })
                    .collect();
                self.record(entries).await?;
                return Ok(kept(batch));
            }
        };
        let mode = self.shared.mode;
        let api = match mode {
            Mode::Delete => "ecr:BatchDeleteImage",
            Mode::Archive => "ecr:UpdateImageStorageClass",
        };
        let mut entries = Vec::new();
        let mut go: Vec<&Item> = Vec::new();
        for item in batch.iter().copied() {
            let digest = item.image_digest.as_str();
            if absent.contains(digest) {
                entries.push(self.decide(
                    item,
                    Event::Absent,
                    None,
                    Some("the image is gone".into()),
                ));
                outcome.push((digest, true));
                continue;
            }
            let Some(detail) = live.get(digest) else {
                entries.push(self.decide(
                    item,
                    Event::Skipped,
                    Some(SkipReason::DescribeFailed),
                    Some("DescribeImages did not return the image".into()),
                ));
                outcome.push((digest, false));
                continue;
            };
            match judge.judge(item, detail) {
                Check::Go => {
                    let mut intent = Entry::new(Event::Intent);
                    self.shared.fill_item(&mut intent, item);
                    intent.api = Some(api.to_owned());
                    entries.push(intent);
                    go.push(item);
                }
                Check::AlreadyArchived => {
                    entries.push(self.decide(item, Event::AlreadyArchived, None, None));
                    outcome.push((digest, true));
                }
                Check::Skip(why, message) => {
                    entries.push(self.decide(item, Event::Skipped, Some(why), Some(message)));
                    outcome.push((digest, false));
                }
            }
        }
        // Durable before the call: a crash after this leaves intents, never silent deletions.
        self.record(entries).await?;
        if go.is_empty() {
            return Ok(outcome);
        }
        let done_event = match mode {
            Mode::Delete => Event::Deleted,
            Mode::Archive => Event::Archived,
        };
        if !self.shared.execute {
            // A dry run: what would be done, counted as done so children are shown too.
            for item in &go {
                self.decide(item, done_event, None, None);
                outcome.push((item.image_digest.as_str(), true));
            }
            return Ok(outcome);
        }
        // The last look, inside the call (see the module documentation).
        let results = match mode {
            Mode::Delete => self.delete(&go, &live).await,
            Mode::Archive => self.archive(&go, &live).await,
        };
        let mut entries = Vec::new();
        for (item, result) in go.iter().zip(results) {
            let digest = item.image_digest.as_str();
            let entry = match result {
                Last::Sent(Ok(())) => {
                    outcome.push((digest, true));
                    let mut e = self.decide(item, done_event, None, None);
                    e.bytes = Some(item.image_size_bytes);
                    e
                }
                Last::Sent(Err(Refusal { code, message })) => {
                    let (event, why, gone) = match code.as_str() {
                        "ImageNotFound" | "ImageNotFoundException" => (Event::Absent, None, true),
                        "ImageReferencedByManifestList" => {
                            (Event::Skipped, Some(SkipReason::ReferencedByIndex), false)
                        }
                        _ => (Event::Failed, None, false),
                    };
                    outcome.push((digest, gone));
                    let mut e = self.decide(item, event, why, Some(message));
                    if let Some(d) = self.decisions.last_mut() {
                        d.code = Some(code.clone());
                    }
                    e.api = Some(api.to_owned());
                    e.code = Some(code);
                    e
                }
                Last::Gone => {
                    outcome.push((digest, true));
                    self.decide(item, Event::Absent, None, Some("the image is gone".into()))
                }
                Last::Unread(message) => {
                    outcome.push((digest, false));
                    self.decide(
                        item,
                        Event::Skipped,
                        Some(SkipReason::DescribeFailed),
                        Some(message),
                    )
                }
                Last::LeaseLost => {
                    outcome.push((digest, false));
                    self.decide(
                        item,
                        Event::Skipped,
                        Some(SkipReason::LeaseLost),
                        Some(
                            "the apply lease was lost before the call; the next apply retries it"
                                .into(),
                        ),
                    )
                }
                Last::Changed(now) => match judge.judge(item, &now) {
                    Check::AlreadyArchived => {
                        outcome.push((digest, true));
                        self.decide(item, Event::AlreadyArchived, None, None)
                    }
                    Check::Skip(why, message) => {
                        outcome.push((digest, false));
                        self.decide(
                            item,
                            Event::Skipped,
                            Some(why),
                            Some(format!("{message} (seen right before the call)")),
                        )
                    }
                    Check::Go => {
                        outcome.push((digest, false));
                        let what = live
                            .get(digest)
                            .and_then(|before| changed(before, &now))
                            .unwrap_or_else(|| "the image changed".to_owned());
                        self.decide(
                            item,
                            Event::Skipped,
                            Some(SkipReason::ChangedSinceCheck),
                            Some(format!("{what} right before the call")),
                        )
                    }
                },
            };
            entries.push(entry);
        }
        self.record(entries).await?;
        Ok(outcome)
    }
}
