//! Past runs: everything needed to read one again or to repeat it (instruction, input, the
//! settings with the seed actually used, the model with its hashes — or, for a run on a remote
//! server, its endpoint and model name — output, stats).
//!
//! Stored as JSON Lines (`history.jsonl`, one run per line) in the app data dir. The file is
//! the user's data, so the store never loses a line of it:
//! - a new run is one appended line; before it, a last line left without its newline (a crash
//!   mid-write) is terminated, so the new line never fuses with it; if the append itself fails
//!   (disk full), the file is cut back to its previous length;
//! - lines this version cannot read (damaged, or written by a newer version) are kept byte for
//!   byte, only not listed; deleting a run reads the file again (another window may have
//!   added runs) and rewrites it with every other line as it was, through a temporary file and
//!   a rename, so a failed rewrite keeps the previous file;
//! - if the file cannot be read at start, the store holds nothing and writes nothing until a
//!   later read succeeds: it never rewrites the file from an empty list.

use crate::error::{AppError, AppResult};
use crate::json_file;
use crate::model_summary::ModelSummary;
use jslm_engine::{GenerationSettings, GenerationStats, StopReason};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: String,
    /// When the run finished, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    pub instruction: String,
    pub input: String,
    /// The settings as run, with `seed` set to the seed actually used: generating again with
    /// them on the same model gives the same text.
    pub settings: GenerationSettings,
    /// The local model that ran; absent for a run on a remote server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSummary>,
    /// The remote server that ran it (`run on: a server`); absent for local runs and in
    /// entries written before remote runs existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteRun>,
    /// The answer as the model card prints it (decoded, stripped).
    pub output: String,
    pub stop_reason: StopReason,
    pub stats: GenerationStats,
}

/// Where a remote run ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRun {
    /// The server's base URL (`http://gpu-box:8000/v1`).
    pub endpoint: String,
    /// The model name the server answered for.
    pub model: String,
}

/// One line of the history list; the full entry is fetched when opened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryItem {
    pub id: String,
    pub created_at_ms: u64,
    /// The start of the instruction (at most [`PREVIEW_CHARS`] characters).
    pub instruction: String,
    pub stop_reason: StopReason,
    pub generated_tokens: usize,
    pub seed: u64,
    pub model_name: String,
    /// The endpoint, for a remote run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// Characters of the instruction shown in the list.
pub const PREVIEW_CHARS: usize = 80;

impl HistoryEntry {
    fn item(&self) -> HistoryItem {
        HistoryItem {
            id: self.id.clone(),
            created_at_ms: self.created_at_ms,
            instruction: self.instruction.chars().take(PREVIEW_CHARS).collect(),
            stop_reason: self.stop_reason,
            generated_tokens: self.stats.generated_tokens,
            seed: self.stats.seed,
            model_name: match (&self.model, &self.remote) {
                (Some(model), _) => model.name.clone(),
                (None, Some(remote)) => remote.model.clone(),
                (None, None) => String::new(),
            },
            endpoint: self.remote.as_ref().map(|r| r.endpoint.clone()),
        }
    }
}

/// One line of the file, kept as it was read (without its newline).
#[derive(Debug, Clone)]
struct Line {
    raw: Vec<u8>,
    /// `None` for a line this version cannot read.
    run: Option<HistoryEntry>,
}

#[derive(Debug)]
struct Lines {
    /// `None` until the file has been read (it could not be at start).
    lines: Option<Vec<Line>>,
}

#[derive(Debug)]
pub struct HistoryStore {
    path: PathBuf,
    inner: Mutex<Lines>,
}

