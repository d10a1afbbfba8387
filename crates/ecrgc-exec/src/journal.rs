//! The journal: every decision and API result of every `apply` of one manifest.
//!
//! One JSON object per line, appended and synced to a local file, and the same lines written
//! to the store as one object per append under
//! `journal/manifest_id=<id>/session=<session>/<seq>.jsonl` (a table Athena, DuckDB and
//! DataFusion read as newline-delimited JSON). An append is durable in both places before
//! the executor makes the API call it announces (`intent`), so a crash can leave an intent
//! without its result but never a deletion without its intent.
//!
//! Reading back unions the local file and the store: a resumed run on another machine (a
//! new container, say) still finds what earlier sessions did. A last line cut short by a
//! crash is ignored; any other unreadable line is an error.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use ecrgc_store::Store;
use serde::{Deserialize, Serialize};

use crate::error::{ExecError, Result};

/// Folder of the journal table below the store root.
pub const JOURNAL_TABLE: &str = ecrgc_model::journal::TABLE;

/// What a journal line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// An `apply --yes` began: mode and item count in `detail`.
    SessionStarted,
    /// The item will be sent to the API in the next call.
    Intent,
    /// BatchDeleteImage deleted the image.
    Deleted,
    /// UpdateImageStorageClass archived the image.
    Archived,
    /// The image (or its repository) was already gone.
    Absent,
    /// The image was already in the archive class.
    AlreadyArchived,
    /// Left alone, with `reason`.
    Skipped,
    /// The API refused or failed, with `code` and `message`; the next apply tries again.
    Failed,
    /// The run ended: the summary in `detail`.
    SessionFinished,
    /// PutLifecyclePolicy put the planned policy (lifecycle plans).
    PolicyPut,
    /// The planned policy was already the one in place (lifecycle plans).
    PolicyInPlace,
}

impl Event {
    /// The name the journal writes (`deleted`, `already_archived`, …).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Whether the item needs nothing more in this mode.
    pub fn is_done(self, archive: bool) -> bool {
        match self {
            Self::Deleted | Self::Absent | Self::PolicyPut | Self::PolicyInPlace => true,
            Self::Archived | Self::AlreadyArchived => archive,
            _ => false,
        }
    }
}

/// One journal line: the columns [`ecrgc_model::journal`] defines, and a session line's
/// structured `detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Wall-clock time of the append, RFC 3339.
    pub at: String,
    /// The plan the manifest belongs to.
    pub manifest_id: String,
    /// One `apply` invocation.
    pub session: String,
    /// Position in the session.
    pub seq: u64,
    /// What happened.
    pub event: Event,
    /// The item, for item events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// Registry account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Registry region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_name: Option<String>,
    /// Image digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Size the manifest gives, for deleted and archived images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    /// Why an item was skipped (a stable identifier such as `pulled_since_snapshot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The API an intent or result belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The error or failure code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable detail: what was found, what the API said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Structured detail of session lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl Entry {
    /// An entry with only its event set; the journal fills time, ids and sequence.
    pub fn new(event: Event) -> Self {
        Self {
            at: String::new(),
            manifest_id: String::new(),
            session: String::new(),
            seq: 0,
            event,
            item_id: None,
            account_id: None,
            region: None,
            repository_name: None,
            image_digest: None,
            bytes: None,
            reason: None,
            api: None,
            code: None,
            message: None,
            detail: None,
        }
    }
}

/// What earlier sessions left: the last word on every item.
#[derive(Debug, Default)]
pub struct History {
    /// Every entry read, in session and sequence order.
    pub entries: Vec<Entry>,
}

impl History {
    /// The latest event of each item, by item id. A done event is never overridden by a
    /// later non-done one (a deleted image stays deleted).
    pub fn latest(&self, archive: bool) -> HashMap<&str, &Entry> {
        let mut latest: HashMap<&str, &Entry> = HashMap::new();
        for e in &self.entries {
            let Some(id) = e.item_id.as_deref() else {
                continue;
            };
            if e.event == Event::SessionStarted || e.event == Event::SessionFinished {
                continue;
            }
            match latest.get(id) {
                Some(prev) if prev.event.is_done(archive) && !e.event.is_done(archive) => {}
                _ => {
                    latest.insert(id, e);
                }
            }
        }
        latest
    }
}

