//! Declared references (`[sources] references`): files and S3 prefixes whose text names
//! images — GitOps repositories, Helm values, pipeline definitions, CloudFormation
//! templates — scanned for ECR image URIs ([`scan`]). Every URI found is a live reference
//! (source `references`, kind `file`; `file_repository` when it names a repository without
//! a tag or digest) whose resource is `<file>:<line>`.
//!
//! One unit per configured location; its coverage row carries the location in place of an
//! account and an empty region. A location that cannot be read (missing, unreadable, a
//! pattern or prefix that matches nothing, S3 access denied) fails its unit, and the plan
//! then keeps every repository (`usage_coverage_gap`): what the files would have named is
//! unknown. A single unreadable file is a partial failure with the same effect; the others
//! are still scanned. Files are read as UTF-8, invalid bytes replaced.
//!
//! S3 prefixes are read with the caller's own credentials (the default chain, as the store
//! is), not a member account's role: `s3:ListBucket` on the bucket and `s3:GetObject` on the
//! prefix.

mod glob;
mod scan;

use ecrgc_aws::Failure;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use super::{Named, Reading};

/// Reads the references of one location: a file, folder or glob pattern, or an S3 prefix.
pub async fn read(location: &str) -> Result<Reading, Failure> {
    let mut reading = Reading::default();
    if location.starts_with("s3://") {
        let store = ecrgc_aws::open_store(location)
            .await
            .map_err(|e| Failure::other(format!("{location}: {e}")))?;
        let objects = store.object_store();
        let root = store.path(&[]);
        let listed: Vec<_> = objects
            .list(Some(&root))
            .try_collect()
            .await
            .map_err(|e| Failure::other(format!("{location}: cannot list: {e}")))?;
        if listed.is_empty() {
            return Err(Failure::other(format!("{location}: matches no object")));
        }
        let bucket = store.base_url().host_str().unwrap_or_default().to_owned();
        for meta in listed {
            let name = format!("s3://{bucket}/{}", meta.location);
            let read = async { objects.get(&meta.location).await?.bytes().await };
            let read: object_store::Result<bytes::Bytes> = read.await;
            match read {
                Ok(bytes) => found(&mut reading, &name, &String::from_utf8_lossy(&bytes)),
                Err(e) => reading.partial.push(Failure::other(format!("{name}: {e}"))),
            }
        }
    } else {
        let files = glob::files(location).map_err(Failure::other)?;
        for file in files {
            let name = file.display().to_string();
            match std::fs::read(&file) {
                Ok(bytes) => found(&mut reading, &name, &String::from_utf8_lossy(&bytes)),
                Err(e) => reading.partial.push(Failure::other(format!("{name}: {e}"))),
            }
        }
    }
    Ok(reading)
}

fn found(reading: &mut Reading, name: &str, text: &str) {
    reading
        .refs
        .extend(scan::scan(text).into_iter().map(|f| Named {
            kind: if f.repository_only {
                "file_repository"
            } else {
                "file"
            },
            resource: format!("{name}:{}", f.line),
            status: "ACTIVE".to_owned(),
            container: None,
            image: f.uri,
            resolved_digest: None,
        }));
}
