//! Fake app folders, laid out as each app lays out its own, built here around copies of the
//! committed tiny GGUF (its vocabulary is this model's; the tests expect its tiny shape).

use super::hashes::HashStore;
use super::*;
use jslm_core::ModelShape;
use sha2::{Digest, Sha256};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tiny-mistral-llamacpp/model-q8_0.gguf")
}

fn tiny() -> Expected {
    Expected {
        shape: ModelShape {
            hidden_size: 64,
            intermediate_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: 16,
            vocab_size: 32000,
        },
        context_tokens: 4096,
        name_hints: vec!["tiny-mistral".into()],
    }
}

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn put(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(fixture(), path).unwrap();
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Every app's layout under `root`; returns the folders to scan.
#[cfg(unix)]
fn lay_out(root: &Path) -> Vec<ScanFolder> {
    let hex = sha256(&fixture());
    // Hugging Face cache: a snapshot file linking to its blob, named by its sha256.
    let repo = root.join("hf/models--mmnga--tiny-mistral-gguf");
    put(&repo.join("blobs").join(&hex));
    std::fs::create_dir_all(repo.join("snapshots/0123abc")).unwrap();
    std::os::unix::fs::symlink(
        format!("../../blobs/{hex}"),
        repo.join("snapshots/0123abc/tiny-mistral-q8_0.gguf"),
    )
    .unwrap();
    // LM Studio: publisher/repo/file.
    put(&root.join("lmstudio/TheBloke/tiny-GGUF/tiny.Q8_0.gguf"));
    // Ollama: a manifest naming the blob by digest, with its template and params layers.
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:".to_string() + &"0".repeat(64), "size": 10},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.template",
             "digest": "sha256:".to_string() + &"1".repeat(64), "size": 20},
            {"mediaType": "application/vnd.ollama.image.model",
             "digest": format!("sha256:{hex}"),
             "size": std::fs::metadata(fixture()).unwrap().len()},
        ]
    });
    write(
        &root.join("ollama/manifests/registry.ollama.ai/library/jslm/q8_0"),
        &manifest.to_string(),
    );
    put(&root.join(format!("ollama/blobs/sha256-{hex}")));
    // llama.cpp's cache: the flat file and its ETag.
    let flat = root.join("llamacpp/mmnga_tiny-mistral-gguf_tiny-mistral-q8_0.gguf");
    put(&flat);
    write(
        &root.join("llamacpp/mmnga_tiny-mistral-gguf_tiny-mistral-q8_0.gguf.json"),
        &serde_json::json!({
            "url": "https://huggingface.co/mmnga/tiny-mistral-gguf/resolve/main/tiny-mistral-q8_0.gguf",
            "etag": format!("\"{hex}\""),
            "lastModified": "Tue, 24 Oct 2023 00:00:00 GMT"
        })
        .to_string(),
    );
    // A folder the user added, with a tokenizer.json beside the model.
    put(&root.join("mine/models/jslm.gguf"));
    write(&root.join("mine/models/tokenizer.json"), "{}");
    // Not models of ours: a text file named .gguf, a truncated copy.
    write(&root.join("mine/notes.gguf"), "not a model");
    let bytes = std::fs::read(fixture()).unwrap();
    write(&root.join("mine/cut.gguf"), "");
    std::fs::write(root.join("mine/cut.gguf"), &bytes[..bytes.len() / 2]).unwrap();
    // A copy outside every scanned folder.
    put(&root.join("elsewhere/tiny.gguf"));
    [
        (Source::HuggingFace, "hf"),
        (Source::LmStudio, "lmstudio"),
        (Source::Ollama, "ollama"),
        (Source::LlamaCpp, "llamacpp"),
        (Source::Folder, "mine"),
    ]
    .map(|(source, dir)| ScanFolder {
        source,
        path: root.join(dir),
    })
    .into()
}