impl HistoryStore {
    /// Reads `path` (a missing file is an empty history). Lines that do not parse are kept
    /// (see the module docs); nothing is written.
    pub fn open(path: &Path) -> AppResult<Self> {
        let lines = read_lines(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            inner: Mutex::new(Lines { lines: Some(lines) }),
        })
    }

    /// The store for a `path` that could not be read at start: it lists nothing, and each
    /// write first tries to read the file again, failing (and writing nothing) while it cannot.
    pub fn unreadable(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            inner: Mutex::new(Lines { lines: None }),
        }
    }

    fn runs(lines: &[Line]) -> impl DoubleEndedIterator<Item = &HistoryEntry> + Clone {
        lines.iter().filter_map(|l| l.run.as_ref())
    }

    /// Newest first.
    pub fn list(&self) -> Vec<HistoryItem> {
        let inner = self.lock();
        let lines = inner.lines.as_deref().unwrap_or_default();
        let items = Self::runs(lines).rev().map(HistoryEntry::item).collect();
        items
    }

    pub fn get(&self, id: &str) -> AppResult<HistoryEntry> {
        let inner = self.lock();
        let lines = inner.lines.as_deref().unwrap_or_default();
        let found = Self::runs(lines).find(|e| e.id == id).cloned();
        found.ok_or_else(|| AppError::HistoryNotFound(id.to_string()))
    }

    /// The lines, read now if they could not be read before.
    fn loaded<'a>(&self, inner: &'a mut Lines) -> AppResult<&'a mut Vec<Line>> {
        if inner.lines.is_none() {
            inner.lines = Some(read_lines(&self.path)?);
        }
        Ok(inner.lines.get_or_insert_with(Vec::new))
    }

    /// Adds a run; its `id` is replaced by a fresh unique one, which is returned in the entry.
    pub fn append(&self, mut entry: HistoryEntry) -> AppResult<HistoryEntry> {
        let mut inner = self.lock();
        let lines = self.loaded(&mut inner)?;
        entry.id = unique_id(Self::runs(lines), entry.created_at_ms, entry.stats.seed);
        let line = serde_json::to_vec(&entry)
            .map_err(|e| AppError::Internal(format!("serialising a history entry: {e}")))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AppError::storage(dir, e))?;
        }
        append_line(&self.path, &line).map_err(|e| AppError::storage(&self.path, e))?;
        lines.push(Line {
            raw: line,
            run: Some(entry.clone()),
        });
        Ok(entry)
    }

    /// Removes a run. The file is read again first: another window of the app may have
    /// added runs since this store read it, and a rewrite from memory would drop them.
    pub fn delete(&self, id: &str) -> AppResult<()> {
        let mut inner = self.lock();
        let lines = inner.lines.insert(read_lines(&self.path)?);
        let Some(pos) = lines
            .iter()
            .position(|l| l.run.as_ref().is_some_and(|e| e.id == id))
        else {
            return Err(AppError::HistoryNotFound(id.to_string()));
        };
        let mut text = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if i != pos {
                text.extend_from_slice(&line.raw);
                text.push(b'\n');
            }
        }
        // The file first: if it cannot be written, memory still matches the disk.
        json_file::write_bytes_atomic(&self.path, &text)?;
        lines.remove(pos);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Lines> {
        // Lines change by whole-element operations only; a panic cannot leave half of one.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The lines of `path`, each parsed if it can be (a missing file has none).
fn read_lines(path: &Path) -> AppResult<Vec<Line>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(AppError::storage(path, e)),
    };
    let mut lines = Vec::new();
    let mut unreadable = 0usize;
    for raw in bytes.split(|&b| b == b'\n') {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let run = serde_json::from_slice::<HistoryEntry>(raw).ok();
        unreadable += usize::from(run.is_none());
        lines.push(Line {
            raw: raw.to_vec(),
            run,
        });
    }
    if unreadable > 0 {
        eprintln!(
            "jslm-desktop: {} has {unreadable} line(s) this version cannot read; they are kept",
            path.display()
        );
    }
    Ok(lines)
}

/// Appends `line` and a newline to `path`, first terminating a last line that lacks its
/// newline; on failure the file is cut back to the length it had.
fn append_line(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let len = file.metadata()?.len();
    let mut bytes = Vec::with_capacity(line.len() + 2);
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            bytes.push(b'\n');
        }
    }
    bytes.extend_from_slice(line);
    bytes.push(b'\n');
    if let Err(e) = file.write_all(&bytes).and_then(|()| file.sync_data()) {
        // Best effort: the error that matters is `e`; a half-written line would otherwise
        // swallow the next one.
        let _ = file.set_len(len).and_then(|()| file.sync_data());
        return Err(e);
    }
    Ok(())
}

