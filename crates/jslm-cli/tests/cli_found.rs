//! `jslm models` finds copies of the model other apps keep — in fake LM Studio, Ollama and
//! user folders built here under a fake home — and nothing outside the folders it was given.
//! The files are 7B-shaped GGUF headers followed by a sparse (unwritten) data section, so they
//! take no disk space.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A GGUF v3 header for Japanese StableLM Instruct Gamma 7B in Q8_0 (no vocabulary), then the
/// data section's length as a hole. Returns the file's length.
fn write_7b_gguf(path: &Path) -> u64 {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    const Q8_0: u32 = 8;
    const F32: u32 = 0;
    let (hidden, ffn, layers, kv, vocab) = (4096u64, 14336u64, 32, 1024u64, 32000u64);
    let mut tensors: Vec<(String, Vec<u64>, u32)> = vec![
        ("token_embd.weight".into(), vec![hidden, vocab], Q8_0),
        ("output_norm.weight".into(), vec![hidden], F32),
        ("output.weight".into(), vec![hidden, vocab], Q8_0),
    ];
    for l in 0..layers {
        for (part, dims, t) in [
            ("attn_norm", vec![hidden], F32),
            ("attn_q", vec![hidden, hidden], Q8_0),
            ("attn_k", vec![hidden, kv], Q8_0),
            ("attn_v", vec![hidden, kv], Q8_0),
            ("attn_output", vec![hidden, hidden], Q8_0),
            ("ffn_norm", vec![hidden], F32),
            ("ffn_gate", vec![hidden, ffn], Q8_0),
            ("ffn_up", vec![hidden, ffn], Q8_0),
            ("ffn_down", vec![ffn, hidden], Q8_0),
        ] {
            tensors.push((format!("blk.{l}.{part}.weight"), dims, t));
        }
    }
    let metadata: Vec<(&str, Result<u32, &str>)> = vec![
        ("general.architecture", Err("llama")),
        (
            "general.name",
            Err("stabilityai_japanese-stablelm-instruct-gamma-7b"),
        ),
        ("general.file_type", Ok(7)),
        ("llama.block_count", Ok(layers)),
        ("llama.embedding_length", Ok(hidden as u32)),
        ("llama.feed_forward_length", Ok(ffn as u32)),
        ("llama.attention.head_count", Ok(32)),
        ("llama.attention.head_count_kv", Ok(8)),
        ("llama.context_length", Ok(32768)),
        ("llama.rope.dimension_count", Ok(128)),
    ];
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, value) in &metadata {
        string(&mut out, key);
        match value {
            Ok(n) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&n.to_le_bytes());
            }
            Err(s) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                string(&mut out, s);
            }
        }
    }
    let mut offset = 0u64;
    for (name, dims, t) in &tensors {
        string(&mut out, name);
        out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        let elems: u64 = dims.iter().product();
        let bytes = if *t == Q8_0 {
            elems / 32 * 34
        } else {
            elems * 4
        };
        offset = (offset + bytes).next_multiple_of(32);
    }
    let data_start = (out.len() as u64).next_multiple_of(32);
    let len = data_start + offset;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    use std::io::Write;
    (&f).write_all(&out).unwrap();
    f.set_len(len).unwrap();
    len
}

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn jslm(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_jslm"))
            .args(args)
            .env("HOME", self.path("home"))
            .env("XDG_CACHE_HOME", self.path("home/.cache"))
            .env("HF_HUB_CACHE", self.path("home/.cache/huggingface/hub"))
            .env("JSLM_CACHE_DIR", self.path("jslm-cache"))
            .env_remove("OLLAMA_MODELS")
            .env_remove("LLAMA_CACHE")
            .env_remove("JSLM_MODEL_DIRS")
            .env_remove("HF_HOME")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args.contains(&"--json") {
            serde_json::from_slice(&out.stdout).unwrap()
        } else {
            serde_json::Value::String(String::from_utf8(out.stdout).unwrap())
        }
    }
}

