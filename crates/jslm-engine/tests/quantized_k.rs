//! Q4_K_M on a model whose rows are multiples of 256 (k-quant blocks), so every matrix really is
//! Q4_K/Q6_K: the quantized network must track the f32 network of the same weights.
mod common;

use candle_core::{DType, Device, Tensor};
use jslm_core::Precision;
use jslm_engine::{Engine, GgufRunner, LoadOptions};
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

        // The same file through candle's quantized llama with its AVX2 kernels (the ones the
        // mapped runner calls; the test sets MISTRALRS_FORCE_AVX2 so that candle does not pick
        // its VNNI path, which quantizes activations differently): the two must agree to
        // rounding, far more closely than either agrees with f32.
        let candle = Engine::load(
            model.path(),
            &LoadOptions {
                precision: Some(q),
                quantized_dir: Some(cache.path().into()),
                gguf_runner: GgufRunner::Candle,
                ..Default::default()
            },
            |_| {},
        )
        .unwrap();
        let theirs = candle.logits(&ids).unwrap();
        let scale = theirs.iter().fold(0f32, |a, v| a.max(v.abs()));
        let worst = logits
            .iter()
            .zip(&theirs)
            .fold(0f32, |a, (x, y)| a.max((x - y).abs()));
        let rel = |a: &[f32]| {
            a.iter()
                .zip(&reference)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
                / scale
        };
        eprintln!(
            "{}: max |Δ| / max |logit|: mapped-candle {:.2e}, mapped-f32 {:.2e}, candle-f32 {:.2e}",
            q.as_str(),
            worst / scale,
            rel(&logits),
            rel(&theirs)
        );
        assert!(
            worst / scale < 1e-5,
            "{}: runners differ by {worst}",
            q.as_str()
        );

        // Token-by-token (the decode path, one position per pass) equals the whole prompt.
        let stepwise = Engine::load(
            model.path(),
            &LoadOptions {
                precision: Some(q),
                quantized_dir: Some(cache.path().into()),
                prefill_chunk_tokens: 1,
                ..Default::default()
            },
            |_| {},
        )
        .unwrap()
        .logits(&ids)
        .unwrap();
        let worst = logits
            .iter()
            .zip(&stepwise)
            .fold(0f32, |a, (x, y)| a.max((x - y).abs()));
        assert!(
            worst / scale < 1e-4,
            "{}: stepwise differs by {worst}",
            q.as_str()
        );
    }
}
