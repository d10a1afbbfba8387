//! The rows the ECR inventory writes for one repository: the repository, its tags and pull
//! grants, its images and their tags, the relations, the manifest reads and the layers.

use ecrgc_model::{
    ImageLayerRow, ImageRelationRow, ImageRow, ImageTagRow, ManifestReadRow, RepositoryPullerRow,
    RepositoryRow, RepositoryTagRow,
};

use super::facts::{Reads, RepositoryData};
use crate::aws::manifest::ImageBlobs;
use crate::aws::prior::{ImageKey, Prior};
use crate::aws::sink::Tables;
use crate::aws::unit::Api;

pub(super) fn append(t: &mut Tables, api: &Api, data: &RepositoryData) {
    let (account_id, region) = (api.account.as_str(), api.region.as_str());
    let repository_name = data.repo.name.as_str();
    t.repositories.append(RepositoryRow {
        account_id,
        region,
        repository_name,
        repository_arn: &data.repo.arn,
        created_at: data.repo.created_at,
        image_tag_mutability: &data.repo.mutability,
        lifecycle_policy_text: data.lifecycle.as_deref(),
    });
    for (tag_key, tag_value) in &data.tags {
        t.repository_tags.append(RepositoryTagRow {
            account_id,
            region,
            repository_name,
            tag_key,
            tag_value,
        });
    }
    for grant in &data.pullers {
        t.repository_pullers.append(RepositoryPullerRow {
            account_id,
            region,
            repository_name,
            puller_account_id: &grant.account,
            grant_kind: grant.kind.as_str(),
            principal: &grant.principal,
            principal_org_id: grant.org_id.as_deref(),
        });
    }
    for i in &data.images {
        t.images.append(ImageRow {
            account_id,
            region,
            repository_name,
            image_digest: &i.digest,
            image_pushed_at: i.pushed_at,
            image_size_bytes: i.size,
            image_manifest_media_type: &i.media_type,
            artifact_media_type: i.artifact_media_type.as_deref(),
            last_recorded_pull_time: i.last_pull,
            image_status: &i.status,
            subject_manifest_digest: i.subject.as_deref(),
            tag_count: i.tags.len() as i64,
        });
        for image_tag in &i.tags {
            t.image_tags.append(ImageTagRow {
                account_id,
                region,
                repository_name,
                image_digest: &i.digest,
                image_tag,
            });
        }
    }
    for (parent, child, relation) in &data.relations {
        t.image_relations.append(ImageRelationRow {
            account_id,
            region,
            repository_name,
            parent_digest: parent,
            child_digest: child,
            relation,
        });
    }
}

/// Appends the `manifest_reads` rows of a repository: the manifests read tonight, and the
/// earlier reads of images still in it.
pub(super) fn append_reads(
    t: &mut Tables,
    api: &Api,
    data: &RepositoryData,
    prior: &Prior,
    reads: &Reads,
) {
    let repository_name = data.repo.name.as_str();
    for image in &data.images {
        let tonight = data.read.iter().find(|(d, _)| d == &image.digest);
        let key = ImageKey::new(&api.account, &api.region, repository_name, &image.digest);
        let (kind, read_at, run_id, exclusion) = match (tonight, prior.read(&key)) {
            (Some((_, kind)), _) => (*kind, reads.now, &*reads.run_id, reads.exclusion.as_str()),
            (None, Some(r)) => (
                r.kind.as_str(),
                r.read_at,
                r.run_id.as_str(),
                r.exclusion.as_str(),
            ),
            (None, None) => continue,
        };
        t.manifest_reads.append(ManifestReadRow {
            account_id: &api.account,
            region: &api.region,
            repository_name,
            image_digest: &image.digest,
            manifest_kind: kind,
            read_at,
            read_run_id: run_id,
            pull_time_exclusion: exclusion,
        });
    }
}

/// Appends the blob rows of a repository's images; returns how many.
pub(super) fn append_layers(
    t: &mut Tables,
    api: &Api,
    repository_name: &str,
    images: &[ImageBlobs],
) -> u64 {
    let mut n = 0;
    for image in images {
        for blob in &image.blobs {
            t.image_layers.append(ImageLayerRow {
                account_id: &api.account,
                region: &api.region,
                repository_name,
                image_digest: &image.image_digest,
                layer_digest: &blob.digest,
                layer_size_bytes: blob.size,
                media_type: &blob.media_type,
                layer_kind: blob.kind,
                layer_index: blob.index,
            });
            n += 1;
        }
    }
    n
}
