//! The last look: the batch described once more inside the deleting call's own attempt, and
//! the call itself (BatchDeleteImage, or UpdateImageStorageClass one image a call), sent only
//! for the images unchanged since the check. See [`crate::deletion`] for why.

use std::collections::HashMap;

use aws_sdk_ecr::operation::batch_delete_image::BatchDeleteImageOutput;
use aws_sdk_ecr::types::{ImageDetail, ImageIdentifier, TargetStorageClass};
use ecrgc_manifest::Item;
use ecrgc_model::keys::RepositoryKey;
use ecrgc_model::time::rfc3339;

use crate::deletion::repo::Repo;
use crate::timestamp::micros;

impl Repo<'_> {
    /// The last look and BatchDeleteImage: inside one attempt of the call (after the gate's
    /// pause, holding its permit), DescribeImages of `items`, then BatchDeleteImage of those
    /// unchanged since `checked`. One result per item, in order.
    pub(super) async fn delete(
        &self,
        items: &[&Item],
        checked: &HashMap<String, ImageDetail>,
    ) -> Vec<Last> {
        let RepositoryKey {
            account_id: account,
            region,
            repository_name: name,
        } = self.key;
        let mut last: HashMap<&str, Last> = HashMap::new();
        let mut pending: Vec<&Item> = items.to_vec();
        let mut vanished_unseen = 0;
        while !pending.is_empty() {
            let step = self
                .shared
                .caller
                .call(account, region, "ecr:BatchDeleteImage", &self.stats, || {
                    let pending = &pending;
                    async move {
                        if !self.shared.lease_held() {
                            return Ok(Step::LeaseLost);
                        }
                        let now = match self.describe_now(pending).await {
                            Ok(Some(now)) => now,
                            Ok(None) => return Ok(Step::Missing),
                            Err(e) => return Err(e),
                        };
                        let send: Vec<ImageIdentifier> = pending
                            .iter()
                            .filter(|i| unchanged(checked, &now, &i.image_digest))
                            .map(|i| image_id(&i.image_digest))
                            .collect();
                        if send.is_empty() {
                            return Ok(Step::Held(now));
                        }
                        let out = self
                            .ecr
                            .batch_delete_image()
                            .registry_id(account)
                            .repository_name(name)
                            .set_image_ids(Some(send))
                            .send()
                            .await
                            .map_err(|e| e.map_service_error(aws_sdk_ecr::Error::from))?;
                        Ok(Step::Sent(now, out))
                    }
                })
                .await;
            match step {
                Err(f) => {
                    let code = f.code.clone().unwrap_or_else(|| format!("{:?}", f.kind));
                    for i in &pending {
                        let refusal = Refusal {
                            code: code.clone(),
                            message: f.to_string(),
                        };
                        last.insert(&i.image_digest, Last::Sent(Err(refusal)));
                    }
                    break;
                }
                Ok(Step::Missing) => {
                    // An image vanished since the check: find which (the halving describe),
                    // and look again at the others.
                    let digests: Vec<&str> =
                        pending.iter().map(|i| i.image_digest.as_str()).collect();
                    match self.describe(&digests).await {
                        Ok((_, absent)) if !absent.is_empty() => {
                            for i in &pending {
                                if absent.contains(&i.image_digest) {
                                    last.insert(&i.image_digest, Last::Gone);
                                }
                            }
                            pending.retain(|i| !absent.contains(&i.image_digest));
                        }
                        Ok(_) if vanished_unseen < 2 => vanished_unseen += 1,
                        Ok(_) => {
                            for i in &pending {
                                let why = "DescribeImages reported a missing image, then none";
                                last.insert(&i.image_digest, Last::Unread(why.into()));
                            }
                            break;
                        }
                        Err(f) => {
                            for i in &pending {
                                last.insert(&i.image_digest, Last::Unread(f.to_string()));
                            }
                            break;
                        }
                    }
                }
                Ok(Step::Held(now)) => {
                    for i in &pending {
                        last.insert(&i.image_digest, held(&now, &i.image_digest));
                    }
                    break;
                }
                Ok(Step::LeaseLost) => {
                    for i in &pending {
                        last.insert(&i.image_digest, Last::LeaseLost);
                    }
                    break;
                }
                Ok(Step::Sent(now, out)) => {
                    for i in &pending {
                        let digest = i.image_digest.as_str();
                        let result = if unchanged(checked, &now, digest) {
                            Last::Sent(deletion_result(&out, digest))
                        } else {
                            held(&now, digest)
                        };
                        last.insert(digest, result);
                    }
                    break;
                }
            }
        }
        items
            .iter()
            .map(|i| {
                last.remove(i.image_digest.as_str())
                    .unwrap_or_else(|| Last::Unread("no answer".into()))
            })
            .collect()
    }

    /// DescribeImages of `items` sent directly (inside a mutating call's attempt): the
    /// details by digest, or `None` when ECR says one of them is gone (it fails the whole
    /// call then).
    async fn describe_now(
        &self,
        items: &[&Item],
    ) -> Result<Option<HashMap<String, ImageDetail>>, EcrError> {
        let RepositoryKey {
            account_id: account,
            repository_name: name,
            ..
        } = self.key;
        let ids: Vec<ImageIdentifier> = items.iter().map(|i| image_id(&i.image_digest)).collect();
        match self
            .ecr
            .describe_images()
            .registry_id(account)
            .repository_name(name)
            .set_image_ids(Some(ids))
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.image_details()
                    .iter()
                    .filter_map(|d| Some((d.image_digest()?.to_owned(), d.clone())))
                    .collect(),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_image_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.map_service_error(aws_sdk_ecr::Error::from)),
        }
    }

    /// The last look and UpdateImageStorageClass to ARCHIVE, one call per image (the gates
    /// capping concurrency), each described inside its own attempt.
    pub(super) async fn archive(
        &self,
        items: &[&Item],
        checked: &HashMap<String, ImageDetail>,
    ) -> Vec<Last> {
        let RepositoryKey {
            account_id: account,
            region,
            repository_name: name,
        } = self.key;
        let calls = items.iter().map(|item| async move {
            let step = self
                .shared
                .caller
                .call(
                    account,
                    region,
                    "ecr:UpdateImageStorageClass",
                    &self.stats,
                    || async move {
                        if !self.shared.lease_held() {
                            return Ok(ArchiveStep::LeaseLost);
                        }
                        let Some(now) = self.describe_now(&[*item]).await? else {
                            return Ok(ArchiveStep::Missing);
                        };
                        if !unchanged(checked, &now, &item.image_digest) {
                            return Ok(ArchiveStep::Held(now));
                        }
                        self.ecr
                            .update_image_storage_class()
                            .registry_id(account)
                            .repository_name(name)
                            .image_id(image_id(&item.image_digest))
                            .target_storage_class(TargetStorageClass::Archive)
                            .send()
                            .await
                            .map(|_| ArchiveStep::Sent)
                            .map_err(|e| e.map_service_error(aws_sdk_ecr::Error::from))
                    },
                )
                .await;
            match step {
                Ok(ArchiveStep::Sent) => Last::Sent(Ok(())),
                Ok(ArchiveStep::Missing) => Last::Gone,
                Ok(ArchiveStep::Held(now)) => held(&now, &item.image_digest),
                Ok(ArchiveStep::LeaseLost) => Last::LeaseLost,
                Err(f) => Last::Sent(Err(Refusal {
                    code: f.code.clone().unwrap_or_else(|| format!("{:?}", f.kind)),
                    message: f.to_string(),
                })),
            }
        });
        futures::future::join_all(calls).await
    }
}

