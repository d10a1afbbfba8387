//! Writing a manifest item by item, so that a plan of millions of items never holds them all.
//!
//! The header carries `items_sha256` and the totals, which are known only once the last item
//! is planned, so the stream writes the items first and the header last:
//!
//! ```json
//! {
//!   "manifest_version": 2,
//!   "items": [ … ],
//!   "header": { … }
//! }
//! ```
//!
//! A JSON object's members have no order, so [`crate::Manifest::from_json`] reads this as it
//! reads a manifest written in one piece; each item is written exactly as
//! `serde_json::to_writer_pretty` writes it inside a manifest, so the content is the same.

use std::io::Write;

use ecrgc_review::{PlanRecord, ReviewedPlan, header_id};
use sha2::{Digest, Sha256};

use crate::{Header, Item, MANIFEST_VERSION, Manifest};

/// A manifest being written: items as they are planned, the header at the end.
pub struct ManifestWriter<W: Write> {
    out: W,
    /// SHA-256 over the item ids so far, in the form of [`ecrgc_review::items_sha256`].
    ids_hash: Sha256,
    /// The item ids so far, for the plan's record.
    item_ids: Vec<String>,
    /// One item's pretty JSON, reused.
    buffer: Vec<u8>,
}

impl<W: Write> ManifestWriter<W> {
    /// Starts a manifest on `out`.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        write!(
            out,
            "{{\n  \"manifest_version\": {MANIFEST_VERSION},\n  \"items\": ["
        )?;
        Ok(Self {
            out,
            ids_hash: Sha256::new(),
            item_ids: Vec::new(),
            buffer: Vec::new(),
        })
    }

    /// Appends one item, whose `item_id` must already be computed ([`Item::compute_id`]).
    pub fn push(&mut self, item: &Item) -> std::io::Result<()> {
        self.buffer.clear();
        serde_json::to_writer_pretty(&mut self.buffer, item)?;
        self.out.write_all(if self.item_ids.is_empty() {
            b"\n    "
        } else {
            b",\n    "
        })?;
        write_indented(&mut self.out, &self.buffer, b"\n    ")?;
        self.ids_hash.update(item.item_id.as_bytes());
        self.ids_hash.update(b"\n");
        self.item_ids.push(item.item_id.clone());
        Ok(())
    }

    /// Items written so far.
    pub fn len(&self) -> usize {
        self.item_ids.len()
    }

    /// Whether no item was written.
    pub fn is_empty(&self) -> bool {
        self.item_ids.is_empty()
    }

    /// Writes the header (its `items_sha256` set from the items written) and closes the
    /// object. Returns the output and the plan's record, as [`ReviewedPlan::record`] makes it
    /// for the same manifest in memory.
    pub fn finish(mut self, mut header: Header) -> std::io::Result<(W, PlanRecord<Header>)> {
        header.plan.items_sha256 = ecrgc_review::hex(&self.ids_hash.finalize());
        self.out.write_all(if self.item_ids.is_empty() {
            b"]"
        } else {
            b"\n  ]"
        })?;
        self.buffer.clear();
        serde_json::to_writer_pretty(&mut self.buffer, &header)?;
        self.out.write_all(b",\n  \"header\": ")?;
        write_indented(&mut self.out, &self.buffer, b"\n  ")?;
        self.out.write_all(b"\n}\n")?;
        self.out.flush()?;
        let record = PlanRecord {
            kind: <Manifest as ReviewedPlan>::KIND.to_owned(),
            format_version: <Manifest as ReviewedPlan>::FORMAT_VERSION,
            plan_id: header_id(&header),
            header,
            item_ids: self.item_ids,
        };
        Ok((self.out, record))
    }
}

/// Writes pretty JSON with every line after the first indented: `newline` replaces each `\n`.
fn write_indented(out: &mut impl Write, json: &[u8], newline: &[u8]) -> std::io::Result<()> {
    // serde_json escapes control characters inside strings, so every raw `\n` is a line break
    // of the layout.
    let mut lines = json.split(|b| *b == b'\n');
    if let Some(first) = lines.next() {
        out.write_all(first)?;
    }
    for line in lines {
        out.write_all(newline)?;
        out.write_all(line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{item, manifest};
    use serde::Serialize;

    /// The members of a manifest in the order the stream writes them.
    #[derive(Serialize)]
    struct InStreamOrder<'a> {
        manifest_version: u32,
        items: &'a [Item],
        header: &'a Header,
    }

    fn streamed(m: &Manifest) -> (String, PlanRecord<Header>) {
        let mut w = ManifestWriter::new(Vec::new()).expect("starts");
        for i in &m.items {
            w.push(i).expect("item");
        }
        let mut header = m.header.clone();
        header.plan.items_sha256 = String::new();
        let (bytes, record) = w.finish(header).expect("finishes");
        (String::from_utf8(bytes).expect("utf-8"), record)
    }

    #[test]
    fn a_streamed_manifest_reads_back_as_the_manifest_in_memory() {
        let mut second = item();
        second.image_digest = "sha256:bb".into();
        second.image_tags = vec!["line\nbreak".into(), "quote\"d".into()];
        second.replicas = vec!["222222222222/us-east-1".into()];
        second.item_id = second.compute_id();
        for items in [vec![], vec![item()], vec![item(), second]] {
            let m = manifest(items);
            let (text, record) = streamed(&m);
            let read = Manifest::from_json("m.json", &text).expect("valid");
            assert_eq!(read, m, "{text}");
            assert_eq!(record, m.record());
            // The same layout as one pretty document, the header moved last.
            let whole = InStreamOrder {
                manifest_version: m.manifest_version,
                items: &m.items,
                header: &m.header,
            };
            let expected = serde_json::to_string_pretty(&whole).expect("serializes");
            assert_eq!(text, expected + "\n");
        }
    }

    #[test]
    fn the_header_is_written_last_with_the_items_hash() {
        let m = manifest(vec![item()]);
        let (text, _) = streamed(&m);
        let items_at = text.find("\"items\"").expect("items");
        let header_at = text.find("\"header\"").expect("header");
        assert!(items_at < header_at, "{text}");
        assert!(text.contains(&m.header.plan.items_sha256), "{text}");
    }
}
