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
