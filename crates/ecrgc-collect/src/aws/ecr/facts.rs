//! What the ECR inventory reads about a repository and its images, before it becomes rows.

use std::collections::BTreeSet;

use ecrgc_aws::Failure;
use ecrgc_model::time::Micros;

use crate::aws::manifest::ImageBlobs;
use crate::aws::policy::Grant;

/// Media types of image indexes, whose children only the manifest names.
pub(super) const INDEX_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Image ids per BatchGetImage call (the API's maximum).
pub(super) const BATCH_GET_IDS: usize = 100;

pub(super) struct Repository {
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) created_at: Option<Micros>,
    pub(super) mutability: String,
}

pub(super) struct Image {
    pub(super) digest: String,
    pub(super) pushed_at: Micros,
    pub(super) size: i64,
    pub(super) media_type: String,
    pub(super) artifact_media_type: Option<String>,
    pub(super) last_pull: Option<Micros>,
    pub(super) status: String,
    pub(super) subject: Option<String>,
    pub(super) tags: Vec<String>,
}

pub(super) struct RepositoryData {
    pub(super) repo: Repository,
    pub(super) tags: Vec<(String, String)>,
    pub(super) lifecycle: Option<String>,
    pub(super) pullers: BTreeSet<Grant>,
    pub(super) images: Vec<Image>,
    pub(super) relations: Vec<(String, String, &'static str)>,
    /// The blobs of its single-platform images, when layers were asked for.
    pub(super) layers: Option<Result<Vec<ImageBlobs>, Failure>>,
    /// Manifests read tonight with BatchGetImage: digest and `index` or `image`.
    pub(super) read: Vec<(String, &'static str)>,
}

/// What every `manifest_reads` row of tonight's reads carries.
pub(super) struct Reads {
    pub(super) now: Micros,
    pub(super) run_id: std::sync::Arc<str>,
    pub(super) exclusion: String,
}
