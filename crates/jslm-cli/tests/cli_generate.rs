//! `jslm generate` end to end on the tiny fixture model.

mod support;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn jslm() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jslm"));
    let cache = std::env::temp_dir().join(format!("jslm-cli-test-{}", std::process::id()));
    cmd.env("JSLM_CACHE_DIR", cache);
    cmd
}

#[derive(serde::Deserialize)]
struct Case {
    instruction: String,
    input: String,
    prompt_ids: Vec<u32>,
    greedy_ids: Vec<u32>,
    greedy_text: String,
}

fn first_case() -> Case {
    let text = std::fs::read_to_string(fixtures().join("tiny-mistral/reference.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    serde_json::from_value(v["cases"][1].clone()).unwrap()
}

#[test]
fn json_output_matches_transformers_greedy() {
    let case = first_case();
    let out = jslm()
        .args([
            "generate",
            "--greedy",
            "--json",
            "--precision",
            "f32",
            "--max-new-tokens",
            "24",
            "--model",
        ])
        .arg(fixtures().join("tiny-mistral"))
        .arg("--instruction")
        .arg(&case.instruction)
        .arg("--input")
        .arg(&case.input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["event"], "started");
    let last = lines.last().unwrap();
    let ids: Vec<u32> = serde_json::from_value(last["generated_token_ids"].clone()).unwrap();
    let prompt: Vec<u32> = serde_json::from_value(last["prompt_token_ids"].clone()).unwrap();
    assert_eq!(ids, case.greedy_ids);
    assert_eq!(prompt, case.prompt_ids);
    assert_eq!(last["text"], case.greedy_text.as_str());
    assert!(last["stop_reason"].is_string());
    assert!(last["stats"]["decode_tokens_per_s"].is_number());
    let tokens = lines.iter().filter(|l| l["event"] == "token").count();
    assert_eq!(tokens, ids.len());
}

#[test]
fn text_mode_streams_and_instruction_file_works() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("instruction.txt");
    std::fs::write(&f, "俳句を一つ作ってください。").unwrap();
    let out = jslm()
        .args([
            "generate",
            "--seed",
            "5",
            "--max-new-tokens",
            "8",
            "--model",
        ])
        .arg(fixtures().join("tiny-mistral"))
        .arg("--instruction-file")
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("seed 5"), "{stderr}");
}

#[test]
fn bad_settings_exit_with_the_field_named() {
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--top-p", "1.5"], 2, "top_p"),
        (&["--temperature=-1"], 2, "temperature"),
        (&["--max-new-tokens", "0"], 2, "max_new_tokens"),
        (&["--instruction", "   "], 2, "instruction"),
    ];
    for (extra, code, field) in cases {
        let mut cmd = jslm();
        cmd.args(["generate", "--model"])
            .arg(fixtures().join("tiny-mistral"));
        if !extra.contains(&"--instruction") {
            cmd.args(["--instruction", "こんにちは"]);
        }
        let out = cmd.args(*extra).output().unwrap();
        assert_eq!(out.status.code(), Some(*code), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.lines().last().unwrap_or("").contains(field),
            "{stderr}"
        );
    }
    let out = jslm()
        .args([
            "generate",
            "--instruction",
            "x",
            "--model",
            "/nonexistent/model",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/model"));
}

/// Asked for Q4_K_M, the CLI quantizes safetensors in the app (cached), and two processes
/// doing that at once both succeed.
#[test]
fn quantizing_in_the_app_is_cached_and_concurrent_runs_both_succeed() {
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jslm"));
        cmd.env("JSLM_CACHE_DIR", cache.path())
            .args([
                "generate",
                "--seed",
                "1",
                "--max-new-tokens",
                "4",
                "--precision",
                "q4_k_m",
                "--instruction",
                "こんにちは",
                "--model",
            ])
            .arg(fixtures().join("tiny-mistral"));
        cmd.spawn().unwrap()
    };
    let (a, b) = (run(), run());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
    }
    let files: Vec<_> = std::fs::read_dir(cache.path().join("quantized"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(".gguf"), "{files:?}");
}