fn unique_id<'a>(
    entries: impl Iterator<Item = &'a HistoryEntry> + Clone,
    created_at_ms: u64,
    seed: u64,
) -> String {
    let base = format!("{created_at_ms:x}-{:08x}", seed as u32);
    let mut id = base.clone();
    let mut n = 1;
    while entries.clone().any(|e| e.id == id) {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn entry(instruction: &str, seed: u64) -> HistoryEntry {
        HistoryEntry {
            id: String::new(),
            created_at_ms: 1_700_000_000_000,
            instruction: instruction.into(),
            input: "入力".into(),
            settings: GenerationSettings {
                seed: Some(seed),
                ..Default::default()
            },
            model: Some(ModelSummary::for_tests("/models/tiny")),
            remote: None,
            output: "答え <script>".into(),
            stop_reason: StopReason::Eos,
            stats: GenerationStats {
                seed,
                generated_tokens: 3,
                ..Default::default()
            },
        }
    }

    /// Two windows of the app share the file: a delete in one keeps what the other added.
    #[test]
    fn a_delete_keeps_runs_another_window_added() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let one = HistoryStore::open(&path).unwrap();
        let two = HistoryStore::open(&path).unwrap();
        let mine = one.append(entry("一つ目", 1)).unwrap();
        let theirs = two.append(entry("二つ目", 2)).unwrap();
        one.delete(&mine.id).unwrap();
        let ids = |store: &HistoryStore| -> Vec<String> {
            store.list().into_iter().map(|i| i.id).collect()
        };
        assert_eq!(ids(&HistoryStore::open(&path).unwrap()), ids(&two)[..1]);
        assert_eq!(ids(&one), [theirs.id]);
    }

    #[test]
    fn append_list_get_delete_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let store = HistoryStore::open(&path).unwrap();
        assert!(store.list().is_empty());
        let a = store.append(entry("一つ目", 1)).unwrap();
        let b = store.append(entry("二つ目", 1)).unwrap();
        assert_ne!(a.id, b.id, "same time and seed still get distinct ids");
        let list = store.list();
        assert_eq!(list[0].id, b.id, "newest first");
        assert_eq!(list[1].instruction, "一つ目");
        assert_eq!(store.get(&a.id).unwrap(), a);

        let reopened = HistoryStore::open(&path).unwrap();
        assert_eq!(reopened.list(), list);

        reopened.delete(&a.id).unwrap();
        assert_eq!(reopened.get(&a.id).unwrap_err().code(), "history_not_found");
        assert_eq!(
            reopened.delete(&a.id).unwrap_err().code(),
            "history_not_found"
        );
        let again = HistoryStore::open(&path).unwrap();
        assert_eq!(again.list().len(), 1);
        assert_eq!(again.list()[0].id, b.id);
    }

    #[test]
    fn damaged_and_truncated_lines_are_kept_but_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let good = serde_json::to_string(&HistoryEntry {
            id: "x".into(),
            ..entry("ok", 5)
        })
        .unwrap();
        let before = format!("{good}\nnot json\n{}", &good[..20]);
        std::fs::write(&path, &before).unwrap();
        let store = HistoryStore::open(&path).unwrap();
        assert_eq!(store.list().len(), 1);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            before,
            "opening writes nothing"
        );
        // The next append lands on its own line, after the cut-off one.
        let next = store.append(entry("next", 6)).unwrap();
        let reopened = HistoryStore::open(&path).unwrap();
        assert_eq!(reopened.list().len(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&before), "no byte of the old file changed");
        assert_eq!(text.lines().count(), 4);
        // Deleting a run keeps the lines this version cannot read.
        reopened.delete(&next.id).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{before}\n")
        );
    }

    /// Regression (issue 14): a run appended after another writer cut a line short fused with
    /// it and was lost at the next start. Now the short line is terminated first.
    #[test]
    fn a_partial_last_line_is_repaired_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let store = HistoryStore::open(&path).unwrap();
        store.append(entry("一つ目", 1)).unwrap();
        // A crash in the middle of an append (this or another instance of the app).
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"id":"cut","created_at_ms":17"#).unwrap();
        drop(f);
        let b = store.append(entry("二つ目", 2)).unwrap();
        let reopened = HistoryStore::open(&path).unwrap();
        let ids: Vec<String> = reopened.list().into_iter().map(|i| i.id).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_eq!(ids[0], b.id);
    }

    /// Regression (issue 14): when the file could not be read at start, the app used an empty
    /// store, and deleting a run rewrote the file from that empty list: every earlier run was
    /// gone. Now writes read the file first and keep what is there.
    #[test]
    fn a_store_that_could_not_read_never_rewrites_from_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let old = HistoryStore::open(&path).unwrap();
        old.append(entry("昔の一つ目", 1)).unwrap();
        old.append(entry("昔の二つ目", 2)).unwrap();
        let before = std::fs::read(&path).unwrap();
        // What the app does when the read fails at start (a transient I/O error).
        let store = HistoryStore::unreadable(&path);
        assert!(store.list().is_empty());
        let new = store.append(entry("新しい", 3)).unwrap();
        store.delete(&new.id).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(HistoryStore::open(&path).unwrap().list().len(), 2);

        // While the file stays unreadable, nothing is written and the error says so.
        let blocked = dir.path().join("blocked.jsonl");
        std::fs::create_dir(&blocked).unwrap();
        let store = HistoryStore::unreadable(&blocked);
        assert_eq!(store.append(entry("x", 4)).unwrap_err().code(), "storage");
        assert!(blocked.is_dir());
    }

    /// Regression (issue 14): an append that fails half-way (disk full) left half a line, and
    /// the next run fused with it. Needs a small tmpfs (root); skipped otherwise.
    #[test]
    fn a_failed_append_keeps_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("small");
        std::fs::create_dir(&mount).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&mount)
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs (needs root)");
            return;
        }
        struct Unmount(PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(&self.0)
                    .status();
            }
        }
        let _unmount = Unmount(mount.clone());
        let path = mount.join("history.jsonl");
        let store = HistoryStore::open(&path).unwrap();
        store.append(entry("小さい", 1)).unwrap();
        let before = std::fs::read(&path).unwrap();
        // Fill the file system, leaving less room than the next line needs.
        let filler = mount.join("filler");
        let _ = std::fs::write(&filler, vec![b'x'; 64 * 1024]);
        let mut huge = entry("大きい", 2);
        huge.output = "あ".repeat(20_000);
        assert_eq!(store.append(huge).unwrap_err().code(), "storage");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::remove_file(&filler).unwrap();
        store.append(entry("次", 3)).unwrap();
        assert_eq!(HistoryStore::open(&path).unwrap().list().len(), 2);
    }

    /// Entries written before remote runs existed have `model` and no `remote`; remote runs
    /// have `remote` and no `model`. Both load, and a local entry is written as before.
    #[test]
    fn old_entries_and_remote_entries_load() {
        let mut old = serde_json::to_value(entry("古い", 1)).unwrap();
        assert!(
            old.get("remote").is_none(),
            "local entries keep the old shape"
        );
        old.as_object_mut().unwrap().remove("remote");
        let back: HistoryEntry = serde_json::from_value(old).unwrap();
        assert_eq!(back.remote, None);
        assert_eq!(back.item().model_name, "tiny");

        let remote = HistoryEntry {
            model: None,
            remote: Some(RemoteRun {
                endpoint: "http://gpu-box:8000/v1".into(),
                model: "stabilityai/japanese-stablelm-instruct-gamma-7b".into(),
            }),
            ..entry("遠く", 2)
        };
        let json = serde_json::to_value(&remote).unwrap();
        assert!(json.get("model").is_none());
        assert_eq!(json["remote"]["endpoint"], "http://gpu-box:8000/v1");
        let back: HistoryEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, remote);
        let item = back.item();
        assert_eq!(
            item.model_name,
            "stabilityai/japanese-stablelm-instruct-gamma-7b"
        );
        assert_eq!(item.endpoint.as_deref(), Some("http://gpu-box:8000/v1"));
    }

    #[test]
    fn preview_is_cut_on_characters() {
        let long = "あ".repeat(200);
        let item = HistoryEntry {
            id: "i".into(),
            ..entry(&long, 1)
        }
        .item();
        assert_eq!(item.instruction.chars().count(), PREVIEW_CHARS);
    }
}
