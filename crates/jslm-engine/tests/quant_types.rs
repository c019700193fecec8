//! Every quantization the community GGUFs of this model use (TheBloke's and mmnga's: Q2_K,
//! Q3_K_S/M/L, Q4_0, Q4_K_S/M, Q5_0, Q5_K_S/M, Q6_K, Q8_0, plus F16, BF16 and F32 files) loads
//! on the memory-mapped CPU runner, is described with its real type and size, and generates;
//! its logits are checked against a reference made with candle (the reference implementation
//! of these block formats): the same file dequantized by candle into f32 weights. The mapped
//! runner must stay as close to that reference as candle's own quantized llama does on the same
//! file (both quantize activations for their dot products, which is all that may differ).
//!
//! Each file is written here the way llama.cpp's `llama-quantize` lays out that mix (which
//! tensors get more bits: `llama_tensor_get_type`), on a model whose rows are multiples of 256
//! so that k-quant blocks really are used.
mod common;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use jslm_core::Precision;
use jslm_engine::{
    CancelFlag, Engine, GenerationRequest, GenerationSettings, GgufRunner, KvCacheType,
    LoadOptions, ModelDescription,
};
use std::path::{Path, PathBuf};

const VOCAB: usize = 32000;
const HIDDEN: usize = 256;
const FFN: usize = 512;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;

/// The main type of a file and the type llama.cpp gives each tensor in it (for a model of
/// [`LAYERS`] layers; `use_more_bits` picks the first and last eighth and every third layer).
fn tensor_type(file: Precision, name: &str) -> GgmlDType {
    use GgmlDType as T;
    let layer: Option<usize> = name
        .strip_prefix("blk.")
        .and_then(|r| r.split('.').next())
        .and_then(|l| l.parse().ok());
    let more_bits = layer.is_some_and(|l| {
        let eighth = LAYERS / 8;
        l < eighth || l >= 7 * LAYERS / 8 || (l - eighth) % 3 == 2
    });
    let is = |part: &str| name.contains(part);
    let base = match file {
        Precision::F32 => return T::F32,
        Precision::F16 => return T::F16,
        Precision::Bf16 => return T::BF16,
        Precision::Q8_0 => return T::Q8_0,
        Precision::Q2K => T::Q2K,
        Precision::Q3KS | Precision::Q3KM | Precision::Q3KL => T::Q3K,
        Precision::Q4_0 => T::Q4_0,
        Precision::Q4KS | Precision::Q4KM => T::Q4K,
        Precision::Q5_0 => T::Q5_0,
        Precision::Q5KS | Precision::Q5KM => T::Q5K,
        Precision::Q6K => T::Q6K,
    };
    if name == "output.weight" {
        return T::Q6K;
    }
    if is("attn_v") {
        return match file {
            Precision::Q2K => T::Q4K,
            Precision::Q3KM if layer < Some(2) => T::Q5K,
            Precision::Q3KM => T::Q4K,
            Precision::Q3KL => T::Q5K,
            Precision::Q4KM | Precision::Q5KM if more_bits => T::Q6K,
            Precision::Q4KS if layer < Some(4) => T::Q5K,
            _ => base,
        };
    }
    if is("ffn_down") {
        return match file {
            Precision::Q3KM if layer < Some(2) => T::Q5K,
            Precision::Q3KM if more_bits => T::Q4K,
            Precision::Q3KL => T::Q5K,
            Precision::Q4KM | Precision::Q5KM if more_bits => T::Q6K,
            _ => base,
        };
    }
    if is("attn_output") {
        return match file {
            Precision::Q2K => T::Q3K,
            Precision::Q3KM => T::Q4K,
            Precision::Q3KL => T::Q5K,
            _ => base,
        };
    }
    base
}

/// A deterministic pseudo-random fill in [-std·√3, std·√3).
fn values(n: usize, seed: u64, std: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0) * std * 3f32.sqrt()
        })
        .collect()
}

