//! Regression tests of issue 14: model files crafted as an attacker would. Each one used to
//! crash `jslm` and the app (a segmentation fault in release builds, a panic), or to load and
//! run silently wrong. Now every entry point a front end uses — the header read, the planner's
//! model description, loading and a forward pass, the full `Engine::load` — refuses the file
//! with an `invalid_file` error that names the file and the tensor or key, in debug and
//! release builds alike.
mod common;

use common::gguf_builder::{tiny_llama, Gguf, Meta, Shape, F32, TINY};
use jslm_engine::bench::run_bench;
use jslm_engine::{Engine, EngineError, GgufRunner, LoadOptions, ModelDescription};
use std::path::Path;

/// The tiny shape with the real tokenizer's vocabulary, so that `Engine::load` gets as far as
/// it can (~2.2 MB).
const WITH_VOCAB: Shape = Shape {
    vocab: 32000,
    ..TINY
};

/// `jslm bench` with a prompt of `prompt_tokens`, processed in one forward pass.
fn bench(path: &Path, prompt_tokens: usize) -> Result<(), EngineError> {
    let options = LoadOptions {
        threads: Some(1),
        prefill_chunk_tokens: prompt_tokens,
        gguf_runner: GgufRunner::Mapped,
        ..Default::default()
    };
    run_bench(&ModelDescription::read(path)?, &options, prompt_tokens, 1).map(|_| ())
}

/// Runs every entry point on `path` and returns their results, in order: the header read,
/// the planner, load + forward (`jslm bench` with a prompt of `prompt_tokens`), and
/// `Engine::load` + a generation.
fn every_entry_point(
    path: &Path,
    prompt_tokens: usize,
) -> Vec<(&'static str, Result<(), EngineError>)> {
    let engine = || -> Result<(), EngineError> {
        let options = LoadOptions {
            tokenizer: Some(common::tokenizer_json()),
            gguf_runner: GgufRunner::Mapped,
            ..Default::default()
        };
        let engine = Engine::load(path, &options, |_| {})?;
        let request = jslm_engine::GenerationRequest {
            instruction: "テスト".into(),
            input: String::new(),
            settings: jslm_engine::GenerationSettings::greedy(2),
        };
        engine
            .generate(&request, &jslm_engine::CancelFlag::default(), |_| {})
            .map(|_| ())
    };
    vec![
        (
            "read_gguf_header",
            jslm_engine::model::read_gguf_header(path).map(|_| ()),
        ),
        (
            "model_spec",
            ModelDescription::read(path).map(|d| drop(d.spec())),
        ),
        ("run_bench", bench(path, prompt_tokens)),
        ("Engine::load", engine()),
    ]
}

/// Writes `g` and checks that every entry point refuses it as `invalid_file`, naming the
/// file and `needle`.
fn assert_refused(name: &str, g: &Gguf, needle: &str) {
    assert_refused_with_prompt(name, g, needle, 2)
}

fn assert_refused_with_prompt(name: &str, g: &Gguf, needle: &str, prompt_tokens: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crafted.gguf");
    g.write(&path);
    for (entry, result) in every_entry_point(&path, prompt_tokens) {
        let err = match result {
            Ok(()) => panic!("{name}: {entry} accepted the file"),
            Err(e) => e,
        };
        assert_eq!(err.code(), "invalid_file", "{name}: {entry}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("crafted.gguf") && text.contains(needle),
            "{name}: {entry}: {text}"
        );
    }
}

#[test]
fn the_untouched_tiny_gguf_runs_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crafted.gguf");
    tiny_llama(WITH_VOCAB).write(&path);
    for (entry, result) in every_entry_point(&path, 2) {
        result.unwrap_or_else(|e| panic!("{entry}: {e}"));
    }
}

/// Before: feed-forward matrices of 2^57 + 64 rows of 32 f32 are 2^64 + 8 KiB bytes, which
/// wrapped to the 8 KiB really in the file, so both bounds checks passed. A 128-token prompt
/// then sized its activations `128 × (2^57 + 64)`, which wraps to 8192 floats, and the matrix
/// product wrote 2^57 rows into them: SIGSEGV in release builds (an overflow panic in debug).
#[test]
fn a_feed_forward_size_that_wraps() {
    let rows = (1u64 << 57) + 64;
    let mut g = tiny_llama(WITH_VOCAB);
    for t in &mut g.tensors {
        let gguf_dims = if t.name.contains("ffn_gate") || t.name.contains("ffn_up") {
            vec![32, rows]
        } else if t.name.contains("ffn_down") {
            vec![rows, 32]
        } else {
            continue;
        };
        t.dims = gguf_dims;
        t.type_id = F32;
        t.data = Some(common::gguf_builder::fill(64 * 32 * 4, F32, 9));
    }
    assert_refused_with_prompt("wrapping feed-forward size", &g, "ffn_gate", 128);
}

