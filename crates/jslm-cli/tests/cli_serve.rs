//! `jslm serve` as users run it: the binary on the tiny model, called with `curl` and with the
//! official `openai` Python client (`serve_openai_client.py`). The Python part is skipped, with
//! the reason printed, only when `import openai` fails (`scripts/test.sh` installs it;
//! `JSLM_TEST_PYTHON` picks the interpreter); the `curl` part when there is no curl.

mod support;

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn python() -> String {
    std::env::var("JSLM_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// A running `jslm serve`, killed when dropped.
struct Serve {
    child: Child,
    url: String,
    /// Its stderr's lines after the one that gave the address.
    stderr: mpsc::Receiver<String>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Waits (at most a minute) for a line of stderr that contains `text`.
    fn wait_for(&self, text: &str) -> String {
        loop {
            match self.stderr.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("no {text:?} on jslm serve's stderr: {e}"),
            }
        }
    }
}

/// `jslm serve` on the tiny model (f32), with `extra` arguments.
fn serve(extra: &[&str]) -> Serve {
    let mut args: Vec<OsString> = ["--precision", "f32", "--model"].map(Into::into).to_vec();
    args.push(fixtures().join("tiny-mistral").into());
    args.extend(extra.iter().map(Into::into));
    serve_with(&args, &[])
}

fn serve_with(args: &[OsString], envs: &[(&str, &str)]) -> Serve {
    let cache = std::env::temp_dir().join(format!("jslm-cli-serve-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_jslm"))
        .env("JSLM_CACHE_DIR", cache)
        .env_remove("JSLM_API_KEY")
        .env_remove("JSLM_LOG")
        .envs(envs.iter().copied())
        .args(["serve", "--port", "0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let url = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("jslm serve ended before serving: {seen:#?}");
        };
        if let Some(at) = line.find(" at http://") {
            let rest = &line[at + 4..];
            break rest.split_whitespace().next().unwrap().to_string();
        }
        seen.push(line);
    };
    // Keep draining stderr so the server never blocks on a full pipe; the lines before the
    // address go first.
    let (send, stderr) = mpsc::channel();
    std::thread::spawn(move || {
        for line in seen.into_iter().chain(lines.map_while(Result::ok)) {
            let _ = send.send(line);
        }
    });
    Serve { child, url, stderr }
}

fn curl(args: &[&str]) -> Option<(String, String)> {
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    Some((body.to_string(), code.to_string()))
}

/// A JSON `body` posted to `url` with curl and `extra` arguments; `None` without curl.
fn post_json(url: &str, body: &str, extra: &[&str]) -> Option<(String, String)> {
    let mut args = vec![url, "-H", "Content-Type: application/json", "-d", body];
    args.extend(extra);
    curl(&args)
}

#[test]
fn curl_streams_and_answers_whole() {
    let server = serve(&[]);
    let chat = format!("{}/chat/completions", server.url);
    let body = r#"{"messages":[{"role":"user","content":"日本の首都は？"}],"max_tokens":8,"temperature":0,"stream":true}"#;
    let Some((text, code)) = post_json(&chat, body, &["-N"]) else {
        eprintln!("SKIPPED: no curl");
        return;
    };
    assert_eq!(code, "200", "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(
        text.contains(r#""object":"chat.completion.chunk""#),
        "{text}"
    );
    let whole = body.replace(r#","stream":true"#, "");
    let (text, code) = post_json(&chat, &whole, &[]).unwrap();
    assert_eq!(code, "200", "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() <= 8);
    // curl's default form content type is refused: browsers cannot send JSON cross-origin
    // without a preflight.
    let (text, code) = curl(&[&chat, "-d", &whole]).unwrap();
    assert_eq!(code, "415", "{text}");
    let (text, code) = curl(&[&format!("{}/models", server.url)]).unwrap();
    assert_eq!(code, "200", "{text}");
    assert!(text.contains(r#""id":"tiny-mistral""#), "{text}");
}

#[test]
fn openai_python_client() {
    let check = Command::new(python())
        .args(["-c", "import openai; print(openai.__version__)"])
        .output();
    match check {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "SKIPPED: `{} -c \"import openai\"` failed: {}",
                python(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED: cannot run {}: {e}", python());
            return;
        }
    }
    let server = serve(&["--max-waiting", "0"]);
    let reference =
        std::fs::read_to_string(fixtures().join("tiny-mistral/reference.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&reference).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/serve_openai_client.py");
    let out = Command::new(python())
        .arg(script)
        .arg(&server.url)
        .arg(reference["cases"][1].to_string())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_non_loopback_address_needs_a_key_before_anything_loads() {
    let out = Command::new(env!("CARGO_BIN_EXE_jslm"))
        .env_remove("JSLM_API_KEY")
        .args([
            "serve",
            "--host",
            "0.0.0.0",
            "--model",
            "/nonexistent/model.gguf",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(46));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--api-key"), "{stderr}");
}

#[test]
fn generate_remote_gives_the_local_answer_through_jslm_serve() {
    let server = serve(&["--api-key", "sk-cli-test"]);
    let reference =
        std::fs::read_to_string(fixtures().join("tiny-mistral/reference.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&reference).unwrap();
    let case = &reference["cases"][0];
    let generate = |key: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jslm"));
        cmd.args([
            "generate",
            "--greedy",
            "--json",
            "--max-new-tokens",
            "24",
            "--remote",
        ])
        .arg(&server.url)
        .arg("--instruction")
        .arg(case["instruction"].as_str().unwrap())
        .arg("--input")
        .arg(case["input"].as_str().unwrap())
        .env_remove("JSLM_REMOTE_API_KEY");
        if let Some(k) = key {
            cmd.env("JSLM_REMOTE_API_KEY", k);
        }
        cmd.output().unwrap()
    };
    let out = generate(Some("sk-cli-test"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["text"], case["greedy_text"]);
    assert_eq!(last["remote"]["model"], "tiny-mistral");
    // No --seed: the client drew the one it sent, and reports it.
    assert!(last["stats"]["seed"].is_u64(), "{last}");
    assert_eq!(
        last["stats"]["generated_tokens"],
        case["greedy_ids"].as_array().unwrap().len()
    );
    let refused = generate(None);
    assert_eq!(
        refused.status.code(),
        Some(49),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!String::from_utf8_lossy(&refused.stderr).contains("sk-cli-test"));
}

#[test]
fn the_first_request_finds_the_card_header_already_cached() {
    let model = fixtures().join("tiny-mistral-llamacpp/model-q8_0.gguf");
    let tokenizer = fixtures().join("tokenizer/tokenizer.json");
    let args: Vec<OsString> = vec![
        "--model".into(),
        model.into(),
        "--tokenizer".into(),
        tokenizer.into(),
    ];
    let server = serve_with(&args, &[("JSLM_LOG", "info")]);
    let line = server.wait_for("prompt cache warmed");
    assert!(line.contains("tokens=68"), "{line}");
    let body = r#"{"messages":[{"role":"user","content":"日本の首都は？"}],"max_tokens":4,"temperature":0}"#;
    let Some((text, code)) = post_json(&format!("{}/chat/completions", server.url), body, &[])
    else {
        eprintln!("SKIPPED: no curl");
        return;
    };
    assert_eq!(code, "200", "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["usage"]["prompt_tokens_details"]["cached_tokens"], 68,
        "{text}"
    );
}

/// Ctrl-C shuts the server down as before, now through the CLI's one Ctrl-C handling: a
/// streaming request in flight ends, the server prints its totals and exits 0.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_server() {
    let mut server = serve(&[]);
    let url = format!("{}/completions", server.url);
    let body = r#"{"prompt":"こんにちは","max_tokens":4000,"temperature":0,"stream":true}"#;
    let client = std::thread::spawn(move || post_json(&url, body, &["-N"]));
    // The request runs once the server has counted it; the tiny model needs ~20 s for 4,000.
    std::thread::sleep(Duration::from_millis(500));
    support::ctrl_c(&server.child);
    let status = support::exit_within(&mut server.child, Duration::from_secs(10), "serve");
    assert_eq!(status.code(), Some(0));
    server.wait_for("stopped:");
    if let Some((text, _)) = client.join().unwrap() {
        assert!(!text.trim_end().ends_with("data: [DONE]"), "{text}");
    }
}

/// `--remote` reports the seed it sent, given or drawn (JSON and text); local-only flags are
/// usage errors.
#[test]
fn generate_remote_reports_the_seed_it_sent_and_refuses_local_flags() {
    let server = serve(&[]);
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_jslm"))
            .args(["generate", "--max-new-tokens", "2", "--instruction", "x"])
            .args(["--remote", &server.url])
            .args(extra)
            .env_remove("JSLM_REMOTE_API_KEY")
            .output()
            .unwrap()
    };
    let out = run(&["--seed", "7", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["stats"]["seed"], 7, "{last}");
    let out = run(&["--seed", "7"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(", seed 7, remote"));
    // Without --seed: the seed drawn for the run, not none and not 0.
    let out = run(&["--json"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(last["stats"]["seed"].is_u64(), "{last}");
    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let drawn = stderr
        .split(", seed ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(out.status.success() && drawn.is_some(), "{stderr}");
    let out = run(&["--precision", "q8_0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}
