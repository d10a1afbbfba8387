//! The digests a plan is identified by: a header's id and the hash over its item ids.
//!
//! The identity every other module checks against, kept apart so the header and the record
//! both use it without importing each other.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The SHA-256 of a header's JSON.
pub fn header_id<H: Serialize>(header: &H) -> String {
    hex(&Sha256::digest(
        serde_json::to_vec(header).unwrap_or_default(),
    ))
}

/// SHA-256 over item ids in order.
pub fn items_sha256<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