/// An SDK error of any ECR operation: the last look and the mutating call of one attempt
/// fail alike.
type EcrError = aws_smithy_runtime_api::client::result::SdkError<
    aws_sdk_ecr::Error,
    aws_smithy_runtime_api::client::orchestrator::HttpResponse,
>;

/// One attempt of the last look and BatchDeleteImage.
enum Step {
    /// DescribeImages answered ImageNotFoundException: something vanished since the check.
    Missing,
    /// Every image changed since the check: nothing sent.
    Held(HashMap<String, ImageDetail>),
    /// The unchanged ones were sent.
    Sent(HashMap<String, ImageDetail>, BatchDeleteImageOutput),
    /// The apply lease was lost (another apply took it over, or it could not be renewed):
    /// nothing sent.
    LeaseLost,
}

/// One attempt of the last look and UpdateImageStorageClass.
enum ArchiveStep {
    Missing,
    Held(HashMap<String, ImageDetail>),
    Sent,
    LeaseLost,
}

/// What became of an image sent to the mutating call's attempt.
pub(super) enum Last {
    /// The call was made for it: what it answered.
    Sent(Result<(), Refusal>),
    /// Left alone: it changed since the check (its description now).
    Changed(Box<ImageDetail>),
    /// Gone since the check.
    Gone,
    /// Not described right before the call: why.
    Unread(String),
    /// Not sent: the apply lease was lost.
    LeaseLost,
}

fn image_id(digest: &str) -> ImageIdentifier {
    ImageIdentifier::builder().image_digest(digest).build()
}

/// Whether `digest` is described `now` exactly as it was at the check.
pub(super) fn unchanged(
    checked: &HashMap<String, ImageDetail>,
    now: &HashMap<String, ImageDetail>,
    digest: &str,
) -> bool {
    match (checked.get(digest), now.get(digest)) {
        (Some(before), Some(now)) => changed(before, now).is_none(),
        _ => false,
    }
}

/// An image left alone by the last look.
fn held(now: &HashMap<String, ImageDetail>, digest: &str) -> Last {
    match now.get(digest) {
        Some(d) => Last::Changed(Box::new(d.clone())),
        None => {
            Last::Unread("DescribeImages did not return the image right before the call".into())
        }
    }
}

