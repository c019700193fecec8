//! Mutation fuzzing of both weight formats (issue 14): a tiny valid GGUF and a tiny valid
//! safetensors folder are damaged in every way an attacker would try first — truncation, bit
//! flips, and every numeric header field set to 0, 1, 2^32, 2^57, 2^63 and 2^64−1 — and fed
//! to every entry point a front end uses: our GGUF reader and shape check, the header read the
//! loaders use, the planner's model description, and load plus two forward passes
//! (`run_bench`, with our memory-mapped runner and, for files it ran, candle's). Each must return (`Ok` or a typed error): no signal, no panic, no hang.
//!
//! Deterministic: a fixed seed, the exhaustive field × value pass first, then random
//! mutations until the time budget (`JSLM_FUZZ_SECONDS`, default 10; CI runs it for longer
//! with the engine built without overflow checks or debug assertions, as release builds are:
//! see scripts/test.sh). A case that runs longer than [`CASE_LIMIT`] aborts the process,
//! naming it. `JSLM_FUZZ_VERBOSE=1` prints every case before it runs (to find one that dies
//! by a signal); `JSLM_FUZZ_SEED=n` explores other random mutations. Both tests run in
//! parallel, each for half the budget.
mod common;

use common::gguf_builder::{tiny_llama, TINY};
use jslm_engine::bench::run_bench;
use jslm_engine::{GgufRunner, LoadOptions, ModelDescription};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SEED: u64 = 0x1414;
/// One case never takes this long: loading and running the tiny models takes milliseconds.
const CASE_LIMIT: Duration = Duration::from_secs(60);
/// The values every numeric field is set to.
const WIDE: [u64; 6] = [0, 1, 1 << 32, 1 << 57, 1 << 63, u64::MAX];
const NARROW: [u32; 5] = [0, 1, 1 << 31, u32::MAX, 3];

/// `JSLM_FUZZ_SEED` explores other random mutations (the exhaustive pass stays the same).
fn seed() -> u64 {
    std::env::var("JSLM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED)
}

fn budget() -> Duration {
    let secs = std::env::var("JSLM_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(10.0);
    Duration::from_secs_f64(secs)
}

fn verbose() -> bool {
    std::env::var_os("JSLM_FUZZ_VERBOSE").is_some()
}

/// Aborts the process if the current case runs longer than [`CASE_LIMIT`].
struct Watchdog {
    started_ms: Arc<AtomicU64>,
    case: Arc<Mutex<String>>,
    epoch: Instant,
}

impl Watchdog {
    fn start() -> Self {
        let started_ms = Arc::new(AtomicU64::new(u64::MAX));
        let case = Arc::new(Mutex::new(String::new()));
        let epoch = Instant::now();
        let (s, c) = (started_ms.clone(), case.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let start = s.load(Ordering::Relaxed);
            let now = epoch.elapsed().as_millis() as u64;
            if start != u64::MAX && now.saturating_sub(start) > CASE_LIMIT.as_millis() as u64 {
                let case = c.lock().map(|c| c.clone()).unwrap_or_default();
                eprintln!("fuzz: HANG: case `{case}` ran longer than {CASE_LIMIT:?}");
                std::process::abort();
            }
        });
        Self {
            started_ms,
            case,
            epoch,
        }
    }

    /// Runs `f` as the case `name`; a panic is returned as an error message.
    fn run(&self, name: &str, f: impl FnOnce()) -> Result<(), String> {
        if verbose() {
            eprintln!("fuzz: {name}");
        }
        if let Ok(mut c) = self.case.lock() {
            *c = name.to_string();
        }
        self.started_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        self.started_ms.store(u64::MAX, Ordering::Relaxed);
        result.map_err(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("case `{name}` panicked: {msg}")
        })
    }
}

/// `jslm bench` on `path`: describe, load with `gguf_runner`, a 2-token prompt and one step.
fn bench(path: &Path, gguf_runner: GgufRunner) -> Result<(), jslm_engine::EngineError> {
    let options = LoadOptions {
        threads: Some(1),
        prefill_chunk_tokens: 2,
        gguf_runner,
        ..Default::default()
    };
    run_bench(&ModelDescription::read(path)?, &options, 2, 1).map(|_| ())
}

