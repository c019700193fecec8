//! The sampler's logits processing against `transformers`' own processors
//! (fixture written by `scripts/fixtures/make_sampling_reference.py`).
mod common;

use jslm_engine::sampling::{softmax, Sampler};
use jslm_engine::GenerationSettings;

#[derive(serde::Deserialize)]
struct Params {
    temperature: f64,
    top_k: usize,
    top_p: f64,
    repetition_penalty: f64,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    /// `null` = -inf.
    logits: Vec<Option<f32>>,
    previous_ids: Vec<u32>,
    effective_params: Params,
    scores: Vec<Option<f32>>,
    probs: Vec<f32>,
    kept_ids: Vec<usize>,
}

#[derive(serde::Deserialize)]
struct Reference {
    processor_order: Vec<String>,
    cases: Vec<Case>,
}

#[test]
fn processed_scores_and_probabilities_match_transformers() {
    let text = std::fs::read_to_string(common::fixtures().join("sampling_reference.json")).unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    assert_eq!(
        reference.processor_order,
        [
            "RepetitionPenaltyLogitsProcessor",
            "TemperatureLogitsWarper",
            "TopKLogitsWarper",
            "TopPLogitsWarper"
        ]
    );
    assert!(reference.cases.len() >= 20);
    for case in &reference.cases {
        let p = &case.effective_params;
        let settings = GenerationSettings {
            do_sample: true,
            temperature: p.temperature,
            top_k: p.top_k,
            top_p: p.top_p,
            repetition_penalty: p.repetition_penalty,
            ..Default::default()
        };
        let mut scores: Vec<f32> = case
            .logits
            .iter()
            .map(|x| x.unwrap_or(f32::NEG_INFINITY))
            .collect();
        Sampler::new(&settings, 0).process(&mut scores, &case.previous_ids);
        let kept: Vec<usize> = (0..scores.len())
            .filter(|&i| scores[i].is_finite())
            .collect();
        assert_eq!(kept, case.kept_ids, "{}: kept ids", case.name);
        for (i, (ours, theirs)) in scores.iter().zip(&case.scores).enumerate() {
            match theirs {
                None => assert_eq!(*ours, f32::NEG_INFINITY, "{} id {i}", case.name),
                Some(t) => assert!(
                    (ours - t).abs() <= 1e-5 * t.abs().max(1.0),
                    "{} id {i}: {ours} vs {t}",
                    case.name
                ),
            }
        }
        let probs = softmax(&scores);
        for (i, (a, b)) in probs.iter().zip(&case.probs).enumerate() {
            assert!((a - b).abs() < 1e-6, "{} id {i}: p {a} vs {b}", case.name);
        }
    }
}
