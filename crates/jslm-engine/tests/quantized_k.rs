//! Q4_K_M on a model whose rows are multiples of 256 (k-quant blocks), so every matrix really is
//! Q4_K/Q6_K: the quantized network must track the f32 network of the same weights.
mod common;

use candle_core::{DType, Device, Tensor};
use jslm_core::Precision;
use jslm_engine::{Engine, GgufRunner, Isa, KvCacheType, LoadOptions};
use std::collections::HashMap;

fn write_model(dir: &std::path::Path) {
    let (v, h, i, layers, heads, kv) = (32000usize, 256usize, 512usize, 2usize, 4usize, 2usize);
    let hd = h / heads;
    let dev = Device::Cpu;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut seed = 0u64;
    let mut rand = |shape: &[usize], std: f64| {
        seed += 1;
        // A deterministic pseudo-random fill without extra dependencies.
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|k| {
                let x = ((k as u64 + 1)
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(seed.wrapping_mul(1442695040888963407))
                    >> 33) as f64;
                ((x / (1u64 << 31) as f64) * 2.0 - 1.0) as f32 * (std * 3f64.sqrt()) as f32
            })
            .collect();
        Tensor::from_vec(data, shape, &dev).unwrap()
    };
    tensors.insert("model.embed_tokens.weight".into(), rand(&[v, h], 1.0));
    tensors.insert("lm_head.weight".into(), rand(&[v, h], 0.3));
    tensors.insert(
        "model.norm.weight".into(),
        Tensor::ones(h, DType::F32, &dev).unwrap(),
    );
    for l in 0..layers {
        let p = format!("model.layers.{l}");
        tensors.insert(
            format!("{p}.self_attn.q_proj.weight"),
            rand(&[heads * hd, h], 0.15),
        );
        tensors.insert(
            format!("{p}.self_attn.k_proj.weight"),
            rand(&[kv * hd, h], 0.15),
        );
        tensors.insert(
            format!("{p}.self_attn.v_proj.weight"),
            rand(&[kv * hd, h], 0.06),
        );
        tensors.insert(
            format!("{p}.self_attn.o_proj.weight"),
            rand(&[h, heads * hd], 0.06),
        );
        tensors.insert(format!("{p}.mlp.gate_proj.weight"), rand(&[i, h], 0.06));
        tensors.insert(format!("{p}.mlp.up_proj.weight"), rand(&[i, h], 0.06));
        tensors.insert(format!("{p}.mlp.down_proj.weight"), rand(&[h, i], 0.06));
        tensors.insert(
            format!("{p}.input_layernorm.weight"),
            Tensor::ones(h, DType::F32, &dev).unwrap(),
        );
        tensors.insert(
            format!("{p}.post_attention_layernorm.weight"),
            Tensor::ones(h, DType::F32, &dev).unwrap(),
        );
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let config = serde_json::json!({
        "architectures": ["MistralForCausalLM"], "model_type": "mistral",
        "vocab_size": v, "hidden_size": h, "intermediate_size": i, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv, "hidden_act": "silu",
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "sliding_window": 4096, "tie_word_embeddings": false
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(common::tokenizer_json(), dir.join("tokenizer.json")).unwrap();
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn q4_k_m_and_q8_0_track_f32() {
    // Before any load, and this binary's only test: candle reads it once.
    std::env::set_var("MISTRALRS_FORCE_AVX2", "1");
    let model = tempfile::tempdir().unwrap();
    write_model(model.path());
    let f32_engine = Engine::load(model.path(), &LoadOptions::default(), |_| {}).unwrap();
    let ids = f32_engine
        .tokenizer()
        .encode("日本語の文章を要約してください。東京は日本の首都です。")
        .unwrap();
    let reference = f32_engine.logits(&ids).unwrap();
    for (q, min_cos) in [(Precision::Q8_0, 0.9999), (Precision::Q4KM, 0.998)] {
        let cache = tempfile::tempdir().unwrap();
        let engine = Engine::load(
            model.path(),
            &LoadOptions {
                precision: Some(q),
                quantized_dir: Some(cache.path().into()),
                ..Default::default()
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(engine.info().precision, q);
        let logits = engine.logits(&ids).unwrap();
        let c = cosine(&logits, &reference);
        eprintln!("{}: cosine to f32 logits {c:.5}", q.as_str());
        assert!(c > min_cos, "{}: cosine {c}", q.as_str());

        // The same file through candle's quantized llama with its AVX2 kernels (the test sets
        // MISTRALRS_FORCE_AVX2 so that candle does not pick its VNNI path, which quantizes
        // activations differently) and an f32 KV cache, as ours with `KvCacheType::F32` on
        // every instruction set this CPU runs: the two must agree to rounding, far more
        // closely than either agrees with f32. The ~20-token prompt runs the tiled prefill
        // kernels, one token at a time the row kernels.
        let load = |isa: Option<Isa>, kv: KvCacheType, runner: GgufRunner, chunk: usize| {
            Engine::load(
                model.path(),
                &LoadOptions {
                    precision: Some(q),
                    quantized_dir: Some(cache.path().into()),
                    gguf_runner: runner,
                    isa,
                    kv_cache: kv,
                    prefill_chunk_tokens: chunk,
                    ..Default::default()
                },
                |_| {},
            )
            .unwrap()
            .logits(&ids)
            .unwrap()
        };
        let chunk = LoadOptions::default().prefill_chunk_tokens;
        let theirs = load(None, KvCacheType::F32, GgufRunner::Candle, chunk);
        let scale = theirs.iter().fold(0f32, |a, v| a.max(v.abs()));
        let worst = |a: &[f32], b: &[f32]| {
            a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
        };
        for isa in Isa::available() {
            let label = format!("{} {isa}", q.as_str());
            let exact = load(Some(isa), KvCacheType::F32, GgufRunner::Mapped, chunk);
            eprintln!(
                "{label}: max |Δ| / max |logit|: mapped-candle {:.2e}, mapped-f32 {:.2e}, candle-f32 {:.2e}",
                worst(&exact, &theirs),
                worst(&exact, &reference),
                worst(&theirs, &reference)
            );
            assert!(worst(&exact, &theirs) < 1e-5, "{label}: runners differ");
            assert!(cosine(&exact, &reference) > min_cos, "{label}: cosine");

            // Token-by-token (the decode path, one position per pass) equals the whole prompt.
            let stepwise = load(Some(isa), KvCacheType::F32, GgufRunner::Mapped, 1);
            assert!(worst(&exact, &stepwise) < 1e-4, "{label}: stepwise differs");

            // The f16 cache (the default) stays within the same fidelity to f32, and adds less
            // than half the error the weights' quantization makes.
            let half = load(Some(isa), KvCacheType::F16, GgufRunner::Mapped, chunk);
            let c = cosine(&half, &reference);
            eprintln!(
                "{label}: f16 KV cache: cosine to f32 {c:.5}, max |Δ| / max |logit| to the f32 cache {:.2e}",
                worst(&half, &exact)
            );
            assert!(c > min_cos, "{label}: f16 cache cosine {c}");
            assert!(
                worst(&half, &exact) < 0.5 * worst(&exact, &reference),
                "{label}: f16 cache"
            );
        }
    }
}