/// Every entry point, on a GGUF file or a folder. Errors are fine; they must be typed.
fn exercise(path: &Path, gguf: bool) -> (usize, usize) {
    let mut ok = 0;
    let mut refused = 0;
    let mut count = |r: Result<(), jslm_engine::EngineError>| match r {
        Ok(()) => ok += 1,
        Err(e) => {
            let _typed = e.code();
            refused += 1;
        }
    };
    if gguf {
        count(
            jslm_engine::gguf_header::read_gguf(path)
                .and_then(|h| jslm_engine::gguf_header::check_llama_shapes(&h))
                .map(|_| ()),
        );
        count(jslm_engine::model::read_gguf_header(path).map(|_| ()));
    }
    count(ModelDescription::read(path).map(|d| drop(d.spec())));
    let mapped = bench(path, GgufRunner::Mapped);
    let ran = mapped.is_ok();
    count(mapped);
    if gguf && ran {
        // candle's quantized llama (GPUs, `jslm bench --runner candle`) on the same accepted file.
        count(bench(path, GgufRunner::Candle));
    }
    (ok, refused)
}

/// Applies one random mutation to `bytes` (whose structure ends at `header_end`), returning a
/// name for it.
fn mutate(
    rng: &mut ChaCha8Rng,
    bytes: &mut Vec<u8>,
    header_end: usize,
    fields: &[usize],
) -> String {
    let in_header = |rng: &mut ChaCha8Rng, len: usize| {
        if rng.random_bool(0.8) {
            rng.random_range(0..header_end.min(len).max(1))
        } else {
            rng.random_range(0..len.max(1))
        }
    };
    match rng.random_range(0..5) {
        0 => {
            let at = in_header(rng, bytes.len());
            bytes.truncate(at);
            format!("truncate at {at}")
        }
        1 => {
            let n = rng.random_range(1..=4);
            let mut names = Vec::new();
            for _ in 0..n {
                let at = in_header(rng, bytes.len());
                let bit = rng.random_range(0..8);
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << bit;
                }
                names.push(format!("{at}.{bit}"));
            }
            format!("flip {}", names.join(","))
        }
        2 if !fields.is_empty() => {
            let at = fields[rng.random_range(0..fields.len())];
            let v = WIDE[rng.random_range(0..WIDE.len())];
            let width = if rng.random_bool(0.5) { 8 } else { 4 };
            put(bytes, at, v, width);
            format!("field at {at} = {v:#x} ({width} bytes)")
        }
        3 => {
            // Any 4- or 8-byte position in the header.
            let at = in_header(rng, bytes.len());
            let v = if rng.random_bool(0.5) {
                WIDE[rng.random_range(0..WIDE.len())]
            } else {
                u64::from(NARROW[rng.random_range(0..NARROW.len())])
            };
            put(bytes, at, v, 8);
            format!("bytes at {at} = {v:#x}")
        }
        _ => {
            // A random byte run overwritten.
            let at = in_header(rng, bytes.len());
            let len = rng.random_range(1..16);
            for i in at..(at + len).min(bytes.len()) {
                bytes[i] = rng.random();
            }
            format!("scramble {len} bytes at {at}")
        }
    }
}

fn put(bytes: &mut [u8], at: usize, v: u64, width: usize) {
    for (i, byte) in v.to_le_bytes().into_iter().take(width).enumerate() {
        if let Some(b) = bytes.get_mut(at + i) {
            *b = byte;
        }
    }
}