/// Reads every earlier entry of `manifest_id`: the local file (if any) and the store.
pub async fn read_history(
    local: Option<&Path>,
    store: &Store,
    manifest_id: &str,
) -> Result<History> {
    let mut by_key: BTreeMap<(String, String, u64), Entry> = BTreeMap::new();
    let mut add = |e: Entry, source: &str| -> Result<()> {
        if e.manifest_id != manifest_id {
            return Err(ExecError::BadJournal {
                path: source.to_owned(),
                reason: format!(
                    "it records manifest {} but the manifest given is {manifest_id}; \
                     pass --journal with this manifest's journal",
                    e.manifest_id
                ),
            });
        }
        by_key.insert((e.at.clone(), e.session.clone(), e.seq), e);
        Ok(())
    };
    if let Some(path) = local
        && path.exists()
    {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ExecError::BadJournal {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        for e in parse_lines(&text, &shown)? {
            add(e, &shown)?;
        }
    }
    let folder = store_folder(manifest_id);
    for name in store.list_objects(&[JOURNAL_TABLE, &folder]).await? {
        let Some(bytes) = store.get_object(&[JOURNAL_TABLE, &folder, &name]).await? else {
            continue;
        };
        let shown = format!("{}/{JOURNAL_TABLE}/{folder}/{name}", store.display());
        let text = String::from_utf8_lossy(&bytes);
        for e in parse_lines(&text, &shown)? {
            add(e, &shown)?;
        }
    }
    // Sessions in the order they ran (their first line's time), lines in sequence order.
    let mut session_start: HashMap<String, String> = HashMap::new();
    for (at, session, _) in by_key.keys() {
        session_start
            .entry(session.clone())
            .and_modify(|t| {
                if at < t {
                    *t = at.clone();
                }
            })
            .or_insert_with(|| at.clone());
    }
    let mut entries: Vec<Entry> = by_key.into_values().collect();
    entries.sort_by(|a, b| {
        (&session_start[&a.session], &a.session, a.seq).cmp(&(
            &session_start[&b.session],
            &b.session,
            b.seq,
        ))
    });
    entries.dedup_by(|a, b| a.session == b.session && a.seq == b.seq);
    Ok(History { entries })
}

fn parse_lines(text: &str, shown: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => out.push(e),
            // A crash can cut the last line short; that line never reached the store's
            // copy and announced nothing that was acted on (appends sync before acting).
            Err(_) if i + 1 == lines.len() && !complete => {}
            Err(e) => {
                return Err(ExecError::BadJournal {
                    path: shown.to_owned(),
                    reason: format!("line {}: {e}", i + 1),
                });
            }
        }
    }
    Ok(out)
}

fn store_folder(manifest_id: &str) -> String {
    format!("manifest_id={manifest_id}")
}

/// Appends to the journal of one session.
pub struct Journal {
    store: Store,
    local_path: PathBuf,
    local: File,
    manifest_id: String,
    session: String,
    seq: u64,
    appends: u64,
}

impl Journal {
    /// Opens (creating if needed) the local file and starts a session.
    pub fn open(local_path: &Path, store: Store, manifest_id: &str, session: &str) -> Result<Self> {
        let local = OpenOptions::new()
            .create(true)
            .append(true)
            .open(local_path)
            .map_err(|source| ExecError::JournalWrite {
                path: local_path.display().to_string(),
                source,
            })?;
        // The file's entry in its folder must reach the disk too, or a crash can lose a
        // journal whose lines were each flushed (fsync of the folder, as for the store's
        // local markers).
        let folder = match local_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(folder)
            .and_then(|f| f.sync_all())
            .map_err(|source| ExecError::JournalWrite {
                path: folder.display().to_string(),
                source,
            })?;
        Ok(Self {
            store,
            local_path: local_path.to_owned(),
            local,
            manifest_id: manifest_id.to_owned(),
            session: session.to_owned(),
            seq: 0,
            appends: 0,
        })
    }

    /// The local file.
    pub fn local_path(&self) -> &Path {
        &self.local_path
    }

    /// The store folder of this manifest's journal.
    pub fn store_folder(&self) -> String {
        format!(
            "{}/{JOURNAL_TABLE}/{}/",
            self.store.display().trim_end_matches('/'),
            store_folder(&self.manifest_id)
        )
    }

