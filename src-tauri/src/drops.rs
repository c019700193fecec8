//! Files and folders dropped on the window. Tauri reports drags over the window as window
//! events (the webview's own HTML drag-and-drop never sees file paths); they are forwarded to
//! the page through a channel the page registers once (`watch_drops`), so the webview needs no
//! event-listening permission. The page then inspects the dropped model (`inspect_model`) and
//! shows its plan before anything is loaded.

use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tauri::ipc::Channel;
use tauri::DragDropEvent;

/// What the page hears about a drag.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum DropEvent {
    /// Something is dragged over the window; `usable`: the first item looks like a model.
    Hover { usable: bool, count: usize },
    /// The drag left the window or was cancelled.
    Left,
    /// Dropped: `path` is the model to inspect (a `.gguf`/GGUF file, or a model folder);
    /// `ignored` items after the first were not used.
    Dropped { path: PathBuf, ignored: usize },
    /// Dropped, but the first item is neither a GGUF file nor a folder.
    Refused { name: String },
}

/// The page's channel, once it asked for drops.
#[derive(Default)]
pub struct DropWatch {
    channel: Mutex<Option<Channel<DropEvent>>>,
}

impl std::fmt::Debug for DropWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let watching = self.channel.lock().map(|c| c.is_some()).unwrap_or(false);
        f.debug_struct("DropWatch")
            .field("watching", &watching)
            .finish()
    }
}

impl DropWatch {
    /// Drops go to `channel` from now on (a reloaded page registers a new one).
    pub fn watch(&self, channel: Channel<DropEvent>) {
        *self.channel.lock().unwrap_or_else(|e| e.into_inner()) = Some(channel);
    }

    /// Forwards one drag event to the page, if it is listening.
    pub fn forward(&self, event: &DragDropEvent) {
        let Some(message) = message(event) else {
            return;
        };
        if let Some(channel) = &*self.channel.lock().unwrap_or_else(|e| e.into_inner()) {
            // A page that went away cannot take it; nothing else to do.
            let _ = channel.send(message);
        }
    }
}

/// The page's message for a drag event (`None` for moves, which the page does not need).
pub fn message(event: &DragDropEvent) -> Option<DropEvent> {
    match event {
        DragDropEvent::Enter { paths, .. } => Some(DropEvent::Hover {
            usable: paths.first().and_then(|p| model_path_for(p)).is_some(),
            count: paths.len(),
        }),
        DragDropEvent::Drop { paths, .. } => {
            let first = paths.first()?;
            Some(match model_path_for(first) {
                Some(path) => DropEvent::Dropped {
                    path,
                    ignored: paths.len() - 1,
                },
                None => DropEvent::Refused {
                    name: first
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| first.display().to_string()),
                },
            })
        }
        DragDropEvent::Leave => Some(DropEvent::Left),
        _ => None,
    }
}

/// The model a dropped item stands for: a folder as it is (its files are checked when it is
/// inspected), a GGUF file (by its magic bytes, so Ollama's extension-less blobs count too),
/// or — for a file of an official model folder such as `config.json` or a `.safetensors`
/// shard — the folder holding `config.json`.
pub fn model_path_for(item: &Path) -> Option<PathBuf> {
    if item.is_dir() {
        return Some(item.to_path_buf());
    }
    if !item.is_file() {
        return None;
    }
    if is_gguf(item) {
        return Some(item.to_path_buf());
    }
    let folder = item.parent()?;
    folder
        .join("config.json")
        .is_file()
        .then(|| folder.to_path_buf())
}

fn is_gguf(file: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(file)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"GGUF"
}

#[cfg(test)]
mod tests {
    use super::*;
    use tauri::PhysicalPosition;

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
    }

    #[test]
    fn what_a_dropped_item_stands_for() {
        let tiny = fixtures().join("tiny-mistral");
        let gguf = fixtures().join("tiny-mistral-gguf/model-f16.gguf");
        assert_eq!(model_path_for(&tiny), Some(tiny.clone()));
        assert_eq!(model_path_for(&gguf), Some(gguf.clone()));
        // A file of an official model folder: the folder.
        assert_eq!(
            model_path_for(&tiny.join("config.json")),
            Some(tiny.clone())
        );
        let dir = tempfile::tempdir().unwrap();
        // A blob without an extension is a GGUF by its bytes; a text file named .gguf is not.
        let blob = dir.path().join("sha256-0123");
        std::fs::copy(&gguf, &blob).unwrap();
        assert_eq!(model_path_for(&blob), Some(blob.clone()));
        let fake = dir.path().join("notes.gguf");
        std::fs::write(&fake, "hello").unwrap();
        assert_eq!(model_path_for(&fake), None);
        assert_eq!(model_path_for(&dir.path().join("gone.gguf")), None);
    }

    #[test]
    fn drag_events_become_page_messages() {
        let gguf = fixtures().join("tiny-mistral-gguf/model-f16.gguf");
        let at = PhysicalPosition::new(1.0, 2.0);
        let readme = fixtures().join("generation_schema.json");
        assert_eq!(
            message(&DragDropEvent::Enter {
                paths: vec![gguf.clone(), readme.clone()],
                position: at
            }),
            Some(DropEvent::Hover {
                usable: true,
                count: 2
            })
        );
        assert_eq!(
            message(&DragDropEvent::Drop {
                paths: vec![gguf.clone(), readme.clone()],
                position: at
            }),
            Some(DropEvent::Dropped {
                path: gguf,
                ignored: 1
            })
        );
        assert_eq!(
            message(&DragDropEvent::Drop {
                paths: vec![readme],
                position: at
            }),
            Some(DropEvent::Refused {
                name: "generation_schema.json".into()
            })
        );
        assert_eq!(message(&DragDropEvent::Over { position: at }), None);
        assert_eq!(message(&DragDropEvent::Leave), Some(DropEvent::Left));
        assert_eq!(
            serde_json::to_value(DropEvent::Left).unwrap(),
            serde_json::json!({"event": "left"})
        );
    }
}