/// Before: the same wrap in the embedding (2^57 + 32,000 rows): loaded, then the output head's
/// logits were sized 2^57 floats: an allocation failure (abort) in release builds.
#[test]
fn a_tensor_whose_byte_size_wraps() {
    let mut g = tiny_llama(WITH_VOCAB);
    g.tensors.retain(|t| t.name != "output.weight");
    let embd = g.tensor_mut("token_embd.weight");
    embd.type_id = F32;
    embd.data = Some(common::gguf_builder::fill(32000 * 32 * 4, F32, 7));
    embd.dims = vec![32, 32000 + (1 << 57)];
    assert_refused("wrapping size", &g, "token_embd.weight");
}

/// Before: `general.alignment` 0 reached candle's `div_ceil(0)`: a divide-by-zero panic in
/// every build.
#[test]
fn alignment_zero() {
    let mut g = tiny_llama(WITH_VOCAB);
    g.set_meta("general.alignment", Meta::U32(0));
    assert_refused("alignment 0", &g, "general.alignment");
}

/// Before: a key `general.alignment\0` was read by candle as `general.alignment` (it strips
/// NULs): the same panic, through a key our reader would not have recognised.
#[test]
fn a_key_that_candle_reads_differently() {
    let mut g = tiny_llama(WITH_VOCAB);
    g.metadata
        .push(("general.alignment\0".into(), Meta::U32(0)));
    assert_refused("NUL in key", &g, "NUL");
}

/// Before: a feed-forward size of 0 loaded fine and the first forward pass divided by the
/// zero row length: a panic during generation.
#[test]
fn a_zero_sized_dimension() {
    let mut g = tiny_llama(WITH_VOCAB);
    for t in &mut g.tensors {
        if t.name.contains("ffn_gate") || t.name.contains("ffn_up") {
            t.dims = vec![32, 0];
        } else if t.name.contains("ffn_down") {
            t.dims = vec![0, 32];
        }
    }
    assert_refused("zero dimension", &g, "zero-sized dimension");
}

/// Before: an offset of 2^64 − data_start wrapped to byte 0, so `blk.0.attn_q` was read from
/// the header: silent garbage in release builds, an overflow panic in debug.
#[test]
fn an_offset_that_wraps_around() {
    let mut g = tiny_llama(WITH_VOCAB);
    let wrap = 0u64.wrapping_sub(g.data_start());
    g.tensor_mut("blk.0.attn_q.weight").offset = Some(wrap);
    assert_refused("wrapping offset", &g, "blk.0.attn_q.weight");
}

/// Before: a layer count of 1 in a two-layer file loaded one layer and generated from it:
/// silently a different network.
#[test]
fn metadata_that_disagrees_with_the_tensors() {
    let mut g = tiny_llama(WITH_VOCAB);
    g.set_meta("llama.block_count", Meta::U32(1));
    assert_refused("layer count", &g, "blk.1.");
    // The planner took the feed-forward size from the metadata alone: a file could claim 1
    // and dodge the memory check.
    let mut g = tiny_llama(WITH_VOCAB);
    g.set_meta("llama.feed_forward_length", Meta::U32(1));
    assert_refused("feed-forward length", &g, "ffn_gate");
}

/// Before: an alignment of 48 was used as given (llama.cpp refuses it: its padding is a bit
/// mask, so a writer and candle disagree on where the data starts).
#[test]
fn alignment_that_is_not_a_power_of_two() {
    let mut g = tiny_llama(WITH_VOCAB);
    g.set_meta("general.alignment", Meta::U32(48));
    g.layout_alignment = 48;
    assert_refused("alignment 48", &g, "not a power of two");
}

/// Before: candle kept the last of two tensors with one name; llama.cpp refuses the file.
#[test]
fn a_tensor_listed_twice() {
    let mut g = tiny_llama(WITH_VOCAB);
    let mut again = g.tensor_mut("output_norm.weight").clone();
    again.offset = Some(0);
    g.tensors.push(again);
    assert_refused("duplicate", &g, "appears twice");
}

