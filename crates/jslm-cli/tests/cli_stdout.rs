//! A reader that stops early (`jslm models | head -1`): every command ends quietly with exit 0
//! and nothing on stderr, where `println!` panicked ("failed printing to stdout: Broken pipe",
//! exit 101).

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `jslm args` with its stdout a pipe whose reader is gone before jslm writes a byte:
/// the write end of `true`'s stdin, after `true` exited.
fn with_stdout_closed(args: &[&str], home: &Path) -> Output {
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let pipe = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    Command::new(env!("CARGO_BIN_EXE_jslm"))
        .args(args)
        .env("HOME", home.join("home"))
        .env("XDG_CACHE_HOME", home.join("home/.cache"))
        .env("HF_HUB_CACHE", home.join("home/.cache/huggingface/hub"))
        .env("JSLM_CACHE_DIR", home.join("jslm-cache"))
        .env_remove("OLLAMA_MODELS")
        .env_remove("LLAMA_CACHE")
        .env_remove("JSLM_MODEL_DIRS")
        .env_remove("HF_HOME")
        .stdout(Stdio::from(pipe))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let home = tempfile::tempdir().unwrap();
    // `bench --prepare-only` prints the random model's path; one already there is not written
    // again (the real one is 4 GB).
    let work = home.path().join("bench");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("random-7b-q8_0.gguf"), b"GGUF").unwrap();
    let work = work.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &["models"],
        &["models", "--json"],
        &["doctor", "--no-probe"],
        &["doctor", "--no-probe", "--json"],
        &[
            "bench",
            "--prepare-only",
            "--files",
            "q8_0",
            "--work-dir",
            work,
        ],
    ];
    for args in commands {
        let out = with_stdout_closed(args, home.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

/// `jslm generate … | head -c 1`: the generation stops at the closed pipe, exit 0; its plan is
/// on stderr, no error.
#[cfg(unix)]
#[test]
fn a_closed_stdout_stops_a_generation_quietly() {
    let home = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-mistral");
    for json in [false, true] {
        let mut args = vec![
            "generate",
            "--instruction",
            "こんにちは",
            "--max-new-tokens",
            "64",
        ];
        if json {
            args.push("--json");
        }
        args.extend(["--model", model.to_str().unwrap()]);
        let out = with_stdout_closed(&args, home.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            !stderr.contains("error") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}