    /// Appends `entries` durably: synced to the local file, then written to the store. Only
    /// after both may the caller act on them.
    pub async fn append(&mut self, entries: Vec<Entry>) -> Result<Vec<Entry>> {
        if entries.is_empty() {
            return Ok(entries);
        }
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut text = String::new();
        let mut written = Vec::with_capacity(entries.len());
        for mut e in entries {
            self.seq += 1;
            e.at = at.clone();
            e.manifest_id = self.manifest_id.clone();
            e.session = self.session.clone();
            e.seq = self.seq;
            text.push_str(&serde_json::to_string(&e).expect("entries serialize"));
            text.push('\n');
            written.push(e);
        }
        let io = |source| ExecError::JournalWrite {
            path: self.local_path.display().to_string(),
            source,
        };
        self.local.write_all(text.as_bytes()).map_err(io)?;
        self.local.sync_data().map_err(io)?;
        self.appends += 1;
        let name = format!("{:08}.jsonl", self.appends);
        let session = format!("session={}", self.session);
        self.store
            .put_object(
                &[
                    JOURNAL_TABLE,
                    &store_folder(&self.manifest_id),
                    &session,
                    &name,
                ],
                text.into_bytes(),
            )
            .await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines the executor writes are the table the engine reads: every column of
    /// [`ecrgc_model::journal`], typed as it reads them, and `detail`.
    #[test]
    fn a_line_carries_the_columns_of_the_journal_table() {
        let mut e = Entry::new(Event::Skipped);
        e.item_id = Some("i".into());
        e.account_id = Some("1".into());
        e.region = Some("r".into());
        e.repository_name = Some("n".into());
        e.image_digest = Some("d".into());
        e.bytes = Some(1);
        e.reason = Some("in_use".into());
        e.api = Some("ecr:BatchDeleteImage".into());
        e.code = Some("c".into());
        e.message = Some("m".into());
        e.detail = Some(serde_json::json!({}));
        let line = serde_json::to_value(&e).expect("serialize");
        let keys: Vec<&str> = line
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected: Vec<&str> = ecrgc_model::journal::column_names().collect();
        expected.push(ecrgc_model::journal::DETAIL);
        let (mut keys_sorted, mut expected_sorted) = (keys, expected);
        keys_sorted.sort_unstable();
        expected_sorted.sort_unstable();
        assert_eq!(keys_sorted, expected_sorted);
        let schema = ecrgc_model::journal::schema();
        for field in schema.fields() {
            let value = &line[field.name()];
            let typed = if field.data_type().is_integer() {
                value.is_i64() || value.is_u64()
            } else {
                value.is_string()
            };
            assert!(typed, "{} is {value}", field.name());
        }
    }

    fn item(event: Event, id: &str) -> Entry {
        let mut e = Entry::new(event);
        e.item_id = Some(id.to_owned());
        e
    }

    #[tokio::test]
    async fn appends_are_read_back_from_the_file_and_from_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::in_memory();
        let path = dir.path().join("j.jsonl");
        let mut j = Journal::open(&path, store.clone(), "m1", "s1").expect("open");
        j.append(vec![item(Event::Intent, "a"), item(Event::Intent, "b")])
            .await
            .expect("append");
        j.append(vec![item(Event::Deleted, "a")])
            .await
            .expect("append");

        let from_file = read_history(Some(&path), &Store::in_memory(), "m1")
            .await
            .expect("file");
        let from_store = read_history(None, &store, "m1").await.expect("store");
        let both = read_history(Some(&path), &store, "m1").await.expect("both");
        assert_eq!(from_file.entries, from_store.entries);
        assert_eq!(both.entries, from_file.entries);
        let latest = both.latest(false);
        assert_eq!(latest["a"].event, Event::Deleted);
        assert_eq!(latest["b"].event, Event::Intent);
    }

    #[tokio::test]
    async fn a_line_cut_short_by_a_crash_is_ignored_other_damage_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.jsonl");
        let mut j = Journal::open(&path, Store::in_memory(), "m1", "s1").expect("open");
        j.append(vec![item(Event::Deleted, "a")])
            .await
            .expect("append");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"at\":\"2026-").expect("write");
        let h = read_history(Some(&path), &Store::in_memory(), "m1")
            .await
            .expect("cut line ignored");
        assert_eq!(h.entries.len(), 1);

        let err = read_history(Some(&path), &Store::in_memory(), "other")
            .await
            .expect_err("another manifest's journal");
        assert!(err.to_string().contains("records manifest m1"), "{err}");

        f.write_all(b"\n{}\n").expect("write");
        let err = read_history(Some(&path), &Store::in_memory(), "m1")
            .await
            .expect_err("damage in the middle");
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn a_done_item_stays_done() {
        let h = History {
            entries: vec![item(Event::Deleted, "a"), item(Event::Failed, "a")],
        };
        assert_eq!(h.latest(false)["a"].event, Event::Deleted);
        let h = History {
            entries: vec![item(Event::Archived, "a"), item(Event::Skipped, "a")],
        };
        assert_eq!(h.latest(true)["a"].event, Event::Archived);
        assert_eq!(h.latest(false)["a"].event, Event::Skipped);
    }
}
