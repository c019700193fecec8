//! Finding a model's files on disk and telling the weight formats apart.

use crate::error::{EngineError, Result};
use crate::tokenizer::TokenizerSource;
use std::path::{Path, PathBuf};

/// Where the weights are and in which format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsFormat {
    /// A Hugging Face folder: `config.json` plus one or more safetensors shards.
    Safetensors {
        config: PathBuf,
        shards: Vec<PathBuf>,
    },
    /// A llama.cpp GGUF file.
    Gguf { file: PathBuf },
}

impl WeightsFormat {
    /// The weights at `path`: a folder (safetensors, or a folder holding exactly one `.gguf`)
    /// or a `.gguf` file.
    pub fn locate(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(EngineError::MissingFile {
                path: path.to_path_buf(),
                reason: "no such file or folder".into(),
            });
        }
        if path.is_file() {
            if is_gguf(path)? {
                return Ok(WeightsFormat::Gguf {
                    file: path.to_path_buf(),
                });
            }
            return Err(EngineError::UnsupportedModel {
                path: path.to_path_buf(),
                reason: "a model file must be a GGUF (starts with the bytes \"GGUF\"); \
                         for safetensors choose the folder that holds config.json"
                    .into(),
            });
        }
        locate_in_dir(path)
    }
}

fn locate_in_dir(dir: &Path) -> Result<WeightsFormat> {
    let index = dir.join("model.safetensors.index.json");
    let single = dir.join("model.safetensors");
    let config = dir.join("config.json");
    if index.is_file() || single.is_file() {
        if !config.is_file() {
            return Err(EngineError::MissingFile {
                path: config,
                reason: "a safetensors model needs its config.json".into(),
            });
        }
        let shards = if index.is_file() {
            shards_from_index(&index)?
        } else {
            vec![single]
        };
        return Ok(WeightsFormat::Safetensors { config, shards });
    }
    let ggufs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| EngineError::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    match ggufs.as_slice() {
        [one] => Ok(WeightsFormat::Gguf { file: one.clone() }),
        [] => Err(EngineError::MissingFile {
            path: dir.to_path_buf(),
            reason:
                "no model.safetensors, model.safetensors.index.json or .gguf file in this folder"
                    .into(),
        }),
        many => Err(EngineError::UnsupportedModel {
            path: dir.to_path_buf(),
            reason: format!(
                "{} .gguf files in this folder; pass the one to use: {}",
                many.len(),
                many.iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// The tokenizer for `weights`: `given`, else the `tokenizer.json` beside them; for a GGUF
/// without one, the vocabulary in its own metadata.
pub fn tokenizer_beside(weights: &WeightsFormat, given: Option<&Path>) -> Result<TokenizerSource> {
    let tokenizer = match (given, weights) {
        (Some(t), _) => t.to_path_buf(),
        (None, WeightsFormat::Safetensors { config, .. }) => {
            config.with_file_name("tokenizer.json")
        }
        (None, WeightsFormat::Gguf { file }) => {
            let beside = file.with_file_name("tokenizer.json");
            if !beside.is_file() {
                return Ok(TokenizerSource::Gguf(file.clone()));
            }
            beside
        }
    };
    if !tokenizer.is_file() {
        // A path the caller named is not "beside the weights": say which one is missing.
        let reason = if given.is_some() {
            "the tokenizer file given does not exist"
        } else {
            "tokenizer.json not found beside the weights"
        };
        return Err(EngineError::MissingFile {
            path: tokenizer,
            reason: reason.into(),
        });
    }
    Ok(TokenizerSource::Json(tokenizer))
}

/// Shard files named by `weight_map` in `model.safetensors.index.json`, in first-seen order.
fn shards_from_index(index: &Path) -> Result<Vec<PathBuf>> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    let text = std::fs::read_to_string(index).map_err(|e| EngineError::io(index, e))?;
    let parsed: Index = serde_json::from_str(&text)
        .map_err(|e| EngineError::invalid_file(index, format!("not a safetensors index: {e}")))?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut shards: Vec<PathBuf> = Vec::new();
    for file in parsed.weight_map.values() {
        if !is_plain_file_name(file) {
            return Err(EngineError::invalid_file(
                index,
                format!(
                    "weight_map names {file:?}; shards must be plain file names inside the \
                     model's folder (no folders, `..` or absolute paths)"
                ),
            ));
        }
        let p = dir.join(file);
        if !shards.contains(&p) {
            shards.push(p);
        }
    }
    shards.sort();
    if shards.is_empty() {
        return Err(EngineError::invalid_file(index, "weight_map is empty"));
    }
    for shard in &shards {
        if !shard.is_file() {
            return Err(EngineError::MissingFile {
                path: shard.clone(),
                reason: format!("listed in {} but not on disk", index.display()),
            });
        }
    }
    Ok(shards)
}

/// A file name with no path in it: not empty, not `.`/`..`, no `/`, `\`, `:` (Windows drive
/// prefixes and alternate data streams) or NUL. `Path::join` with anything else could leave
/// the folder (`../x`, `/etc/x`, `C:\x`).
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', ':', '\0'])
}

/// Whether the file starts with the GGUF magic.
pub fn is_gguf(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    let mut magic = [0u8; 4];
    match f.read_exact(&mut magic) {
        Ok(()) => Ok(&magic == b"GGUF"),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(EngineError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharded_folder_reads_names_from_index() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("config.json"), "{}").unwrap();
        std::fs::write(d.join("tokenizer.json"), "{}").unwrap();
        // Names deliberately unlike the usual "model-0000N-of-0000M" pattern.
        std::fs::write(d.join("b.safetensors"), "x").unwrap();
        std::fs::write(d.join("a.safetensors"), "x").unwrap();
        std::fs::write(
            d.join("model.safetensors.index.json"),
            r#"{"metadata":{},"weight_map":{"x":"b.safetensors","y":"a.safetensors","z":"b.safetensors"}}"#,
        )
        .unwrap();
        assert_eq!(
            WeightsFormat::locate(d).unwrap(),
            WeightsFormat::Safetensors {
                config: d.join("config.json"),
                shards: vec![d.join("a.safetensors"), d.join("b.safetensors")]
            }
        );
    }

    #[test]
    fn index_entries_must_stay_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("model");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("config.json"), "{}").unwrap();
        // A real file outside the folder: today's join would happily use it.
        std::fs::write(dir.path().join("outside.safetensors"), "x").unwrap();
        for bad in [
            "../outside.safetensors",
            "/etc/passwd",
            "sub/../../outside.safetensors",
            "..",
            "",
            "C:x.safetensors",
            "a.safetensors:stream",
            "a\\b.safetensors",
        ] {
            let json = serde_json::json!({ "weight_map": { "w": bad } }).to_string();
            std::fs::write(d.join("model.safetensors.index.json"), json).unwrap();
            let err = WeightsFormat::locate(&d).unwrap_err();
            assert_eq!(err.code(), "invalid_file", "{bad}: {err}");
            assert!(err.to_string().contains("weight_map"), "{bad}: {err}");
        }
    }

    #[test]
    fn missing_shard_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("config.json"), "{}").unwrap();
        std::fs::write(
            d.join("model.safetensors.index.json"),
            r#"{"weight_map":{"x":"gone.safetensors"}}"#,
        )
        .unwrap();
        let err = WeightsFormat::locate(d).unwrap_err();
        assert_eq!(err.code(), "missing_file");
        assert!(err.to_string().contains("gone.safetensors"), "{err}");
    }

    #[test]
    fn empty_folder_and_non_gguf_file_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = WeightsFormat::locate(dir.path()).unwrap_err();
        assert!(err.to_string().contains("no model.safetensors"), "{err}");
        let f = dir.path().join("weights.bin");
        std::fs::write(&f, "not a model").unwrap();
        let err = WeightsFormat::locate(&f).unwrap_err();
        assert_eq!(err.code(), "unsupported_model");
        let err = WeightsFormat::locate(&dir.path().join("nope")).unwrap_err();
        assert_eq!(err.code(), "missing_file");
    }

    #[test]
    fn a_gguf_uses_the_tokenizer_json_beside_it_else_its_own_vocabulary() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.gguf");
        std::fs::write(&f, b"GGUF\x03\0\0\0").unwrap();
        let weights = WeightsFormat::locate(&f).unwrap();
        assert_eq!(weights, WeightsFormat::Gguf { file: f.clone() });
        assert_eq!(WeightsFormat::locate(dir.path()).unwrap(), weights);
        assert_eq!(
            tokenizer_beside(&weights, None).unwrap(),
            TokenizerSource::Gguf(f.clone())
        );
        // A given tokenizer must exist.
        let given = dir.path().join("elsewhere.json");
        let err = tokenizer_beside(&weights, Some(&given)).unwrap_err();
        assert!(err.to_string().contains("elsewhere.json"), "{err}");
        assert!(err.to_string().contains("given does not exist"), "{err}");
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        assert_eq!(
            tokenizer_beside(&weights, None).unwrap(),
            TokenizerSource::Json(dir.path().join("tokenizer.json"))
        );
    }

    #[test]
    fn safetensors_need_their_tokenizer_json() {
        let weights = WeightsFormat::Safetensors {
            config: PathBuf::from("/no/such/config.json"),
            shards: vec![],
        };
        let err = tokenizer_beside(&weights, None).unwrap_err();
        assert_eq!(err.code(), "missing_file");
        assert!(err.to_string().contains("tokenizer.json"), "{err}");
    }
}