/// Copies the tiny safetensors model and lets `edit` change its config.
fn tiny_safetensors_with(edit: impl FnOnce(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = common::copy_tiny_model();
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
    dir
}

fn assert_folder_refused(name: &str, dir: &Path, needle: &str) {
    let results = vec![
        (
            "model_spec",
            ModelDescription::read(dir).map(|d| drop(d.spec())),
        ),
        ("run_bench", bench(dir, 2)),
        (
            "Engine::load",
            Engine::load(dir, &LoadOptions::default(), |_| {}).map(|_| ()),
        ),
    ];
    for (entry, result) in results {
        let err = match result {
            Ok(()) => panic!("{name}: {entry} accepted the folder"),
            Err(e) => e,
        };
        assert_eq!(err.code(), "invalid_file", "{name}: {entry}: {err}");
        assert!(err.to_string().contains(needle), "{name}: {entry}: {err}");
    }
}

/// Before: `head_dim` 2^40 went straight into candle's RoPE table: "memory allocation of
/// 2199023255552 bytes failed", an abort.
#[test]
fn config_values_are_bounded_before_allocating() {
    let dir = tiny_safetensors_with(|c| c["head_dim"] = (1u64 << 40).into());
    assert_folder_refused("head_dim 2^40", dir.path(), "head_dim");
    // Before: an attention window of 2^64−1 overflowed candle's mask arithmetic: a panic in
    // debug builds, a wrong mask (garbage) in release.
    let dir = tiny_safetensors_with(|c| c["sliding_window"] = u64::MAX.into());
    assert_folder_refused("sliding_window", dir.path(), "sliding_window");
    for (field, value) in [
        ("max_position_embeddings", serde_json::json!(1u64 << 40)),
        ("max_position_embeddings", serde_json::json!(0)),
        ("vocab_size", serde_json::json!(1u64 << 57)),
        ("num_hidden_layers", serde_json::json!(u64::MAX)),
        ("rope_theta", serde_json::json!(-1.0)),
        ("rms_norm_eps", serde_json::json!(0.0)),
    ] {
        let dir = tiny_safetensors_with(|c| c[field] = value.clone());
        assert_folder_refused(field, dir.path(), field);
    }
}

/// Before: `weight_map` entries were joined to the folder as given, so an index could load
/// (and the app hash and list) any file on the computer.
#[test]
fn index_entries_outside_the_folder() {
    let outer = common::copy_tiny_model();
    let model = outer.path().join("model");
    std::fs::create_dir(&model).unwrap();
    for name in ["config.json", "tokenizer.json"] {
        std::fs::copy(outer.path().join(name), model.join(name)).unwrap();
    }
    let index = serde_json::json!({
        "weight_map": { "model.embed_tokens.weight": "../model.safetensors" }
    });
    std::fs::write(
        model.join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    assert_folder_refused("../ in weight_map", &model, "weight_map");
}

/// Before: a file whose weights compute NaN (here every block scale of the output matrix is
/// an f16 NaN) generated token 0 again and again, an empty answer that ended as a success.
/// Now the run fails with a `compute` error that says so.
#[test]
fn weights_that_compute_nan_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.gguf");
    let mut g = tiny_llama(WITH_VOCAB);
    // Q8_0: per 32 values, an f16 scale and 32 signed bytes.
    let blocks = (WITH_VOCAB.vocab * WITH_VOCAB.hidden / 32) as usize;
    let mut block = 0x7E00u16.to_le_bytes().to_vec();
    block.extend([1u8; 32]);
    g.tensor_mut("output.weight").data = Some(block.repeat(blocks));
    g.write(&path);
    let options = LoadOptions {
        tokenizer: Some(common::tokenizer_json()),
        gguf_runner: GgufRunner::Mapped,
        ..Default::default()
    };
    let engine = Engine::load(&path, &options, |_| {}).unwrap();
    for settings in [
        jslm_engine::GenerationSettings::greedy(4),
        jslm_engine::GenerationSettings {
            max_new_tokens: 4,
            seed: Some(1),
            ..Default::default()
        },
    ] {
        let request = jslm_engine::GenerationRequest {
            instruction: "テスト".into(),
            input: String::new(),
            settings,
        };
        let err = engine
            .generate(&request, &jslm_engine::CancelFlag::default(), |_| {})
            .unwrap_err();
        assert_eq!(err.code(), "compute", "{err}");
        assert!(err.to_string().contains("NaN"), "{err}");
    }
}