/// The tensors of the test network, GGUF names, outermost dimension first.
fn tensors() -> Vec<(String, Vec<usize>, f32)> {
    let head_dim = HIDDEN / HEADS;
    let mut t = vec![
        ("token_embd.weight".to_string(), vec![VOCAB, HIDDEN], 1.0),
        ("output_norm.weight".to_string(), vec![HIDDEN], 0.0),
        ("output.weight".to_string(), vec![VOCAB, HIDDEN], 0.3),
    ];
    for l in 0..LAYERS {
        for (part, shape, std) in [
            ("attn_norm", vec![HIDDEN], 0.0),
            ("attn_q", vec![HIDDEN, HIDDEN], 0.15),
            ("attn_k", vec![KV_HEADS * head_dim, HIDDEN], 0.15),
            ("attn_v", vec![KV_HEADS * head_dim, HIDDEN], 0.06),
            ("attn_output", vec![HIDDEN, HIDDEN], 0.06),
            ("ffn_norm", vec![HIDDEN], 0.0),
            ("ffn_gate", vec![FFN, HIDDEN], 0.06),
            ("ffn_up", vec![FFN, HIDDEN], 0.06),
            ("ffn_down", vec![HIDDEN, FFN], 0.06),
        ] {
            t.push((format!("blk.{l}.{part}.weight"), shape, std));
        }
    }
    t
}

/// Writes the network as a `file`-type GGUF into `dir`, as a community file would be named,
/// and beside it the same weights dequantized by candle into an F32 GGUF.
fn write_gguf(dir: &Path, file: Precision) -> (PathBuf, PathBuf) {
    use gguf_file::Value as V;
    let mut qtensors: Vec<(String, QTensor)> = Vec::new();
    for (i, (name, shape, std)) in tensors().into_iter().enumerate() {
        let n: usize = shape.iter().product();
        let data = if std == 0.0 {
            vec![1.0f32; n]
        } else {
            values(n, i as u64 + 1, std)
        };
        let t = Tensor::from_vec(data, shape.as_slice(), &Device::Cpu).unwrap();
        let dtype = if shape.len() == 1 {
            GgmlDType::F32
        } else {
            tensor_type(file, &name)
        };
        qtensors.push((name, QTensor::quantize(&t, dtype).unwrap()));
    }
    let metadata: Vec<(&str, V)> = vec![
        ("general.architecture", V::String("llama".into())),
        ("general.name", V::String("quant-types".into())),
        ("general.file_type", V::U32(file.gguf_file_type())),
        ("llama.context_length", V::U32(4096)),
        ("llama.embedding_length", V::U32(HIDDEN as u32)),
        ("llama.block_count", V::U32(LAYERS as u32)),
        ("llama.feed_forward_length", V::U32(FFN as u32)),
        (
            "llama.rope.dimension_count",
            V::U32((HIDDEN / HEADS) as u32),
        ),
        ("llama.attention.head_count", V::U32(HEADS as u32)),
        ("llama.attention.head_count_kv", V::U32(KV_HEADS as u32)),
        ("llama.attention.layer_norm_rms_epsilon", V::F32(1e-5)),
        ("llama.rope.freq_base", V::F32(10000.0)),
    ];
    let write = |path: &Path, metadata: &[(&str, V)], tensors: &[(String, QTensor)]| {
        let mut f = std::fs::File::create(path).unwrap();
        let md: Vec<(&str, &V)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
        gguf_file::write(&mut f, &md, &ts).unwrap();
    };
    let path = dir.join(format!(
        "japanese-stablelm-instruct-gamma-7b.{}.gguf",
        file.label()
    ));
    write(&path, &metadata, &qtensors);
    let dequantized: Vec<(String, QTensor)> = qtensors
        .iter()
        .map(|(name, q)| {
            let t = q.dequantize(&Device::Cpu).unwrap();
            (name.clone(), QTensor::quantize(&t, GgmlDType::F32).unwrap())
        })
        .collect();
    let mut metadata = metadata;
    metadata[2] = ("general.file_type", V::U32(Precision::F32.gguf_file_type()));
    let reference = dir.join("dequantized.gguf");
    write(&reference, &metadata, &dequantized);
    (path, reference)
}

