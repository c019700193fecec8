//! Generation behaviour on the tiny model: events, sampling reproducibility, cancellation,
//! one generation at a time, context and input errors.
mod common;

use jslm_engine::{
    AnswerStart, CancelFlag, Engine, GenerationEvent, GenerationRequest, GenerationSettings,
    LoadOptions, StopReason,
};
use std::sync::Arc;

fn engine() -> Engine {
    Engine::load(&common::tiny_model(), &LoadOptions::default(), |_| {}).unwrap()
}

fn request(settings: GenerationSettings) -> GenerationRequest {
    GenerationRequest {
        instruction: "日本の有名な山を三つ挙げてください。".into(),
        input: String::new(),
        settings,
    }
}

#[test]
fn events_come_in_order_and_stream_equals_decode() {
    let engine = engine();
    let mut events = Vec::new();
    let settings = GenerationSettings {
        max_new_tokens: 40,
        seed: Some(3),
        ..Default::default()
    };
    let out = engine
        .generate(&request(settings), &CancelFlag::new(), |e| {
            events.push(e.clone())
        })
        .unwrap();
    let GenerationEvent::Started {
        prompt_tokens,
        seed,
    } = &events[0]
    else {
        panic!("{:?}", events[0])
    };
    assert_eq!(*prompt_tokens, out.prompt_token_ids.len());
    assert_eq!(*seed, 3);
    let GenerationEvent::Finished { reason, stats } = events.last().unwrap() else {
        panic!()
    };
    assert_eq!(*reason, out.stop_reason);
    assert_eq!(stats.generated_tokens, out.generated_token_ids.len());
    assert!(stats.ttft_ms > 0.0 && stats.prompt_tokens_per_s > 0.0);
    let mut streamed = String::new();
    let mut ids = Vec::new();
    for e in &events[1..events.len() - 1] {
        let GenerationEvent::Token { id, text } = e else {
            panic!("{e:?}")
        };
        ids.push(*id);
        streamed.push_str(text);
    }
    // One event per token, the real ids (the end of the text rides on the last one).
    assert_eq!(ids, out.generated_token_ids);
    let decoded = engine.tokenizer().decode(&out.generated_token_ids).unwrap();
    assert_eq!(streamed, decoded);
    assert_eq!(out.text, jslm_engine::stream::python_strip(&decoded));
}

#[test]
fn the_stream_is_the_decode_also_around_bad_bytes() {
    // Hot sampling over the whole vocabulary draws byte tokens that do not make UTF-8, and
    // ends inside characters: the streamed text is still exactly `decode`.
    let engine = engine();
    let mut with_replacement = 0;
    for seed in 50..58 {
        let settings = GenerationSettings {
            max_new_tokens: 200,
            seed: Some(seed),
            temperature: 3.0,
            top_k: 0,
            top_p: 1.0,
            ..Default::default()
        };
        let mut streamed = String::new();
        let out = engine
            .generate(&request(settings), &CancelFlag::new(), |e| {
                if let GenerationEvent::Token { text, .. } = e {
                    streamed.push_str(text);
                }
            })
            .unwrap();
        let decoded = engine.tokenizer().decode(&out.generated_token_ids).unwrap();
        assert_eq!(streamed, decoded, "seed {seed}");
        with_replacement += usize::from(decoded.contains('\u{FFFD}'));
    }
    assert!(
        with_replacement >= 1,
        "no run had a bad byte: the test checks nothing"
    );
}

