//! Past runs: everything needed to read one again or to repeat it (instruction, input, the
//! settings with the seed actually used, the model with its hashes, output, stats).
//!
//! Stored as JSON Lines (`history.jsonl`, one run per line) in the app data dir: a new run is
//! one appended line, so a crash while writing can cost at most that line. Unreadable lines
//! are skipped at start and the file is rewritten without them.

use crate::error::{AppError, AppResult};
use crate::json_file;
use crate::model_summary::ModelSummary;
use jslm_engine::{GenerationSettings, GenerationStats, StopReason};
use serde::{Deserialize, Serialize};
use std::io::Write;
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
    pub model: ModelSummary,
    /// The answer as the model card prints it (decoded, stripped).
    pub output: String,
    pub stop_reason: StopReason,
    pub stats: GenerationStats,
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
            model_name: self.model.name.clone(),
        }
    }
}

#[derive(Debug)]
pub struct HistoryStore {
    path: PathBuf,
    entries: Mutex<Vec<HistoryEntry>>,
}

impl HistoryStore {
    /// Reads `path` (a missing file is an empty history). Damaged lines are dropped and the
    /// file rewritten, so that the next append starts on a clean line.
    pub fn open(path: &Path) -> AppResult<Self> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(AppError::storage(path, e)),
        };
        let mut entries = Vec::new();
        let mut damaged = 0usize;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<HistoryEntry>(line) {
                Ok(e) => entries.push(e),
                Err(_) => damaged += 1,
            }
        }
        let store = Self {
            path: path.to_path_buf(),
            entries: Mutex::new(entries),
        };
        let unterminated = !text.is_empty() && !text.ends_with('\n');
        if damaged > 0 || unterminated {
            eprintln!(
                "jslm-desktop: {} had {damaged} unreadable line(s); rewriting it without them",
                path.display()
            );
            store.rewrite(&store.lock())?;
        }
        Ok(store)
    }

    /// An empty history that will write to `path` (used when `path` cannot be read).
    pub fn empty(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Newest first.
    pub fn list(&self) -> Vec<HistoryItem> {
        self.lock().iter().rev().map(HistoryEntry::item).collect()
    }

    pub fn get(&self, id: &str) -> AppResult<HistoryEntry> {
        self.lock()
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .ok_or_else(|| AppError::HistoryNotFound(id.to_string()))
    }

    /// Adds a run; its `id` is replaced by a fresh unique one, which is returned in the entry.
    pub fn append(&self, mut entry: HistoryEntry) -> AppResult<HistoryEntry> {
        let mut entries = self.lock();
        entry.id = unique_id(&entries, entry.created_at_ms, entry.stats.seed);
        let mut line = serde_json::to_string(&entry)
            .map_err(|e| AppError::Internal(format!("serialising a history entry: {e}")))?;
        line.push('\n');
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AppError::storage(dir, e))?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| {
                f.write_all(line.as_bytes())?;
                f.sync_data()
            })
            .map_err(|e| AppError::storage(&self.path, e))?;
        entries.push(entry.clone());
        Ok(entry)
    }

    pub fn delete(&self, id: &str) -> AppResult<()> {
        let mut entries = self.lock();
        let Some(pos) = entries.iter().position(|e| e.id == id) else {
            return Err(AppError::HistoryNotFound(id.to_string()));
        };
        let mut kept = entries.clone();
        kept.remove(pos);
        // The file first: if it cannot be written, memory still matches the disk.
        self.rewrite(&kept)?;
        *entries = kept;
        Ok(())
    }

    fn rewrite(&self, entries: &[HistoryEntry]) -> AppResult<()> {
        let mut text = String::new();
        for e in entries {
            let line = serde_json::to_string(e)
                .map_err(|err| AppError::Internal(format!("serialising history: {err}")))?;
            text.push_str(&line);
            text.push('\n');
        }
        json_file::write_bytes_atomic(&self.path, text.as_bytes())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<HistoryEntry>> {
        // Entries change by whole-element operations only; a panic cannot leave half of one.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn unique_id(entries: &[HistoryEntry], created_at_ms: u64, seed: u64) -> String {
    let base = format!("{created_at_ms:x}-{:08x}", seed as u32);
    let mut id = base.clone();
    let mut n = 1;
    while entries.iter().any(|e| e.id == id) {
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
            model: ModelSummary::for_tests("/models/tiny"),
            output: "答え <script>".into(),
            stop_reason: StopReason::Eos,
            stats: GenerationStats {
                seed,
                generated_tokens: 3,
                ..Default::default()
            },
        }
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
    fn damaged_and_truncated_lines_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let good = serde_json::to_string(&HistoryEntry {
            id: "x".into(),
            ..entry("ok", 5)
        })
        .unwrap();
        std::fs::write(&path, format!("{good}\nnot json\n{}", &good[..20])).unwrap();
        let store = HistoryStore::open(&path).unwrap();
        assert_eq!(store.list().len(), 1);
        // The next append lands on its own line.
        store.append(entry("next", 6)).unwrap();
        let reopened = HistoryStore::open(&path).unwrap();
        assert_eq!(reopened.list().len(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
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
