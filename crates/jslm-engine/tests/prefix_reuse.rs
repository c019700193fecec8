//! A prompt that starts like the last one runs only from where it differs, and gives the same
//! logits, bit for bit, as from position 0 (so a seed still repeats a run): on the tiny
//! llama.cpp-converted Q8_0 GGUF in the CPU runner. With the x86 prompt tiles decoded tokens
//! are not reused; without them (ARM, `JSLM_ISA=generic`) they are.
mod common;

use jslm_engine::{
    CancelFlag, Engine, GenerationOutput, GenerationRequest, GenerationSettings, LoadOptions,
};

fn engine() -> Engine {
    let path = common::fixtures().join("tiny-mistral-llamacpp/model-q8_0.gguf");
    let options = LoadOptions {
        tokenizer: Some(common::tokenizer_json()),
        ..Default::default()
    };
    Engine::load(&path, &options, |_| {}).unwrap()
}

fn request(instruction: &str, input: &str) -> GenerationRequest {
    GenerationRequest {
        instruction: instruction.into(),
        input: input.into(),
        settings: GenerationSettings {
            max_new_tokens: 12,
            seed: Some(5),
            ..Default::default()
        },
    }
}

fn generate(engine: &Engine, request: &GenerationRequest) -> GenerationOutput {
    engine
        .generate(request, &CancelFlag::new(), |_| {})
        .unwrap()
}

/// Whether the engine runs prompts through the tiles (x86 with AVX2 or better, unless
/// `JSLM_ISA=generic`): then decoded positions are not reused.
fn tiles() -> bool {
    cfg!(target_arch = "x86_64")
        && jslm_engine::isa::Isa::resolve(None).unwrap() != jslm_engine::isa::Isa::Generic
}

#[test]
fn a_prompt_reuses_the_cached_start_and_matches_a_fresh_cache_bit_for_bit() {
    let reference = engine();
    let engine = engine();
    let a = request(
        "与えられたことわざの意味を小学生でも分かるように教えてください。",
        "情けは人のためならず",
    );
    let b = request("日本の首都はどこですか？", "");
    let (ids_a, ids_b) = (
        engine.prepare_prompt(&a).unwrap().1,
        engine.prepare_prompt(&b).unwrap().1,
    );
    let header = ids_a.iter().zip(&ids_b).take_while(|(x, y)| x == y).count();
    assert!(header > 8, "the card's system sentence starts both prompts");

    let first_a = generate(&engine, &a);
    assert_eq!(first_a.stats.reused_prompt_tokens, 0, "an empty cache");
    // The same prompt again (regenerate): all of it, and the same text.
    let again = generate(&engine, &a);
    // Without the tiles the cache also holds the decoded tokens: the prompt's last token runs.
    let regenerated = if tiles() {
        ids_a.len()
    } else {
        ids_a.len() - 1
    };
    assert_eq!(again.stats.reused_prompt_tokens, regenerated);
    assert_eq!(again.generated_token_ids, first_a.generated_token_ids);
    // Another instruction: the card's system sentence and first heading.
    let out_b = generate(&engine, &b);
    assert_eq!(out_b.stats.reused_prompt_tokens, header);

    // The logits themselves against a fresh cache: A after B, A after A, then A's prompt,
    // the tokens A generated and more. The generated tokens were decoded one per pass, so
    // only A's prompt positions are reused.
    let fresh_a = reference.logits(&ids_a).unwrap();
    let (got, reused) = engine.logits_reusing(&ids_a).unwrap();
    assert_eq!(reused, header);
    assert_eq!(got, fresh_a, "A after B");
    generate(&engine, &a);
    let (got, reused) = engine.logits_reusing(&ids_a).unwrap();
    assert_eq!(reused, regenerated);
    assert_eq!(got, fresh_a, "A after A");
    let mut c = ids_a.clone();
    c.extend(&first_a.generated_token_ids);
    c.extend(&ids_b[header..]);
    let (got, reused) = engine.logits_reusing(&c).unwrap();
    assert_eq!(reused, ids_a.len());
    assert_eq!(got, reference.logits(&c).unwrap(), "A, its answer, more");

    // `logits` starts from an empty cache, and leaves its prompt for the next one.
    engine.logits(&ids_b).unwrap();
    let out = generate(&engine, &b);
    assert_eq!(out.stats.reused_prompt_tokens, ids_b.len());
    assert_eq!(out.generated_token_ids, out_b.generated_token_ids);
}