#[test]
fn same_seed_same_text_other_seed_other_text() {
    let engine = engine();
    let run = |seed| {
        let settings = GenerationSettings {
            max_new_tokens: 24,
            seed: Some(seed),
            ..Default::default()
        };
        engine
            .generate(&request(settings), &CancelFlag::new(), |_| {})
            .unwrap()
            .generated_token_ids
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
    // Without a seed one is drawn and reported, and reusing it repeats the run.
    let out = engine
        .generate(
            &request(GenerationSettings {
                max_new_tokens: 24,
                ..Default::default()
            }),
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap();
    assert_eq!(run(out.stats.seed), out.generated_token_ids);
    // Drawn seeds survive JSON in JavaScript (doubles) and jq.
    assert!(out.stats.seed <= jslm_engine::settings::MAX_SEED);
    for _ in 0..64 {
        assert!(jslm_engine::settings::draw_seed() <= jslm_engine::settings::MAX_SEED);
    }
    assert!((0..64).any(|_| jslm_engine::settings::draw_seed() > u64::from(u32::MAX)));
}

#[test]
fn max_new_tokens_and_eos_stop() {
    let engine = engine();
    let out = engine
        .generate(
            &request(GenerationSettings::greedy(5)),
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap();
    if out.generated_token_ids.len() == 5 && *out.generated_token_ids.last().unwrap() != 2 {
        assert_eq!(out.stop_reason, StopReason::MaxTokens);
    } else {
        assert_eq!(out.stop_reason, StopReason::Eos);
        assert_eq!(*out.generated_token_ids.last().unwrap(), 2);
    }
    assert!(out.generated_token_ids.len() <= 5);
}

#[test]
fn cancel_takes_effect_within_one_token() {
    let engine = engine();
    let cancel = CancelFlag::new();
    let mut tokens = 0;
    let settings = GenerationSettings {
        max_new_tokens: 200,
        seed: Some(1),
        ..Default::default()
    };
    let mut streamed = String::new();
    let out = engine
        .generate(&request(settings), &cancel, |e| {
            if let GenerationEvent::Token { text, .. } = e {
                streamed.push_str(text);
                tokens += 1;
                if tokens == 3 {
                    cancel.cancel();
                }
            }
        })
        .unwrap();
    if out.stop_reason != StopReason::Eos {
        assert_eq!(out.stop_reason, StopReason::Cancelled);
        // The third token, or (when it left a byte run open) the next one or up to three
        // more that end the character.
        let ids = &out.generated_token_ids;
        let third_in_a_run = matches!(
            engine.tokenizer().pieces()[ids[2] as usize],
            jslm_engine::stream::Piece::Byte(_)
        );
        if third_in_a_run {
            assert!((4..=6).contains(&ids.len()), "{ids:?}");
        } else {
            assert_eq!(ids.len(), 3, "{ids:?}");
        }
        assert_eq!(streamed, engine.tokenizer().decode(ids).unwrap());
    }
    // Cancelled before the start: no token at all.
    let cancel = CancelFlag::new();
    cancel.cancel();
    let out = engine
        .generate(&request(GenerationSettings::default()), &cancel, |_| {})
        .unwrap();
    assert_eq!(out.stop_reason, StopReason::Cancelled);
    assert!(out.generated_token_ids.is_empty());
}

#[test]
fn second_generation_while_one_runs_is_refused() {
    let engine = Arc::new(engine());
    let cancel = CancelFlag::new();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let worker = {
        let engine = engine.clone();
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            let settings = GenerationSettings {
                max_new_tokens: 100,
                seed: Some(1),
                ..Default::default()
            };
            engine
                .generate(&request(settings), &cancel, |e| {
                    if matches!(e, GenerationEvent::Token { .. }) {
                        let _ = started_tx.send(());
                        // Hold the generation until the main thread has tried its own.
                        let _ = release_rx.recv();
                    }
                })
                .unwrap()
        })
    };
    started_rx.recv().unwrap();
    let err = engine
        .generate(
            &request(GenerationSettings::default()),
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap_err();
    assert_eq!(err.code(), "busy");
    cancel.cancel();
    drop(release_tx);
    let first = worker.join().unwrap();
    assert!(matches!(
        first.stop_reason,
        StopReason::Cancelled | StopReason::Eos
    ));
    // And afterwards the engine is free again.
    engine
        .generate(
            &request(GenerationSettings::greedy(2)),
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap();
}

#[test]
fn bad_requests_are_clear_errors() {
    let engine = engine();
    let cases: Vec<(GenerationRequest, &str, &str)> = vec![
        (
            GenerationRequest {
                instruction: "  \n".into(),
                ..request(GenerationSettings::default())
            },
            "invalid_setting",
            "instruction",
        ),
        (
            request(GenerationSettings {
                top_p: 1.5,
                ..Default::default()
            }),
            "invalid_setting",
            "top_p",
        ),
        (
            request(GenerationSettings {
                temperature: -1.0,
                ..Default::default()
            }),
            "invalid_setting",
            "temperature",
        ),
        (
            request(GenerationSettings {
                max_new_tokens: 0,
                ..Default::default()
            }),
            "invalid_setting",
            "max_new_tokens",
        ),
        (
            request(GenerationSettings {
                max_new_tokens: 4096,
                ..Default::default()
            }),
            "context_overflow",
            "4096",
        ),
    ];
    for (req, code, needle) in cases {
        let mut events = 0;
        let err = engine
            .generate(&req, &CancelFlag::new(), |_| events += 1)
            .unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert!(err.to_string().contains(needle), "{err}");
        assert_eq!(events, 0, "nothing starts on a bad request");
    }
    // The overflow message names both numbers.
    let long = GenerationRequest {
        instruction: "山".repeat(3900),
        input: String::new(),
        settings: GenerationSettings {
            max_new_tokens: 256,
            ..Default::default()
        },
    };
    let Err(err) = engine.generate(&long, &CancelFlag::new(), |_| {}) else {
        panic!("a prompt of ~3,970 tokens + 256 must not fit in 4,096");
    };
    let text = err.to_string();
    assert!(
        text.contains("max_new_tokens is 256") && text.contains("4096"),
        "{text}"
    );
}

#[test]
fn a_raw_prompt_is_run_as_given() {
    let engine = engine();
    let settings = GenerationSettings::greedy(12);
    let card = engine
        .generate(&request(settings.clone()), &CancelFlag::new(), |_| {})
        .unwrap();
    // The card's prompt sent raw runs exactly like the request it came from.
    let raw = engine
        .generate_raw(
            &card.prompt,
            AnswerStart::Card,
            &settings,
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap();
    assert_eq!(raw.prompt_token_ids, card.prompt_token_ids);
    assert_eq!(raw.generated_token_ids, card.generated_token_ids);
    // Any other text is not wrapped in the template.
    let other = engine
        .generate_raw(
            "昔々あるところに",
            AnswerStart::Continuation,
            &settings,
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap();
    assert_eq!(other.prompt, "昔々あるところに");
    assert_eq!(
        other.prompt_token_ids,
        engine.tokenizer().encode("昔々あるところに").unwrap()
    );
    let empty = engine
        .generate_raw(
            "",
            AnswerStart::Continuation,
            &settings,
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap_err();
    assert_eq!(empty.code(), "invalid_setting");
    assert!(empty.to_string().contains("`prompt`"), "{empty}");
    let bad = GenerationSettings {
        top_p: 2.0,
        ..settings
    };
    let err = engine
        .generate_raw(
            "x",
            AnswerStart::Continuation,
            &bad,
            &CancelFlag::new(),
            |_| {},
        )
        .unwrap_err();
    assert!(err.to_string().contains("top_p"), "{err}");
}