/// Largest absolute difference.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn load(path: &Path, runner: GgufRunner) -> Engine {
    Engine::load(
        path,
        &LoadOptions {
            tokenizer: Some(common::tokenizer_json()),
            gguf_runner: runner,
            ..Default::default()
        },
        |_| {},
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A prompt run partly from the positions cached by earlier prompts gives the logits of a
/// fresh cache bit for bit: after the same prompt, after another prompt with the same start,
/// after the same prompt with another end, and with decoded tokens in the cache. With the x86
/// prompt tiles a reused pass has at least 8 tokens and decoded positions are not reused
/// (decode's kernels round differently from a prompt pass's, which an f32 cache shows);
/// without them (ARM, `JSLM_ISA=generic`) any pass is reused, decoded ones too.
fn check_prefix_reuse(ours: &Engine, path: &Path, text: &str, file: Precision) {
    let tiles = cfg!(target_arch = "x86_64")
        && jslm_engine::isa::Isa::resolve(None).unwrap() != jslm_engine::isa::Isa::Generic;
    let min_pass = if tiles { 8 } else { 1 };
    // Also with an f32 cache, and prompts in passes of 16 tokens: the cache keeps the last
    // pass's logits, not the first's.
    let f32_cache = Engine::load(
        path,
        &LoadOptions {
            tokenizer: Some(common::tokenizer_json()),
            kv_cache: KvCacheType::F32,
            prefill_chunk_tokens: 16,
            ..Default::default()
        },
        |_| {},
    )
    .unwrap();
    for (engine, cache) in [(ours, "f16 cache"), (&f32_cache, "f32 cache")] {
        let label = format!("{} with an {cache}", file.label());
        let encode = |text: &str| engine.tokenizer().encode(text).unwrap();
        let (ids, other) = (
            encode(text),
            encode("日本語の文章を要約してください。大阪は日本の大きな町です。"),
        );
        let common = ids.iter().zip(&other).take_while(|(a, b)| a == b).count();
        assert!(
            common > 4 && ids.len() > common + 8,
            "{common} of {}",
            ids.len()
        );
        // The prompt with its last two tokens changed.
        let mut edited = ids.clone();
        let n = ids.len();
        for id in &mut edited[n - 2..] {
            *id = (*id + 1) % VOCAB as u32;
        }
        let fresh_edited = engine.logits(&edited).unwrap();
        let fresh = engine.logits(&ids).unwrap();
        // The same prompt again: no pass, the logits kept from the last.
        let (got, reused) = engine.logits_reusing(&ids).unwrap();
        assert_eq!(reused, n, "{label}: again");
        assert!(got == fresh, "{label}: again");
        engine.logits(&other).unwrap();
        let (got, reused) = engine.logits_reusing(&ids).unwrap();
        assert_eq!(reused, common, "{label}: after another");
        assert!(got == fresh, "{label}: after another prompt");
        // Its end edited: with the tiles a last pass of 8 tokens (one of 2 would take the
        // row kernels), else the 2 changed tokens.
        let (got, reused) = engine.logits_reusing(&edited).unwrap();
        assert_eq!(reused, n - min_pass.max(2), "{label}: edited");
        assert!(got == fresh_edited, "{label}: edited");
        // Decode three tokens after the prompt, then ask for the prompt, them and more.
        let out = engine
            .generate_raw(
                text,
                jslm_engine::AnswerStart::Continuation,
                &GenerationSettings::greedy(3),
                &CancelFlag::new(),
                |_| {},
            )
            .unwrap();
        assert_eq!(out.prompt_token_ids, ids);
        let mut longer = ids.clone();
        longer.extend(&out.generated_token_ids);
        longer.extend(&other[common..]);
        let (got, reused) = engine.logits_reusing(&longer).unwrap();
        // Decoded: all but the last generated token (sampled, never run).
        let decoded = out.generated_token_ids.len() - 1;
        let expected = if tiles { n } else { n + decoded };
        assert_eq!(reused, expected, "{label}: after decoding");
        assert!(
            got == engine.logits(&longer).unwrap(),
            "{label}: after decoding"
        );
    }
}

#[test]
fn every_community_quantization_loads_runs_and_matches_candle() {
    // candle's VNNI path quantizes activations differently from the AVX2 kernels the mapped
    // runner calls (see quantized_k.rs); set before any load, in this binary's only test.
    std::env::set_var("MISTRALRS_FORCE_AVX2", "1");
    let dir = tempfile::tempdir().unwrap();
    let files = [
        Precision::Q2K,
        Precision::Q3KS,
        Precision::Q3KM,
        Precision::Q3KL,
        Precision::Q4_0,
        Precision::Q4KS,
        Precision::Q4KM,
        Precision::Q5_0,
        Precision::Q5KS,
        Precision::Q5KM,
        Precision::Q6K,
        Precision::Q8_0,
        Precision::F16,
        Precision::Bf16,
        Precision::F32,
    ];
    let mut types_seen = std::collections::BTreeSet::new();
    let mut far = Vec::new();
    for file in files {
        let (path, reference) = write_gguf(dir.path(), file);
        let header = jslm_engine::gguf_header::read_gguf(&path).unwrap();
        for t in &header.tensors {
            types_seen.insert(format!("{:?}", t.dtype));
        }
        // The plan's view: the file's own type and exact size.
        let description = ModelDescription::read(&path).unwrap();
        assert_eq!(description.stored, file, "{}", path.display());
        assert_eq!(
            description.size_bytes,
            std::fs::metadata(&path).unwrap().len()
        );
        let spec = description.spec();
        assert_eq!(spec.files[0].precision, file);
        assert_eq!(spec.files[0].size_bytes, description.size_bytes);

        let ours = load(&path, GgufRunner::Mapped);
        assert_eq!(ours.info().precision, file);
        let text = "日本語の文章を要約してください。東京は日本の首都です。";
        let ids = ours.tokenizer().encode(text).unwrap();
        let logits = ours.logits(&ids).unwrap();
        let theirs = load(&path, GgufRunner::Candle).logits(&ids).unwrap();
        let exact = load(&reference, GgufRunner::Mapped).logits(&ids).unwrap();
        let scale = exact.iter().fold(0f32, |a, v| a.max(v.abs()));
        let (ours_off, candle_off) = (max_diff(&logits, &exact), max_diff(&theirs, &exact));
        eprintln!(
            "{}: {} bytes; max |Δlogit| from the dequantized weights: mapped {ours_off:.2e}, \
             candle {candle_off:.2e} (scale {scale:.2})",
            file.label(),
            description.size_bytes
        );
        // A wrong kernel or block layout is off by the logits' own scale; activation
        // quantization by a few percent of it (measured: both runners 1.5–4.5 % on the k- and
        // legacy quants; on F16/BF16 files candle multiplies in f32 while the mapped runner,
        // like llama.cpp's CPU backend, rounds activations to the weights' type: 0.1 % / 0.9 %).
        if ours_off > 2.0 * candle_off + 0.015 * scale {
            far.push(format!(
                "{}: mapped {ours_off}, candle {candle_off} (scale {scale})",
                file.label()
            ));
        }
        check_prefix_reuse(&ours, &path, text, file);
        // And it generates.
        let out = ours
            .generate(
                &GenerationRequest {
                    instruction: "要約してください。".into(),
                    input: String::new(),
                    settings: GenerationSettings::greedy(4),
                },
                &CancelFlag::new(),
                |_| {},
            )
            .unwrap();
        assert!(!out.generated_token_ids.is_empty(), "{}", file.label());
        std::fs::remove_file(&path).unwrap();
    }
    assert!(
        far.is_empty(),
        "farther from the reference than candle: {far:?}"
    );
    let expected = [
        "Q2K", "Q3K", "Q4_0", "Q4K", "Q5_0", "Q5K", "Q6K", "Q8_0", "F16", "BF16", "F32",
    ];
    for t in expected {
        assert!(
            types_seen.contains(t),
            "no tensor of type {t}: {types_seen:?}"
        );
    }
}