/// Without a precision the plan decides, and `--json` reports what actually ran — equal to
/// the plan: the tiny model is small, so it runs unquantized (f32, converted from its f16
/// file) on the CPU, with the plan's thread count, and nothing is quantized.
#[test]
fn json_reports_what_ran_and_it_is_the_plan() {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jslm"))
        .env("JSLM_CACHE_DIR", cache.path())
        .args(["generate", "--greedy", "--json", "--max-new-tokens", "3"])
        .args(["--threads", "1", "--instruction", "こんにちは", "--model"])
        .arg(fixtures().join("tiny-mistral"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("plan: cpu") && stderr.contains("F32 (a small model"),
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let run = &last["run"];
    assert_eq!(run["device"]["kind"], "cpu");
    assert_eq!(run["precision"], "f32");
    assert_eq!(run["converted_from"], "f16");
    assert_eq!(run["reason"]["kind"], "small_model");
    assert_eq!(run["threads"], 1);
    assert_eq!(run["context_length"], 4096);
    assert_eq!(run["container"], "safetensors");
    assert!(
        !cache.path().join("quantized").exists(),
        "a small model is not quantized"
    );
}

/// A precision the model's files cannot give is refused with its own exit code, not
/// silently replaced.
#[test]
fn an_impossible_precision_is_refused() {
    let out = jslm()
        .args([
            "generate",
            "--instruction",
            "x",
            "--precision",
            "bf16",
            "--model",
        ])
        .arg(fixtures().join("tiny-mistral-llamacpp/model-q8_0.gguf"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(32), "{stderr}");
    assert!(stderr.contains("precision = bf16 refused"), "{stderr}");
}

/// Blocks on an NVIDIA GPU where there is none: refused with the override exit code and the
/// reason, not run on the CPU behind the user's back; 0 blocks (the CPU only) runs.
#[test]
fn gpu_layers_without_a_gpu_are_refused() {
    if std::path::Path::new("/dev/nvidia0").exists() {
        eprintln!("an NVIDIA GPU is present: nothing to refuse");
        return;
    }
    let model = fixtures().join("tiny-mistral-llamacpp/model-q8_0.gguf");
    let run = |blocks: &str| {
        jslm()
            .args(["generate", "--instruction", "x", "--max-new-tokens", "2"])
            .args(["--gpu-layers", blocks, "--model"])
            .arg(&model)
            .output()
            .unwrap()
    };
    let out = run("1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(32), "{stderr}");
    assert!(stderr.contains("gpu_layers = 1 refused"), "{stderr}");
    let out = run("0");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `jslm generate --json` on the model's GGUF, once with its output as JSON lines parsed.
fn generate_json(
    model: &std::path::Path,
    extra: &[&std::ffi::OsStr],
    case: &Case,
) -> serde_json::Value {
    let out = jslm()
        .args([
            "generate",
            "--greedy",
            "--json",
            "--max-new-tokens",
            "24",
            "--model",
        ])
        .arg(model)
        .args(extra)
        .arg("--instruction")
        .arg(&case.instruction)
        .arg("--input")
        .arg(&case.input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// A user with only a `.gguf` (its vocabulary in the metadata, no tokenizer.json) gets the
/// same tokens as with the official tokenizer — and, for the F16 file, transformers' tokens.
#[test]
fn a_gguf_alone_gives_the_tokens_of_the_official_tokenizer() {
    let case = first_case();
    let gguf = fixtures().join("tiny-mistral-gguf/model-f16.gguf");
    assert!(!gguf.with_file_name("tokenizer.json").exists());
    let alone = generate_json(&gguf, &[], &case);
    let tokenizer = fixtures().join("tokenizer/tokenizer.json");
    let with_json = generate_json(
        &gguf,
        &["--tokenizer".as_ref(), tokenizer.as_os_str()],
        &case,
    );
    for key in ["prompt_token_ids", "generated_token_ids", "text"] {
        assert_eq!(alone[key], with_json[key], "{key}");
    }
    let ids: Vec<u32> = serde_json::from_value(alone["generated_token_ids"].clone()).unwrap();
    let prompt: Vec<u32> = serde_json::from_value(alone["prompt_token_ids"].clone()).unwrap();
    assert_eq!(prompt, case.prompt_ids);
    assert_eq!(ids, case.greedy_ids);
    assert_eq!(alone["text"], case.greedy_text.as_str());
}

/// A GGUF whose vocabulary is not this model's is refused with its own exit code.
#[test]
fn a_gguf_with_another_vocabulary_is_refused() {
    let mut bytes = std::fs::read(fixtures().join("tiny-mistral-gguf/model-f16.gguf")).unwrap();
    let key = b"tokenizer.ggml.bos_token_id";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("bos key")
        + key.len();
    // The value type (u32 = 4), then the value.
    assert_eq!(&bytes[at..at + 4], &4u32.to_le_bytes());
    bytes[at + 4..at + 8].copy_from_slice(&5u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.gguf");
    std::fs::write(&path, bytes).unwrap();
    let out = jslm()
        .args(["generate", "--instruction", "x", "--model"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(38), "{stderr}");
    assert!(
        stderr.contains("bos_token_id") && stderr.contains("hint:"),
        "{stderr}"
    );
}

/// A running `jslm generate --json`'s stdout lines, read on a thread (so that it never blocks
/// on a full pipe), and the line of its first token.
fn stream_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = send.send(line);
        }
    });
    lines
}

/// Ctrl-C stops a running generation within seconds: the partial answer comes out, `--json`'s
/// last line says it was cancelled, and the exit code is 130. (Before, once a runtime had
/// listened for Ctrl-C, SIGINT was swallowed and the generation ran to its end.)
#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_generation_and_exits_130() {
    let mut child = jslm()
        .args(["generate", "--greedy", "--json", "--max-new-tokens", "4000"])
        .args(["--instruction", "こんにちは", "--model"])
        .arg(fixtures().join("tiny-mistral"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stream_lines(&mut child);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains(r#""event":"token""#))
    {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("no token from jslm generate: {e}; {seen:?}"),
        }
    }
    support::ctrl_c(&child);
    let status = support::exit_within(&mut child, Duration::from_secs(5), "generate");
    seen.extend(lines.iter());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let last: serde_json::Value = serde_json::from_str(seen.last().unwrap()).unwrap();
    assert_eq!(last["stop_reason"], "cancelled", "{last}");
    let generated = last["generated_token_ids"].as_array().unwrap().len();
    assert!(generated > 0 && generated < 4000, "{generated} tokens");
    assert!(
        stderr.trim_end().ends_with("error: interrupted (Ctrl-C)"),
        "{stderr}"
    );
}

/// `prompt_token_ids` of a one-token greedy run with `args`.
fn prompt_ids(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = jslm()
        .args(["generate", "--greedy", "--json", "--max-new-tokens", "1"])
        .args(args)
        .arg("--model")
        .arg(fixtures().join("tiny-mistral"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    last["prompt_token_ids"].clone()
}

/// A file gives the prompt its words typed as a flag give, as `$(cat FILE)` would: the
/// trailing newline every editor adds, a BOM and CRLF line ends do not reach the prompt, and
/// an input file of only whitespace is no input.
#[test]
fn instruction_and_input_files_give_the_prompt_the_flags_give() {
    let case = first_case();
    let dir = tempfile::tempdir().unwrap();
    let instruction = dir.path().join("instruction.txt");
    let windows = format!("\u{feff}{}\r\n", case.instruction.replace('\n', "\r\n"));
    std::fs::write(&instruction, windows).unwrap();
    let input = dir.path().join("input.txt");
    std::fs::write(&input, format!("{}\n\n", case.input)).unwrap();
    let blank = dir.path().join("blank.txt");
    std::fs::write(&blank, " \n\t\r\n").unwrap();
    let (i, f) = ("--instruction".as_ref(), "--instruction-file".as_ref());
    let typed = prompt_ids(&[
        i,
        case.instruction.as_ref(),
        "--input".as_ref(),
        case.input.as_ref(),
    ]);
    assert_eq!(typed, serde_json::json!(case.prompt_ids));
    let from_files = prompt_ids(&[
        f,
        instruction.as_os_str(),
        "--input-file".as_ref(),
        input.as_os_str(),
    ]);
    assert_eq!(from_files, typed);
    let no_input = prompt_ids(&[i, case.instruction.as_ref()]);
    let blank_input = prompt_ids(&[
        f,
        instruction.as_os_str(),
        "--input-file".as_ref(),
        blank.as_os_str(),
    ]);
    assert_eq!(blank_input, no_input);
}

/// A flag's file that cannot be read is an `io` error (exit 9) naming the file.
#[test]
fn unreadable_instruction_files_are_io_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9").unwrap();
    let missing = dir.path().join("missing.txt");
    for (flag, file, says, other) in [
        ("--instruction-file", &missing, "missing.txt", "--input"),
        ("--input-file", &latin1, "not UTF-8", "--instruction"),
    ] {
        let out = jslm()
            .args(["generate", other, "x", "--model"])
            .arg(fixtures().join("tiny-mistral"))
            .arg(flag)
            .arg(file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(9), "{flag}: {stderr}");
        let last = stderr.lines().last().unwrap_or("");
        assert!(
            last.contains(&file.display().to_string()) && last.contains(says),
            "{last}"
        );
    }
}

/// A thread count or context the plan does not take is not dropped silently: each refusal is a
/// note on stderr saying why and what runs instead (generate, and bench by the same road).
#[test]
fn refused_threads_and_context_are_noted() {
    let model = fixtures().join("tiny-mistral-llamacpp/model-q8_0.gguf");
    let runs: [&[&str]; 3] = [
        &[
            "generate",
            "--instruction",
            "x",
            "--max-new-tokens",
            "1",
            "--threads",
            "0",
            "--context",
            "0",
        ],
        &[
            "generate",
            "--instruction",
            "x",
            "--max-new-tokens",
            "1",
            "--threads",
            "100000",
        ],
        &[
            "bench",
            "--prompt-tokens",
            "4",
            "--decode-tokens",
            "2",
            "--threads",
            "0",
        ],
    ];
    for args in runs {
        let out = jslm()
            .args(args)
            .arg("--model")
            .arg(&model)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("note: ")).collect();
        let threads = if args.contains(&"100000") {
            "note: threads = 100000 refused: 100000 threads on"
        } else {
            "note: threads = 0 refused: must be at least 1; running with"
        };
        assert!(
            notes.iter().any(|n| n.starts_with(threads)),
            "{args:?}: {stderr}"
        );
        if args.contains(&"--context") {
            assert!(
                notes
                    .iter()
                    .any(|n| n
                        .starts_with("note: context = 0 refused: must be at least 1; reserving")),
                "{stderr}"
            );
        }
    }
}

/// `jslm bench` without `--model` runs each file in a child `jslm`: every load flag reaches
/// it, and its failure comes back as its own exit code and stderr. (The tiny GGUF stands in
/// for the random 7B file, which is only written when missing.)
#[test]
fn bench_children_get_every_load_flag_and_pass_their_failure_back() {
    let work = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("tiny-mistral-llamacpp/model-q8_0.gguf"),
        work.path().join("random-7b-q8_0.gguf"),
    )
    .unwrap();
    let bench = |extra: &[&str]| {
        jslm()
            .args(["bench", "--files", "q8_0", "--prompt-tokens", "4"])
            .args(["--decode-tokens", "2", "--json", "--work-dir"])
            .arg(work.path())
            .args(extra)
            .output()
            .unwrap()
    };
    // --precision picks nothing here (the files do): refused before any file is written.
    let out = bench(&["--precision", "q4_k_m"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--files"), "{stderr}");
    let out = bench(&["--threads", "1", "--context", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("note: context = 0 refused"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["threads"], 1, "{report}");
    if std::path::Path::new("/dev/nvidia0").exists() {
        eprintln!("an NVIDIA GPU is present: --device cuda is not refused");
        return;
    }
    let out = bench(&["--device", "cuda"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(32), "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(last.starts_with("error: device = cuda refused"), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
}

/// `--tokenizer` is read like `--model`: `--tokenizer=~/t.json` (which the shell leaves as it
/// is) expands `~`; a file that is not there is named as the flag's, with no hint to use the
/// flag the user just used.
#[test]
fn tokenizer_paths_expand_home_and_a_missing_one_is_named() {
    let home = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("tokenizer/tokenizer.json"),
        home.path().join("t.json"),
    )
    .unwrap();
    let gguf = fixtures().join("tiny-mistral-gguf/model-f16.gguf");
    let run = |tokenizer: &str| {
        jslm()
            .env("HOME", home.path())
            .args(["generate", "--instruction", "x", "--max-new-tokens", "1"])
            .arg(tokenizer)
            .arg("--model")
            .arg(&gguf)
            .output()
            .unwrap()
    };
    let out = run("--tokenizer=~/t.json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run("--tokenizer=/nonexistent/t.json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap_or(""),
        "error: the --tokenizer file /nonexistent/t.json does not exist"
    );
    assert!(!stderr.contains("hint:"), "{stderr}");
}
