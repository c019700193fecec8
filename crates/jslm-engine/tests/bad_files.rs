//! Damaged and foreign model files give clear errors that name the file — never a panic.
mod common;

use jslm_core::Precision;
use jslm_engine::{Engine, LoadOptions};
use std::path::Path;

fn load_err(path: &Path) -> jslm_engine::EngineError {
    Engine::load(path, &LoadOptions::default(), |_| {}).expect_err("must fail")
}

#[test]
fn truncated_safetensors_is_named() {
    let dir = common::copy_tiny_model();
    let weights = dir.path().join("model.safetensors");
    let len = std::fs::metadata(&weights).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&weights)
        .unwrap();
    f.set_len(len / 2).unwrap();
    let err = load_err(dir.path());
    assert_eq!(err.code(), "invalid_file");
    let text = err.to_string();
    assert!(
        text.contains("model.safetensors") && text.contains("truncated"),
        "{text}"
    );
}

#[test]
fn corrupt_header_is_named() {
    let dir = common::copy_tiny_model();
    let weights = dir.path().join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    for b in &mut bytes[8..40] {
        *b = b'#';
    }
    std::fs::write(&weights, bytes).unwrap();
    let err = load_err(dir.path());
    assert_eq!(err.code(), "invalid_file");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn missing_weights_and_config() {
    let dir = common::copy_tiny_model();
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let err = load_err(dir.path());
    assert_eq!(err.code(), "missing_file");
    assert!(err.to_string().contains("config.json"), "{err}");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    assert_eq!(load_err(dir.path()).code(), "missing_file");
}

#[test]
fn other_architecture_is_refused_by_field() {
    let dir = common::copy_tiny_model();
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["model_type"] = "gpt2".into();
    config["architectures"] = serde_json::json!(["GPT2LMHeadModel"]);
    std::fs::write(&path, config.to_string()).unwrap();
    let err = load_err(dir.path());
    assert_eq!(err.code(), "unsupported_model");
    assert!(
        err.to_string().contains("model_type") && err.to_string().contains("gpt2"),
        "{err}"
    );
}

#[test]
fn config_that_does_not_match_the_weights() {
    let dir = common::copy_tiny_model();
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["hidden_size"] = 128.into();
    std::fs::write(&path, config.to_string()).unwrap();
    let err = load_err(dir.path());
    assert_eq!(err.code(), "invalid_file");
    assert!(err.to_string().contains("shape"), "{err}");
}

#[test]
fn tokenizer_of_another_vocabulary_is_refused() {
    let dir = common::copy_tiny_model();
    let path = dir.path().join("tokenizer.json");
    let mut tok: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    tok["added_tokens"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "id": 32000, "content": "<extra>", "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true
        }));
    std::fs::write(&path, tok.to_string()).unwrap();
    let err = load_err(dir.path());
    assert_eq!(err.code(), "tokenizer_mismatch");
    assert!(
        err.to_string().contains("32001") && err.to_string().contains("32000"),
        "{err}"
    );
}

#[test]
fn truncated_gguf_is_named() {
    let cache = tempfile::tempdir().unwrap();
    let options = LoadOptions {
        precision: Some(Precision::Q8_0),
        quantized_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    Engine::load(&common::tiny_model(), &options, |_| {}).unwrap();
    let gguf = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let len = std::fs::metadata(&gguf).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&gguf)
        .unwrap()
        .set_len(len - 1000)
        .unwrap();
    let err = Engine::load(
        &gguf,
        &LoadOptions {
            tokenizer: Some(common::tokenizer_json()),
            ..Default::default()
        },
        |_| {},
    )
    .unwrap_err();
    assert_eq!(err.code(), "invalid_file");
    assert!(err.to_string().contains("truncated"), "{err}");
    // Header cut off entirely.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&gguf)
        .unwrap()
        .set_len(10)
        .unwrap();
    let err = Engine::load(
        &gguf,
        &LoadOptions {
            tokenizer: Some(common::tokenizer_json()),
            ..Default::default()
        },
        |_| {},
    )
    .unwrap_err();
    assert_eq!(err.code(), "invalid_file");
}

/// Loads `dir` quantized to Q8_0 into a fresh cache; returns the error and what the cache
/// holds afterwards.
fn quantize_err(dir: &Path) -> (jslm_engine::EngineError, Vec<std::path::PathBuf>) {
    let cache = tempfile::tempdir().unwrap();
    let options = LoadOptions {
        precision: Some(Precision::Q8_0),
        quantized_dir: Some(cache.path().join("quantized")),
        ..Default::default()
    };
    let mut quantizing = false;
    let err = Engine::load(dir, &options, |p| {
        quantizing |= matches!(p, jslm_engine::LoadProgress::Quantizing(_));
    })
    .expect_err("must fail");
    assert!(!quantizing, "refused before quantizing: {err}");
    let left = std::fs::read_dir(cache.path().join("quantized"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    (err, left)
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
}

/// Before: the quantizer wrote whatever tensors it found, and the broken file — cached —
/// was refused only when loaded, naming the cache file; every retry quantized again.
#[test]
fn weights_unlike_config_are_refused_before_quantizing() {
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit, &str); 3] = [
        (
            "a layer more than the weights hold",
            |c| c["num_hidden_layers"] = (c["num_hidden_layers"].as_u64().unwrap() + 1).into(),
            "is missing",
        ),
        (
            "another feed-forward size",
            |c| c["intermediate_size"] = (c["intermediate_size"].as_u64().unwrap() * 2).into(),
            "config.json says",
        ),
        (
            "a layer fewer",
            |c| c["num_hidden_layers"] = (c["num_hidden_layers"].as_u64().unwrap() - 1).into(),
            "beyond the",
        ),
    ];
    for (name, edit, needle) in cases {
        let dir = common::copy_tiny_model();
        edit_config(dir.path(), edit);
        let (err, left) = quantize_err(dir.path());
        assert_eq!(err.code(), "invalid_file", "{name}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("weights do not match config.json"),
            "{name}: {text}"
        );
        assert!(text.contains(needle), "{name}: {text}");
        assert!(
            text.contains(&dir.path().display().to_string()),
            "{name}: {text}"
        );
        assert!(left.is_empty(), "{name}: {left:?}");
    }
}

