//! A GGUF with no `tokenizer.json`: the tokenizer built from its metadata gives the official
//! tokenizer's ids, decode and stream, and the engine generates the same tokens with it.
mod common;

use common::{max_abs_diff, reference, reference_logits};
use jslm_engine::{
    CancelFlag, Engine, GenerationOutput, GenerationRequest, GenerationSettings, JslmTokenizer,
    LoadOptions, PromptTemplate, TokenizerSource,
};
use std::path::PathBuf;

/// The committed GGUFs that carry the vocabulary (neither has a tokenizer.json beside it).
fn ggufs() -> [PathBuf; 2] {
    [
        common::fixtures().join("tiny-mistral-gguf/model-f16.gguf"),
        common::fixtures().join("tiny-mistral-llamacpp/model-q8_0.gguf"),
    ]
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    decoded: String,
}

fn tokenizer_cases() -> Vec<Case> {
    let text =
        std::fs::read_to_string(common::fixtures().join("tokenizer/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_gguf_vocabulary_encodes_decodes_and_streams_like_tokenizer_json() {
    let official = JslmTokenizer::from_file(&common::tokenizer_json()).unwrap();
    let cases = tokenizer_cases();
    assert_eq!(cases.len(), 75);
    for path in ggufs() {
        assert!(!path.with_file_name("tokenizer.json").exists());
        let start = std::time::Instant::now();
        let tok = JslmTokenizer::load(&TokenizerSource::Gguf(path.clone()), 32000).unwrap();
        eprintln!(
            "{}: tokenizer built from the metadata in {:?}",
            path.display(),
            start.elapsed()
        );
        assert_eq!(tok.path(), path);
        assert_eq!(tok.pieces(), official.pieces());
        for c in &cases {
            let ids = tok.encode(&c.text).unwrap();
            assert_eq!(ids, c.ids, "{}: {:?}", path.display(), c.text);
            assert_eq!(tok.decode(&ids).unwrap(), c.decoded, "{:?}", c.text);
            let mut with_eos = ids.clone();
            with_eos.push(2);
            let mut stream = tok.stream_decoder();
            let mut streamed: String = with_eos.iter().map(|&id| stream.push(id)).collect();
            streamed.push_str(&stream.finish());
            assert_eq!(
                streamed,
                official.decode(&with_eos).unwrap(),
                "{:?}",
                c.text
            );
        }
        // The model card's prompts, with and without 入力.
        let reference = reference();
        assert!(reference.cases.iter().any(|c| c.input.is_empty()));
        assert!(reference.cases.iter().any(|c| !c.input.is_empty()));
        for case in &reference.cases {
            let prompt = PromptTemplate.build(&case.instruction, &case.input);
            assert_eq!(
                tok.encode(&prompt).unwrap(),
                case.prompt_ids,
                "{}",
                case.name
            );
        }
    }
}

fn greedy(engine: &Engine, case: &common::Case) -> GenerationOutput {
    let request = GenerationRequest {
        instruction: case.instruction.clone(),
        input: case.input.clone(),
        settings: GenerationSettings::greedy(24),
    };
    engine
        .generate(&request, &CancelFlag::new(), |_| {})
        .expect("generates")
}

/// The same file with and without the official tokenizer.json: the same tokens, text and
/// prompt ids; and the F16 file (exactly the stored weights) reproduces transformers' greedy
/// run of the safetensors model.
#[test]
fn a_gguf_alone_generates_what_it_does_with_the_official_tokenizer() {
    for path in ggufs() {
        let alone = Engine::load(&path, &LoadOptions::default(), |_| {}).unwrap();
        assert_eq!(alone.tokenizer().path(), path);
        let with_json = Engine::load(
            &path,
            &LoadOptions {
                tokenizer: Some(common::tokenizer_json()),
                ..Default::default()
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(with_json.tokenizer().path(), common::tokenizer_json());
        let f16 = path.ends_with("model-f16.gguf");
        for case in &reference().cases {
            let a = greedy(&alone, case);
            let b = greedy(&with_json, case);
            assert_eq!(a.prompt_token_ids, case.prompt_ids, "{}", case.name);
            assert_eq!(
                a.generated_token_ids, b.generated_token_ids,
                "{}",
                case.name
            );
            assert_eq!(a.text, b.text, "{}", case.name);
            if f16 {
                let logits = alone.logits(&case.prompt_ids).unwrap();
                let diff = max_abs_diff(&logits, &reference_logits(&case.name));
                assert!(diff < 0.05, "{}: max |Δlogit| = {diff}", case.name);
                assert_eq!(a.generated_token_ids, case.greedy_ids, "{}", case.name);
                assert_eq!(a.text, case.greedy_text, "{}", case.name);
            }
        }
    }
}

/// A tokenizer.json beside a GGUF is used instead of the file's own vocabulary.
#[test]
fn a_tokenizer_json_beside_the_gguf_wins() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("m.gguf");
    std::fs::copy(&ggufs()[0], &gguf).unwrap();
    std::fs::copy(common::tokenizer_json(), dir.path().join("tokenizer.json")).unwrap();
    let engine = Engine::load(&gguf, &LoadOptions::default(), |_| {}).unwrap();
    assert_eq!(engine.tokenizer().path(), dir.path().join("tokenizer.json"));
}
