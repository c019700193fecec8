//! How each app lays out its models folder: the `.gguf` files in it, the name the app shows for
//! each, and the sha256 the store names for it (when it names one). Bounded: a fixed depth
//! per layout, at most [`MAX_ENTRIES`] entries read per folder, folder links never followed.

use super::{ScanFolder, Source};
use std::path::{Path, PathBuf};

/// Directory entries read per scanned folder, at most (a home folder added by mistake must not
/// make a scan take minutes).
const MAX_ENTRIES: usize = 20_000;
/// Ollama manifests are small JSON files; a larger one is not a manifest.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// llama.cpp's `.json` beside a download is a few hundred bytes.
const MAX_ETAG_JSON_BYTES: u64 = 64 << 10;
/// Ollama's media type of the weights layer.
pub const OLLAMA_MODEL_MEDIA_TYPE: &str = "application/vnd.ollama.image.model";

/// A `.gguf` to identify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub name: String,
    /// Lower-case hex, when the store names the file's sha256.
    pub expected_sha256: Option<String>,
    /// For Ollama: the layer size the manifest declares.
    pub expected_size: Option<u64>,
}

/// The candidates of one folder, in a stable order.
pub fn candidates(folder: &ScanFolder) -> Vec<Candidate> {
    let mut out = match folder.source {
        Source::HuggingFace => hugging_face(&folder.path),
        Source::LmStudio => plain(&folder.path, 3),
        Source::Ollama => ollama(&folder.path),
        Source::LlamaCpp => llama_cpp(&folder.path),
        Source::Folder => plain(&folder.path, 4),
    };
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Files (not folders, links to files allowed) up to `depth` levels below `root`, with their
/// path relative to `root`.
fn files(root: &Path, depth: usize) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let mut budget = MAX_ENTRIES;
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, level)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if budget == 0 {
                return out;
            }
            budget -= 1;
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                if level + 1 < depth {
                    stack.push((path, level + 1));
                }
            } else if path.is_file() {
                let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                out.push((path, relative));
            }
        }
    }
    out
}

fn is_gguf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

fn display(relative: &Path) -> String {
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn sha256_hex(text: &str) -> Option<String> {
    let t = text.trim().trim_start_matches("W/").trim_matches('"');
    (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| t.to_ascii_lowercase())
}

/// LM Studio and plain folders: every `.gguf` down to `depth`, named by its relative path.
fn plain(root: &Path, depth: usize) -> Vec<Candidate> {
    files(root, depth)
        .into_iter()
        .filter(|(p, _)| is_gguf(p))
        .map(|(path, relative)| Candidate {
            name: display(&relative),
            path,
            expected_sha256: None,
            expected_size: None,
        })
        .collect()
}

/// `models--org--name/snapshots/<commit>/<file>.gguf`, each a link to `blobs/<etag>`; an LFS
/// file's etag is its sha256.
fn hugging_face(root: &Path) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (path, relative) in files(root, 5) {
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let (Some(repo), Some("snapshots")) = (
            parts.first().and_then(|p| p.strip_prefix("models--")),
            parts.get(1).map(String::as_str),
        ) else {
            continue;
        };
        if parts.len() < 4 || !is_gguf(&path) {
            continue;
        }
        let blob = std::fs::read_link(&path).ok();
        out.push(Candidate {
            name: format!("{}/{}", repo.replacen("--", "/", 1), parts[3..].join("/")),
            expected_sha256: blob
                .as_ref()
                .and_then(|b| b.file_name())
                .and_then(|n| sha256_hex(&n.to_string_lossy())),
            expected_size: None,
            path,
        });
    }
    out
}

/// `manifests/<host>/<namespace>/<model>/<tag>` (JSON) naming the weights layer
/// `{mediaType: application/vnd.ollama.image.model, digest: sha256:<hex>, size}`, whose bytes
/// are `blobs/sha256-<hex>`.
fn ollama(root: &Path) -> Vec<Candidate> {
    #[derive(serde::Deserialize)]
    struct Layer {
        #[serde(rename = "mediaType")]
        media_type: String,
        digest: String,
        size: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct Manifest {
        layers: Vec<Layer>,
    }
    let manifests = root.join("manifests");
    let mut out = Vec::new();
    for (path, relative) in files(&manifests, 4) {
        let small = std::fs::metadata(&path).is_ok_and(|m| m.len() <= MAX_MANIFEST_BYTES);
        let Some(manifest) = small
            .then(|| std::fs::read(&path).ok())
            .flatten()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        else {
            continue;
        };
        let Some(layer) = manifest
            .layers
            .into_iter()
            .find(|l| l.media_type == OLLAMA_MODEL_MEDIA_TYPE)
        else {
            continue;
        };
        let Some(hex) = layer.digest.strip_prefix("sha256:").and_then(sha256_hex) else {
            continue;
        };
        let blob = root.join("blobs").join(format!("sha256-{hex}"));
        if !blob.is_file() {
            continue;
        }
        out.push(Candidate {
            name: ollama_name(&relative),
            path: blob,
            expected_sha256: Some(hex),
            expected_size: layer.size,
        });
    }
    out
}

/// `registry.ollama.ai/library/x/latest` → `x:latest`; `hf.co/org/repo/Q4_K_M` →
/// `hf.co/org/repo:Q4_K_M`.
fn ollama_name(relative: &Path) -> String {
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [host, ns, model, tag] if host == "registry.ollama.ai" && ns == "library" => {
            format!("{model}:{tag}")
        }
        [host, ns, model, tag] if host == "registry.ollama.ai" => format!("{ns}/{model}:{tag}"),
        [host, ns, model, tag] => format!("{host}/{ns}/{model}:{tag}"),
        other => other.join("/"),
    }
}

/// `<org>_<repo>_<file>.gguf` with `<that>.json` = `{"url", "etag", "lastModified"}` beside it
/// (llama.cpp's `-hf` downloads); the name comes from the URL when it is there.
fn llama_cpp(root: &Path) -> Vec<Candidate> {
    #[derive(serde::Deserialize)]
    struct Meta {
        url: Option<String>,
        etag: Option<String>,
    }
    let mut out = Vec::new();
    for (path, relative) in files(root, 2) {
        if !is_gguf(&path) {
            continue;
        }
        let mut json = path.clone().into_os_string();
        json.push(".json");
        let json = PathBuf::from(json);
        // A plain file only: a FIFO (length 0) would block the read, and the scan with it.
        let meta = std::fs::metadata(&json)
            .is_ok_and(|m| m.is_file() && m.len() <= MAX_ETAG_JSON_BYTES)
            .then(|| std::fs::read(&json).ok())
            .flatten()
            .and_then(|b| serde_json::from_slice::<Meta>(&b).ok());
        let name = meta
            .as_ref()
            .and_then(|m| m.url.as_deref())
            .and_then(|u| {
                let rest = u.split_once("://")?.1.split_once('/')?.1;
                let (repo, file) = rest.split_once("/resolve/")?;
                Some(format!("{repo}/{}", file.split_once('/')?.1))
            })
            .unwrap_or_else(|| display(&relative));
        out.push(Candidate {
            name,
            expected_sha256: meta.and_then(|m| m.etag).and_then(|e| sha256_hex(&e)),
            expected_size: None,
            path,
        });
    }
    out
}