/// Before: a RoPE base beyond f32 passed the config check and became `inf` in the file.
#[test]
fn a_rope_base_beyond_single_precision_is_refused() {
    let dir = common::copy_tiny_model();
    edit_config(dir.path(), |c| c["rope_theta"] = 1e39.into());
    let (err, left) = quantize_err(dir.path());
    assert_eq!(err.code(), "invalid_file", "{err}");
    assert!(err.to_string().contains("rope_theta"), "{err}");
    assert!(left.is_empty(), "{left:?}");
}

/// A folder outside the Hugging Face cache is read once, then its hashes are remembered.
#[test]
fn quantization_sources_are_hashed_once() {
    let dir = common::copy_tiny_model();
    let cache = tempfile::tempdir().unwrap();
    let store = cache.path().join("source-hashes.json");
    let options = LoadOptions {
        precision: Some(Precision::Q8_0),
        quantized_dir: Some(cache.path().join("quantized")),
        source_hashes: Some(store.clone()),
        ..Default::default()
    };
    Engine::load(dir.path(), &options, |_| {}).unwrap();
    let hashes = jslm_engine::file_hash::HashStore::open(&store);
    let shard = dir.path().join("model.safetensors");
    let sha = jslm_engine::file_hash::sha256_file(&shard).unwrap();
    assert_eq!(hashes.known(&shard), Some(sha));
    assert!(hashes.known(&dir.path().join("config.json")).is_some());
}

/// Before: a tokenizer.json of Mistral's size whose pieces are not Mistral's (two swapped
/// here; Llama 2's would do the same) was used as it was, beside a folder or even instead of a
/// GGUF's own checked vocabulary, and the prompt's ids silently changed.
#[test]
fn a_tokenizer_json_with_other_pieces_is_refused() {
    let swapped = |dir: &Path| {
        let official = std::fs::read_to_string(common::tokenizer_json()).unwrap();
        let mut tok: serde_json::Value = serde_json::from_str(&official).unwrap();
        let vocab = tok["model"]["vocab"].as_object_mut().unwrap();
        let (a, b) = (vocab["指"].clone(), vocab["示"].clone());
        vocab.insert("指".into(), b);
        vocab.insert("示".into(), a);
        std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
    };
    // Beside a safetensors folder.
    let folder = common::copy_tiny_model();
    swapped(folder.path());
    let err = load_err(folder.path());
    assert_eq!(err.code(), "foreign_vocabulary", "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
    // Beside a GGUF that has its own vocabulary.
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("model-f16.gguf");
    std::fs::copy(
        common::fixtures().join("tiny-mistral-gguf/model-f16.gguf"),
        &gguf,
    )
    .unwrap();
    Engine::load(&gguf, &LoadOptions::default(), |_| {}).expect("its own vocabulary");
    swapped(dir.path());
    let err = load_err(&gguf);
    assert_eq!(err.code(), "foreign_vocabulary", "{err}");
}

/// Before: a copy made from an older config.json (or by an older quantizer) was never found
/// again and never removed: gigabytes each, out of sight. Now the new copy replaces it; a
/// file that only looks like one is left alone.
#[test]
fn a_new_copy_of_the_same_weights_replaces_the_old_one() {
    let dir = common::copy_tiny_model();
    let cache = tempfile::tempdir().unwrap();
    let quantized = cache.path().join("quantized");
    let options = LoadOptions {
        precision: Some(Precision::Q8_0),
        quantized_dir: Some(quantized.clone()),
        ..Default::default()
    };
    let ggufs = || -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&quantized)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
            .collect();
        v.sort();
        v
    };
    Engine::load(dir.path(), &options, |_| {}).unwrap();
    let first = ggufs();
    assert_eq!(first.len(), 1);
    let name = first[0].file_name().unwrap().to_string_lossy().into_owned();
    let lookalike = quantized.join(name.replacen("local-", "local-0000000000000000-x", 1));
    std::fs::write(&lookalike, b"not a gguf").unwrap();
    // The same weights under a config.json that changed (here only in bytes).
    edit_config(dir.path(), |c| c["jslm_test_note"] = "changed".into());
    Engine::load(dir.path(), &options, |_| {}).unwrap();
    let now = ggufs();
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(!now.contains(&first[0]), "the old copy is gone: {now:?}");
    assert!(now.contains(&lookalike));
}