/// What differs between the description at the check and the one right before the call:
/// the tags, the push time, the last recorded pull, the status. `None`: nothing.
pub(super) fn changed(before: &ImageDetail, now: &ImageDetail) -> Option<String> {
    let tags = |d: &ImageDetail| {
        let mut t = d.image_tags().to_vec();
        t.sort();
        t
    };
    let time = |t: Option<&aws_smithy_types::DateTime>| t.map(|t| rfc3339(micros(t)));
    let shown = |t: Option<String>| t.unwrap_or_else(|| "none".into());
    if tags(before) != tags(now) {
        return Some(format!(
            "its tags changed from [{}] to [{}]",
            tags(before).join(", "),
            tags(now).join(", ")
        ));
    }
    if time(before.image_pushed_at()) != time(now.image_pushed_at()) {
        return Some(format!(
            "its push time changed from {} to {}",
            shown(time(before.image_pushed_at())),
            shown(time(now.image_pushed_at()))
        ));
    }
    if time(before.last_recorded_pull_time()) != time(now.last_recorded_pull_time()) {
        return Some(format!(
            "its last recorded pull changed from {} to {}",
            shown(time(before.last_recorded_pull_time())),
            shown(time(now.last_recorded_pull_time()))
        ));
    }
    if before.image_status() != now.image_status() {
        let status = |d: &ImageDetail| {
            d.image_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "unknown".into())
        };
        return Some(format!(
            "its status changed from {} to {}",
            status(before),
            status(now)
        ));
    }
    None
}

/// BatchDeleteImage's answer for one digest.
fn deletion_result(out: &BatchDeleteImageOutput, digest: &str) -> Result<(), Refusal> {
    if let Some(f) = out
        .failures()
        .iter()
        .find(|f| f.image_id().and_then(|i| i.image_digest()) == Some(digest))
    {
        return Err(Refusal {
            code: f
                .failure_code()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            message: f.failure_reason().unwrap_or_default().to_owned(),
        });
    }
    if out
        .image_ids()
        .iter()
        .any(|i| i.image_digest() == Some(digest))
    {
        Ok(())
    } else {
        Err(Refusal {
            code: "NotReported".into(),
            message: "BatchDeleteImage reported neither success nor failure".into(),
        })
    }
}

/// What the mutating call answered for an image it refused.
pub(super) struct Refusal {
    pub(super) code: String,
    pub(super) message: String,
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecr::types::ImageStatus;
    use aws_smithy_types::DateTime;

    use super::*;

    fn detail(tags: &[&str], pushed: i64, pulled: Option<i64>, status: ImageStatus) -> ImageDetail {
        ImageDetail::builder()
            .image_digest(format!("sha256:{}", "a".repeat(64)))
            .set_image_tags(Some(tags.iter().map(|t| (*t).to_owned()).collect()))
            .image_pushed_at(DateTime::from_secs(pushed))
            .set_last_recorded_pull_time(pulled.map(DateTime::from_secs))
            .image_status(status)
            .build()
    }

    #[test]
    fn the_last_look_notices_tags_push_pull_and_status() {
        let base = detail(&["v1", "v2"], 100, Some(200), ImageStatus::Active);
        // The same image, tags in another order: unchanged.
        let same = detail(&["v2", "v1"], 100, Some(200), ImageStatus::Active);
        assert_eq!(changed(&base, &same), None);
        let cases = [
            (
                detail(&["v1", "v2", "hotfix"], 100, Some(200), ImageStatus::Active),
                "its tags changed from [v1, v2] to [hotfix, v1, v2]",
            ),
            (
                detail(&["v1"], 100, Some(200), ImageStatus::Active),
                "its tags changed from [v1, v2] to [v1]",
            ),
            (
                detail(&["v1", "v2"], 101, Some(200), ImageStatus::Active),
                "its push time changed",
            ),
            (
                detail(&["v1", "v2"], 100, Some(300), ImageStatus::Active),
                "its last recorded pull changed",
            ),
            (
                detail(&["v1", "v2"], 100, None, ImageStatus::Active),
                "its last recorded pull changed",
            ),
            (
                detail(&["v1", "v2"], 100, Some(200), ImageStatus::Archived),
                "its status changed from ACTIVE to ARCHIVED",
            ),
        ];
        for (now, what) in cases {
            let found = changed(&base, &now).unwrap_or_default();
            assert!(found.starts_with(what), "{found:?} for {now:?}");
        }
    }

    #[test]
    fn only_an_image_described_alike_twice_is_sent() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let at = |d: ImageDetail| HashMap::from([(digest.clone(), d)]);
        let checked = at(detail(&["v1"], 100, None, ImageStatus::Active));
        assert!(unchanged(
            &checked,
            &at(detail(&["v1"], 100, None, ImageStatus::Active)),
            &digest
        ));
        let tagged = at(detail(&["v1", "new"], 100, None, ImageStatus::Active));
        assert!(!unchanged(&checked, &tagged, &digest));
        assert!(matches!(held(&tagged, &digest), Last::Changed(d) if d.image_tags().len() == 2));
        // Not described now, or not at the check: never sent.
        assert!(!unchanged(&checked, &HashMap::new(), &digest));
        assert!(!unchanged(&HashMap::new(), &checked, &digest));
        assert!(matches!(held(&HashMap::new(), &digest), Last::Unread(_)));
    }
}
