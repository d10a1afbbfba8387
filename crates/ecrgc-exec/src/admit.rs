//! Admission: the checks a manifest passes before the executor makes a single API call.
//!
//! Order matters for the messages, not for safety: every check must pass. The file must
//! parse as a known manifest version, every item must match its id and appear once, the
//! header must be the one `plan` recorded in the store (so expiry cannot be extended and
//! items cannot be added by editing the file), and the manifest must not have expired.

use std::path::Path;

use ecrgc_manifest::{Manifest, ManifestError, PlannedRecord};
use ecrgc_model::time::{Micros, parse_rfc3339, rfc3339};
use ecrgc_store::Store;

use crate::{ExecError, Result};

/// A manifest that may be applied.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The manifest as reviewed.
    pub manifest: Manifest,
    /// Its plan's identity ([`ecrgc_manifest::Header::manifest_id`]).
    pub manifest_id: String,
    /// The file, for messages.
    pub path: String,
    /// The snapshot time the plan read, µs.
    pub snapshot_time: Micros,
}

/// Reads `path` and admits it against the plans recorded in `store`, at `now`.
pub async fn admit(path: &Path, store: &Store, now: Micros) -> Result<Admitted> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ExecError::ReadManifest {
        path: shown.clone(),
        source,
    })?;
    let manifest = Manifest::from_json(&shown, &text)?;
    let manifest_id = manifest.header.manifest_id();
    let record = match planned_record(store, &manifest_id).await? {
        Some(record) => Some(record),
        // No record under this id: find the plan the header was edited from, to name the
        // field in the message. Only the message depends on it.
        None => closest_record(store, &manifest).await?,
    };
    manifest.check_against(&shown, store.display(), record.as_ref())?;

    let time = |field: &str, value: &str| {
        parse_rfc3339(value).map_err(|_| ManifestError::BadTime {
            path: shown.clone(),
            field: field.to_owned(),
            value: value.to_owned(),
        })
    };
    let expires_at = time("expires_at", &manifest.header.expires_at)?;
    let snapshot_time = time("snapshot_time", &manifest.header.snapshot_time)?;
    if now > expires_at {
        return Err(ManifestError::Expired {
            path: shown,
            expires_at: manifest.header.expires_at.clone(),
            now: rfc3339(now),
        }
        .into());
    }
    Ok(Admitted {
        manifest,
        manifest_id,
        path: shown,
        snapshot_time,
    })
}

async fn planned_record(store: &Store, manifest_id: &str) -> Result<Option<PlannedRecord>> {
    let parts = PlannedRecord::store_parts(manifest_id);
    let Some(bytes) = store.get_object(&[&parts[0], &parts[1]]).await? else {
        return Ok(None);
    };
    // A record that does not parse proves nothing: treat it as absent (refused).
    Ok(serde_json::from_slice::<PlannedRecord>(&bytes)
        .ok()
        .filter(|r| r.manifest_id == manifest_id && r.header.manifest_id() == manifest_id))
}

async fn closest_record(store: &Store, manifest: &Manifest) -> Result<Option<PlannedRecord>> {
    let dir = PlannedRecord::store_parts("")[0].clone();
    for name in store.list_objects(&[&dir]).await? {
        let Some(bytes) = store.get_object(&[&dir, &name]).await? else {
            continue;
        };
        if let Ok(record) = serde_json::from_slice::<PlannedRecord>(&bytes)
            && record.header.run_id == manifest.header.run_id
            && record.header.created_at == manifest.header.created_at
        {
            return Ok(Some(record));
        }
    }
    Ok(None)
}