/// (source, name, path) of each found copy under the fake home's folder.
fn found(json: &serde_json::Value, root: &Path) -> Vec<(String, String, PathBuf)> {
    json["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["source"].as_str().unwrap().to_string(),
                f["name"].as_str().unwrap().to_string(),
                PathBuf::from(f["path"].as_str().unwrap()),
            )
        })
        .filter(|(_, _, p)| p.starts_with(root))
        .collect()
}

#[test]
fn models_lists_the_copies_other_apps_keep_and_nothing_outside() {
    let home = Home {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir_all(home.path("home/.cache/huggingface/hub")).unwrap();
    let lms = home.path(
        "home/.lmstudio/models/TheBloke/japanese-stablelm-instruct-gamma-7B-GGUF/\
         japanese-stablelm-instruct-gamma-7b.Q8_0.gguf",
    );
    let len = write_7b_gguf(&lms);
    // Ollama: the blob is named by a digest the manifest gives (not checked without --verify).
    let digest = "ab".repeat(32);
    let blob = home.path(&format!("home/.ollama/models/blobs/sha256-{digest}"));
    write_7b_gguf(&blob);
    let manifest = serde_json::json!({"schemaVersion": 2, "layers": [
        {"mediaType": "application/vnd.ollama.image.model", "digest": format!("sha256:{digest}"),
         "size": len}]});
    let m = home.path(
        "home/.ollama/models/manifests/hf.co/mmnga/japanese-stablelm-instruct-gamma-7b-gguf/Q8_0",
    );
    std::fs::create_dir_all(m.parent().unwrap()).unwrap();
    std::fs::write(&m, manifest.to_string()).unwrap();
    // A folder the user names, and a copy nobody named.
    write_7b_gguf(&home.path("mine/jslm/model.gguf"));
    write_7b_gguf(&home.path("elsewhere/japanese-stablelm-instruct-gamma-7b.Q8_0.gguf"));

    let mine = home.path("mine");
    let json = home.jslm(&["models", "--json", "--scan", mine.to_str().unwrap()]);
    let root = home.dir.path();
    assert_eq!(
        found(&json, root),
        [
            (
                "lm_studio".to_string(),
                "TheBloke/japanese-stablelm-instruct-gamma-7B-GGUF/\
                 japanese-stablelm-instruct-gamma-7b.Q8_0.gguf"
                    .to_string(),
                lms.clone()
            ),
            (
                "ollama".to_string(),
                "hf.co/mmnga/japanese-stablelm-instruct-gamma-7b-gguf:Q8_0".to_string(),
                blob.clone()
            ),
            (
                "folder".to_string(),
                "jslm/model.gguf".to_string(),
                home.path("mine/jslm/model.gguf")
            ),
        ]
    );
    let first = &json["found"][0];
    assert_eq!(first["precision"], "q8_0");
    assert_eq!(first["size_bytes"], len);
    assert_eq!(first["has_vocabulary"], false);
    assert_eq!(first["verification"]["state"], "no_hash_known");
    assert_eq!(json["found"][1]["verification"]["state"], "not_checked");
    let text = json.to_string();
    assert!(!text.contains("elsewhere"), "looked outside: {text}");

    // Only the named folder.
    let json = home.jslm(&[
        "models",
        "--json",
        "--no-default-folders",
        "--scan",
        mine.to_str().unwrap(),
    ]);
    assert_eq!(found(&json, root).len(), 1);
    assert_eq!(json["scanned"].as_array().unwrap().len(), 1);

    // The table says where each copy is and how to use it.
    let text = home.jslm(&["models", "--scan", mine.to_str().unwrap()]);
    let text = text.as_str().unwrap();
    assert!(text.contains("Found on disk"), "{text}");
    assert!(text.contains(&lms.display().to_string()), "{text}");
    assert!(text.contains("LM Studio"), "{text}");
}