#[test]
fn the_warm_up_caches_the_card_header_and_changes_no_token() {
    let reference = engine();
    let engine = engine();
    let a = request("日本の首都はどこですか？", "");
    let b = request("Translate: ありがとう", "文脈");
    let (ids_a, ids_b) = (
        engine.prepare_prompt(&a).unwrap().1,
        engine.prepare_prompt(&b).unwrap().1,
    );
    let header = ids_a.iter().zip(&ids_b).take_while(|(x, y)| x == y).count();
    assert_eq!(header, 68, "the system sentence and `### 指示: \\n`");

    assert_eq!(
        engine.warm_prompt_cache(&CancelFlag::new()).unwrap(),
        header
    );
    let (got, reused) = engine.logits_reusing(&ids_a).unwrap();
    assert_eq!(reused, header, "the first prompt after the warm-up");
    assert_eq!(got, reference.logits(&ids_a).unwrap());

    // A cache that holds a prompt is left alone: regenerating it stays free.
    assert_eq!(engine.warm_prompt_cache(&CancelFlag::new()).unwrap(), 0);
    let out = generate(&engine, &b);
    assert_eq!(out.stats.reused_prompt_tokens, header);
    assert_eq!(
        out.generated_token_ids,
        generate(&self::engine(), &b).generated_token_ids,
        "as from an empty cache"
    );
}

#[test]
fn a_prompt_run_ahead_is_found_whole_by_its_generation() {
    let engine = engine();
    let a = request(
        "与えられたことわざの意味を小学生でも分かるように教えてください。",
        "情けは人のためならず",
    );
    let ids = engine.prepare_prompt(&a).unwrap().1;
    let stopped = CancelFlag::new();
    stopped.cancel();
    assert_eq!(
        engine.prefill_prompt_ahead(&a, &stopped).unwrap(),
        0,
        "stopped before its first pass"
    );
    assert_eq!(
        engine.prefill_prompt_ahead(&a, &CancelFlag::new()).unwrap(),
        ids.len()
    );
    let out = generate(&engine, &a);
    assert_eq!(out.stats.reused_prompt_tokens, ids.len(), "no pass at all");
    assert_eq!(
        out.generated_token_ids,
        generate(&self::engine(), &a).generated_token_ids,
        "as from an empty cache"
    );

    // The user writes on: the part before the edit stays, and the prompt is whole again.
    let edited = request(&format!("{}短く。", a.instruction), &a.input);
    let edited_ids = engine.prepare_prompt(&edited).unwrap().1;
    assert_eq!(
        engine
            .prefill_prompt_ahead(&edited, &CancelFlag::new())
            .unwrap(),
        edited_ids.len()
    );
    let (got, reused) = engine.logits_reusing(&edited_ids).unwrap();
    assert_eq!(reused, edited_ids.len());
    assert_eq!(got, self::engine().logits(&edited_ids).unwrap());

    // What Generate would refuse is refused here too.
    let mut huge = a.clone();
    huge.settings.max_new_tokens = 1 << 20;
    assert!(engine
        .prefill_prompt_ahead(&huge, &CancelFlag::new())
        .is_err());
}

/// Stop pressed while the prompt runs ends the run before its first token (the prompt's
/// passes ask for it, not only the loop over tokens), and leaves nothing behind that changes
/// the next run.
#[test]
fn stop_during_the_prompt_ends_the_run_before_any_token() {
    let engine = engine();
    let a = request(
        "日本の首都はどこですか？",
        "東京、大阪、京都のうちから選んでください。",
    );
    let cancel = CancelFlag::new();
    let out = engine
        .generate(&a, &cancel, |event| {
            if let jslm_engine::GenerationEvent::Started { .. } = event {
                cancel.cancel();
            }
        })
        .unwrap();
    assert_eq!(out.stop_reason, jslm_engine::StopReason::Cancelled);
    assert!(out.generated_token_ids.is_empty(), "no token after Stop");
    assert_eq!(
        generate(&engine, &a).generated_token_ids,
        generate(&self::engine(), &a).generated_token_ids,
        "the next run is a fresh engine's"
    );
}