#[cfg(unix)]
#[test]
fn each_apps_layout_is_found_and_nothing_outside() {
    let dir = tempfile::tempdir().unwrap();
    let folders = lay_out(dir.path());
    let d = discover(&folders, &tiny(), &mut HashStore::in_memory(), false);
    let names: Vec<(Source, &str)> = d
        .found
        .iter()
        .map(|f| (f.source, f.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (
                Source::HuggingFace,
                "mmnga/tiny-mistral-gguf/tiny-mistral-q8_0.gguf"
            ),
            (Source::LmStudio, "TheBloke/tiny-GGUF/tiny.Q8_0.gguf"),
            (Source::Ollama, "jslm:q8_0"),
            (
                Source::LlamaCpp,
                "mmnga/tiny-mistral-gguf/tiny-mistral-q8_0.gguf"
            ),
            (Source::Folder, "models/jslm.gguf"),
        ]
    );
    let hex = sha256(&fixture());
    for f in &d.found {
        assert_eq!(f.precision, Precision::Q8_0);
        assert_eq!(f.size_bytes, std::fs::metadata(fixture()).unwrap().len());
        assert!(f.has_vocabulary);
        assert!(!f.path.starts_with(dir.path().join("elsewhere")));
        let expected = match f.source {
            Source::LmStudio | Source::Folder => Verification::NoHashKnown,
            _ => Verification::NotChecked {
                expected_sha256: hex.clone(),
            },
        };
        assert_eq!(f.verification, expected, "{}", f.name);
    }
    assert_eq!(
        d.found[0].path,
        dir.path()
            .join("hf/models--mmnga--tiny-mistral-gguf/snapshots/0123abc/tiny-mistral-q8_0.gguf")
    );
    assert_eq!(
        d.found[2].path,
        dir.path().join(format!("ollama/blobs/sha256-{hex}"))
    );
    assert_eq!(
        d.found[4].tokenizer_json,
        Some(dir.path().join("mine/models/tokenizer.json"))
    );
    // The two damaged files are named with their reason.
    let skipped: Vec<&Path> = d.skipped.iter().map(|s| s.path.as_path()).collect();
    assert_eq!(
        skipped,
        [
            dir.path().join("mine/cut.gguf"),
            dir.path().join("mine/notes.gguf")
        ]
    );
    // The found files load and run as they are, the Ollama blob included.
    let engine = jslm_engine::Engine::load(&d.found[2].path, &Default::default(), |_| {}).unwrap();
    assert_eq!(engine.tokenizer().path(), d.found[2].path);
}

#[cfg(unix)]
#[test]
fn a_file_named_for_another_model_is_not_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let folders = lay_out(dir.path());
    let mut other = tiny();
    other.name_hints = vec!["stablelm-instruct-gamma".into()];
    let d = discover(&folders, &other, &mut HashStore::in_memory(), false);
    assert!(d.found.is_empty(), "{:?}", d.found);
    assert!(d
        .skipped
        .iter()
        .any(|s| s.reason.contains("nothing names it")));
    let mut bigger = tiny();
    bigger.shape.num_hidden_layers = 32;
    let d = discover(&folders, &bigger, &mut HashStore::in_memory(), false);
    assert!(d.found.is_empty());
    assert!(d
        .skipped
        .iter()
        .any(|s| s.reason.contains("another network")));
}

