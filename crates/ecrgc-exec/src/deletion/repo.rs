//! One repository being worked on, and what every step of its work shares: recording a
//! decision, skipping a group of items, describing images.

use std::collections::{HashMap, HashSet};

use aws_sdk_ecr::types::{ImageDetail, ImageIdentifier};
use ecrgc_aws::{CallStats, Failure};
use ecrgc_manifest::Item;

use crate::checks::references::RepositoryKey;
use crate::deletion::shared::Shared;
use crate::error::Result;
use crate::journal::{Entry, Event};
use crate::skip::SkipReason;
use crate::summary::Decision;

/// One repository's work: its client, its call counts and its decisions so far.
pub(super) struct Repo<'a> {
    pub(super) shared: &'a Shared,
    pub(super) key: &'a RepositoryKey,
    pub(super) ecr: aws_sdk_ecr::Client,
    pub(super) stats: CallStats,
    pub(super) decisions: Vec<Decision>,
}

/// Whether a repository's items go on to their batches.
pub(super) enum Gate {
    /// They do.
    Open,
    /// They were all decided: these decisions.
    Closed(Vec<Decision>),
}

impl Repo<'_> {
    pub(super) fn decide(
        &mut self,
        item: &Item,
        event: Event,
        reason: Option<SkipReason>,
        message: Option<String>,
    ) -> Entry {
        let (decision, entry) = self.shared.decision(item, event, reason, message);
        self.decisions.push(decision);
        entry
    }

    pub(super) async fn record(&self, entries: Vec<Entry>) -> Result<()> {
        self.shared.record(entries).await
    }

    /// Skips every item for one reason: the gate is closed.
    pub(super) async fn close(
        &mut self,
        items: &[&Item],
        reason: SkipReason,
        message: String,
    ) -> Result<Gate> {
        let mut entries = Vec::new();
        for item in items {
            entries.push(self.decide(item, Event::Skipped, Some(reason), Some(message.clone())));
        }
        self.record(entries).await?;
        Ok(Gate::Closed(std::mem::take(&mut self.decisions)))
    }

    /// Describes `digests`; a digest ECR does not know is returned as absent. ECR fails the
    /// whole call when one id is missing, so a failing batch is halved until the missing
    /// ones are found.
    pub(super) async fn describe(
        &self,
        digests: &[&str],
    ) -> Result<(HashMap<String, ImageDetail>, HashSet<String>), Failure> {
        let RepositoryKey {
            account_id: account,
            region,
            repository_name: name,
        } = self.key;
        let mut found = HashMap::new();
        let mut absent = HashSet::new();
        let mut queue: Vec<Vec<&str>> = vec![digests.to_vec()];
        while let Some(part) = queue.pop() {
            let ids: Vec<ImageIdentifier> = part
                .iter()
                .map(|d| ImageIdentifier::builder().image_digest(*d).build())
                .collect();
            let out = self
                .shared
                .caller
                .call(account, region, "ecr:DescribeImages", &self.stats, || {
                    self.ecr
                        .describe_images()
                        .registry_id(account)
                        .repository_name(name)
                        .set_image_ids(Some(ids.clone()))
                        .send()
                })
                .await;
            match out {
                Ok(out) => {
                    for d in out.image_details() {
                        if let Some(digest) = d.image_digest() {
                            found.insert(digest.to_owned(), d.clone());
                        }
                    }
                }
                Err(f) if f.code.as_deref() == Some("ImageNotFoundException") => {
                    if part.len() == 1 {
                        absent.insert(part[0].to_owned());
                    } else {
                        let (a, b) = part.split_at(part.len() / 2);
                        queue.push(a.to_vec());
                        queue.push(b.to_vec());
                    }
                }
                Err(f) => return Err(f),
            }
        }
        Ok((found, absent))
    }
}