#[test]
fn mutated_gguf_files_never_crash_or_hang() {
    let watchdog = Watchdog::start();
    let deadline = Instant::now() + budget() / 2;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    let g = tiny_llama(TINY);
    let (base, fields) = g.to_bytes();
    let header_end = g.data_start() as usize;
    let mut failures = Vec::new();
    let (mut cases, mut loaded) = (0usize, 0usize);
    // One case: write, exercise; counts how many ran to the end, collects panics.
    let mut run = |name: String, bytes: &[u8], failures: &mut Vec<String>| {
        std::fs::write(&path, bytes).unwrap();
        cases += 1;
        let mut all_ok = false;
        match watchdog.run(&name, || all_ok = exercise(&path, true).0 == 5) {
            Ok(()) => loaded += usize::from(all_ok),
            Err(e) => failures.push(e),
        }
        all_ok
    };
    assert!(
        run("untouched".into(), &base, &mut failures),
        "the untouched file runs: {failures:?}"
    );

    // Exhaustive: every numeric field of the header, every value (at its own width).
    for f in &fields {
        let values: Vec<u64> = if f.width == 4 {
            NARROW.iter().map(|&v| v.into()).collect()
        } else {
            WIDE.to_vec()
        };
        for v in values {
            let mut bytes = base.clone();
            put(&mut bytes, f.at, v, f.width);
            run(format!("{} = {v:#x}", f.what), &bytes, &mut failures);
        }
    }
    // Truncation at every 7th byte of the header and a few points in the data.
    for at in (0..header_end)
        .step_by(7)
        .chain([header_end + 1, base.len() / 2, base.len() - 1])
    {
        run(format!("truncate at {at}"), &base[..at], &mut failures);
    }

    let field_offsets: Vec<usize> = fields.iter().map(|f| f.at).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    let mut i = 0u64;
    while Instant::now() < deadline && failures.len() < 20 {
        let mut bytes = base.clone();
        let mut names = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            names.push(mutate(&mut rng, &mut bytes, header_end, &field_offsets));
        }
        run(
            format!("random #{i}: {}", names.join("; ")),
            &bytes,
            &mut failures,
        );
        i += 1;
    }
    let exhaustive = cases - i as usize;
    eprintln!(
        "fuzz gguf: {cases} cases ({exhaustive} exhaustive, {i} random, seed {:#x}), \
         {loaded} ran to the end; overflow checks {}",
        seed(),
        if cfg!(debug_assertions) { "on" } else { "off" }
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The tiny Mistral as a safetensors folder (config.json + model.safetensors, f32), written
/// here: hidden 32, 4 heads of 8, 2 KV heads, ffn 64, 2 layers, vocabulary 64.
fn write_tiny_safetensors(dir: &Path) {
    let (v, h, kv, f, layers) = (64usize, 32usize, 16usize, 64usize, 2usize);
    let mut tensors: Vec<(String, Vec<usize>)> = vec![
        ("model.embed_tokens.weight".into(), vec![v, h]),
        ("model.norm.weight".into(), vec![h]),
        ("lm_head.weight".into(), vec![v, h]),
    ];
    for i in 0..layers {
        let p = |s: &str| format!("model.layers.{i}.{s}.weight");
        tensors.extend([
            (p("input_layernorm"), vec![h]),
            (p("post_attention_layernorm"), vec![h]),
            (p("self_attn.q_proj"), vec![h, h]),
            (p("self_attn.k_proj"), vec![kv, h]),
            (p("self_attn.v_proj"), vec![kv, h]),
            (p("self_attn.o_proj"), vec![h, h]),
            (p("mlp.gate_proj"), vec![f, h]),
            (p("mlp.up_proj"), vec![f, h]),
            (p("mlp.down_proj"), vec![h, f]),
        ]);
    }
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .enumerate()
        .map(|(n, (name, shape))| {
            let count: usize = shape.iter().product();
            let bytes =
                common::gguf_builder::fill(count * 4, common::gguf_builder::F32, n as u64 + 1);
            (name, shape, bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
        .iter()
        .map(|(name, shape, bytes)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
    let config = serde_json::json!({
        "architectures": ["MistralForCausalLM"],
        "model_type": "mistral",
        "hidden_act": "silu",
        "hidden_size": h,
        "intermediate_size": f,
        "max_position_embeddings": 256,
        "num_attention_heads": 4,
        "num_hidden_layers": layers,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "sliding_window": 256,
        "vocab_size": v,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

#[test]
fn mutated_safetensors_folders_never_crash_or_hang() {
    let watchdog = Watchdog::start();
    let deadline = Instant::now() + budget() / 2;
    let base_dir = tempfile::tempdir().unwrap();
    write_tiny_safetensors(base_dir.path());
    let base_weights = std::fs::read(base_dir.path().join("model.safetensors")).unwrap();
    let base_config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base_dir.path().join("config.json")).unwrap())
            .unwrap();
    let header_len = u64::from_le_bytes(base_weights[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(&base_weights[8..8 + header_len]).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let (mut cases, mut loaded) = (0usize, 0usize);
    let mut run = |name: String,
                   weights: &[u8],
                   config: &serde_json::Value,
                   index: Option<&serde_json::Value>,
                   failures: &mut Vec<String>|
     -> bool {
        let d = dir.path();
        std::fs::write(d.join("model.safetensors"), weights).unwrap();
        std::fs::write(d.join("config.json"), config.to_string()).unwrap();
        let index_path = d.join("model.safetensors.index.json");
        match index {
            Some(i) => std::fs::write(&index_path, i.to_string()).unwrap(),
            None => {
                let _ = std::fs::remove_file(&index_path);
            }
        }
        cases += 1;
        let mut all_ok = false;
        match watchdog.run(&name, || all_ok = exercise(d, false).0 == 2) {
            Ok(()) => loaded += usize::from(all_ok),
            Err(e) => failures.push(e),
        }
        all_ok
    };
    assert!(
        run(
            "untouched".into(),
            &base_weights,
            &base_config,
            None,
            &mut failures
        ),
        "the untouched folder runs: {failures:?}"
    );

    let json_values: Vec<serde_json::Value> = WIDE
        .iter()
        .map(|&v| serde_json::json!(v))
        .chain([
            serde_json::json!(-1),
            serde_json::json!(1e308),
            serde_json::json!("1"),
        ])
        .collect();
    // Every config field, every value.
    let keys: Vec<String> = base_config
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .chain(["head_dim".to_string()])
        .collect();
    for key in &keys {
        for v in &json_values {
            let mut config = base_config.clone();
            config[key.as_str()] = v.clone();
            run(
                format!("config {key} = {v}"),
                &base_weights,
                &config,
                None,
                &mut failures,
            );
        }
    }
    // Every tensor's shape and offsets, every value; the header's length prefix.
    let rewrite = |header: &serde_json::Value| -> Vec<u8> {
        let text = header.to_string();
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(&base_weights[8 + header_len..]);
        out
    };
    let names: Vec<String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    for name in names.iter().step_by(3) {
        for v in WIDE {
            for (field, index) in [("shape", 0), ("data_offsets", 0), ("data_offsets", 1)] {
                let mut h = header.clone();
                h[name.as_str()][field][index] = serde_json::json!(v);
                run(
                    format!("{name}.{field}[{index}] = {v:#x}"),
                    &rewrite(&h),
                    &base_config,
                    None,
                    &mut failures,
                );
            }
        }
        for dtype in ["F16", "BF16", "I64", "U8", "F8_E4M3", "BOOL", "XX"] {
            let mut h = header.clone();
            h[name.as_str()]["dtype"] = serde_json::json!(dtype);
            run(
                format!("{name}.dtype = {dtype}"),
                &rewrite(&h),
                &base_config,
                None,
                &mut failures,
            );
        }
    }
    for v in WIDE {
        let mut weights = base_weights.clone();
        put(&mut weights, 0, v, 8);
        run(
            format!("header length = {v:#x}"),
            &weights,
            &base_config,
            None,
            &mut failures,
        );
    }
    // Index files naming shards inside and outside the folder.
    for shard in [
        "model.safetensors",
        "../model.safetensors",
        "/etc/passwd",
        "",
        ".",
        "C:model.safetensors",
        "model.safetensors:x",
        "sub/model.safetensors",
    ] {
        let index = serde_json::json!({ "weight_map": { "model.norm.weight": shard } });
        run(
            format!("index -> {shard:?}"),
            &base_weights,
            &base_config,
            Some(&index),
            &mut failures,
        );
    }

    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    let header_end = 8 + header_len;
    let mut i = 0u64;
    while Instant::now() < deadline && failures.len() < 20 {
        let mut weights = base_weights.clone();
        let mut names = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            names.push(mutate(&mut rng, &mut weights, header_end, &[0]));
        }
        run(
            format!("random #{i}: {}", names.join("; ")),
            &weights,
            &base_config,
            None,
            &mut failures,
        );
        i += 1;
    }
    let exhaustive = cases - i as usize;
    eprintln!(
        "fuzz safetensors: {cases} cases ({exhaustive} exhaustive, {i} random, seed {:#x}), \
         {loaded} ran to the end; overflow checks {}",
        seed(),
        if cfg!(debug_assertions) { "on" } else { "off" }
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