#[cfg(unix)]
#[test]
fn hashes_are_computed_once_and_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let folders = lay_out(dir.path());
    // A wrong ETag for the llama.cpp copy.
    let json = dir
        .path()
        .join("llamacpp/mmnga_tiny-mistral-gguf_tiny-mistral-q8_0.gguf.json");
    write(
        &json,
        &serde_json::json!({"etag": format!("\"{}\"", "ab".repeat(32))}).to_string(),
    );
    let store_file = dir.path().join("state/hashes.json");
    let mut store = HashStore::open(&store_file);
    let d = discover(&folders, &tiny(), &mut store, true);
    assert_eq!(store.hashed.len(), 3, "{:?}", store.hashed);
    let checked: Vec<(Source, bool)> = d
        .found
        .iter()
        .filter_map(|f| match &f.verification {
            Verification::Checked { matches, .. } => Some((f.source, *matches)),
            _ => None,
        })
        .collect();
    assert_eq!(
        checked,
        [
            (Source::HuggingFace, true),
            (Source::Ollama, true),
            (Source::LlamaCpp, false)
        ]
    );
    store.save().unwrap();

    // Next scan: nothing is hashed again, the answers are the same.
    let mut store = HashStore::open(&store_file);
    let again = discover(&folders, &tiny(), &mut store, true);
    assert!(store.hashed.is_empty(), "{:?}", store.hashed);
    assert_eq!(again.found, d.found);
    // A changed file is hashed again.
    let blob = &d.found[2].path;
    let mut bytes = std::fs::read(blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(blob, &bytes).unwrap();
    let filetime = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(blob)
        .unwrap()
        .set_modified(filetime)
        .unwrap();
    let third = discover(&folders, &tiny(), &mut store, true);
    assert_eq!(store.hashed, std::slice::from_ref(blob));
    assert!(matches!(
        third.found[2].verification,
        Verification::Checked { matches: false, .. }
    ));
}

#[test]
fn default_folders_are_each_apps_own_and_only_those_that_exist() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let hf = h.join(".cache/huggingface/hub");
    for d in [
        ".cache/huggingface/hub",
        ".lmstudio/models",
        ".ollama/models",
        ".cache/llama.cpp",
    ] {
        std::fs::create_dir_all(h.join(d)).unwrap();
    }
    let none = |_: &str| None;
    let folders = default_folders(&none, Some(h), &hf);
    let mut got: Vec<(Source, PathBuf)> = folders.into_iter().map(|f| (f.source, f.path)).collect();
    // The system-wide Ollama folder exists only where Ollama's Linux service is installed.
    got.retain(|(_, p)| p.starts_with(h));
    let mut want = vec![
        (Source::HuggingFace, hf.clone()),
        (Source::LmStudio, h.join(".lmstudio/models")),
        (Source::Ollama, h.join(".ollama/models")),
    ];
    if cfg!(target_os = "linux") {
        want.push((Source::LlamaCpp, h.join(".cache/llama.cpp")));
    }
    assert_eq!(got, want);
    // The apps' own variables move their folders.
    let elsewhere = tempfile::tempdir().unwrap();
    let (ollama, llama) = (elsewhere.path().join("o"), elsewhere.path().join("l"));
    std::fs::create_dir_all(&ollama).unwrap();
    std::fs::create_dir_all(&llama).unwrap();
    let (o, l) = (ollama.clone(), llama.clone());
    let env = move |k: &str| match k {
        "OLLAMA_MODELS" => Some(o.clone()),
        "LLAMA_CACHE" => Some(l.clone()),
        _ => None,
    };
    let folders = default_folders(&env, Some(h), &hf);
    assert!(folders
        .iter()
        .any(|f| f.source == Source::Ollama && f.path == ollama));
    assert!(!folders.iter().any(|f| f.path == h.join(".ollama/models")));
    assert!(folders
        .iter()
        .any(|f| f.source == Source::LlamaCpp && f.path == llama));
}

/// Before: a FIFO named like llama.cpp's ETag file (length 0, so under the size limit) blocked
/// the read, and the scan of every folder with it (`jslm models`, the window's list).
#[cfg(unix)]
#[test]
fn a_fifo_beside_a_model_does_not_block_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("llamacpp");
    put(&root.join("a.gguf"));
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("a.gguf.json"))
        .status()
        .unwrap();
    assert!(made.success());
    let folders = vec![ScanFolder {
        source: Source::LlamaCpp,
        path: root,
    }];
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let d = discover(&folders, &tiny(), &mut HashStore::in_memory(), false);
        let _ = tx.send(d.found.len());
    });
    let found = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the scan returns");
    assert_eq!(found, 1);
}
