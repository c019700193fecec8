//! A random-weight GGUF written by the engine loads and benchmarks (shape-generic path that
//! `jslm bench` uses for the 7B).

use jslm_core::{Container, Precision};
use jslm_engine::bench::run_bench;
use jslm_engine::synthetic::write_random_gguf;
use jslm_engine::{LoadOptions, ModelDescription};

fn small_config() -> jslm_engine::MistralConfig {
    let mut c = jslm_engine::synthetic::mistral_7b_config();
    c.vocab_size = 1000;
    c.hidden_size = 256;
    c.intermediate_size = 512;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c
}

#[test]
fn random_gguf_loads_and_benchmarks() {
    let dir = tempfile::tempdir().unwrap();
    for q in [Precision::Q4KM, Precision::Q8_0] {
        let path = dir.path().join(format!("r-{}.gguf", q.as_str()));
        let mut last = 0;
        write_random_gguf(&path, &small_config(), q, 1, |p| last = p.tensors_done).unwrap();
        assert_eq!(last, 1 + 2 * 9 + 2);
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".partial")
            })
            .count();
        assert_eq!(leftovers, 0, "no partial file left behind");
        let description = ModelDescription::read(&path).unwrap();
        let options = LoadOptions {
            threads: Some(2),
            prefill_chunk_tokens: 5,
            ..Default::default()
        };
        let report = run_bench(&description, &options, 16, 4).unwrap();
        assert_eq!(report.container, Container::Gguf);
        assert_eq!(report.threads, 2);
        assert_eq!(report.runner, "mapped");
        assert_eq!(report.prompt_tokens, 16);
        assert_eq!(
            report.prefill_chunk_tokens, 5,
            "the prompt ran in the options' passes"
        );
        assert!(report.prompt_tokens_per_s > 0.0 && report.decode_tokens_per_s > 0.0);
        assert!(report.file_bytes > 0);
        assert_eq!(report.precision, q);
    }
}
