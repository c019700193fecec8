//! Tokenizer and streaming decoder against sentencepiece / `tokenizers` references.
mod common;

use jslm_engine::stream::{Piece, StreamDecoder};
use jslm_engine::JslmTokenizer;

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    decoded: String,
}

fn cases() -> Vec<Case> {
    let text =
        std::fs::read_to_string(common::fixtures().join("tokenizer/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn encode_matches_sentencepiece_on_every_case() {
    let tok = JslmTokenizer::from_file(&common::tokenizer_json()).unwrap();
    let cases = cases();
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    for c in &cases {
        assert_eq!(tok.encode(&c.text).unwrap(), c.ids, "text {:?}", c.text);
        assert_eq!(
            tok.decode(&c.ids).unwrap(),
            c.decoded,
            "ids of {:?}",
            c.text
        );
    }
    // The normalizer prepends ▁ even without special tokens.
    assert_eq!(tok.encode("日本").unwrap()[0], 28705);
}

#[test]
fn streaming_equals_decode_at_every_token() {
    // After each id, the stream has given exactly `decode` of the ids up to the last text
    // token (a byte run is out once it ends); after `finish`, `decode` of all of them — also
    // when the ids stop inside a character, as the token limit or Stop can cut them.
    let tok = JslmTokenizer::from_file(&common::tokenizer_json()).unwrap();
    let mut checked_byte_fallback = 0;
    let mut cut_inside_a_character = 0;
    let mut texts: Vec<String> = cases().into_iter().map(|c| c.text).collect();
    texts.push("蕎麦と饂飩".into());
    for text in &texts {
        let mut ids = tok.encode(text).unwrap();
        // Stream the ids with an EOS appended, as generation does.
        ids.push(2);
        for end in 1..=ids.len() {
            let ids = &ids[..end];
            let mut d = tok.stream_decoder();
            let mut streamed = String::new();
            let mut last_text = None;
            for (i, &id) in ids.iter().enumerate() {
                streamed.push_str(&d.push(id));
                if matches!(tok.pieces()[id as usize], Piece::Text(_)) {
                    last_text = Some(i);
                }
                let upto = last_text.map_or(0, |j| j + 1);
                assert_eq!(
                    streamed,
                    tok.decode(&ids[..upto]).unwrap(),
                    "{text:?} after {} ids",
                    i + 1
                );
            }
            streamed.push_str(&d.finish());
            let decoded = tok.decode(ids).unwrap();
            assert_eq!(streamed, decoded, "{text:?}, first {end} ids");
            cut_inside_a_character +=
                usize::from(decoded.ends_with('\u{FFFD}') && !text.contains('\u{FFFD}'));
        }
        if ids
            .iter()
            .any(|&id| matches!(tok.pieces()[id as usize], Piece::Byte(_)))
        {
            checked_byte_fallback += 1;
        }
    }
    assert!(
        checked_byte_fallback >= 10,
        "too few byte-fallback cases: {checked_byte_fallback}"
    );
    assert!(
        cut_inside_a_character >= 10,
        "too few cuts inside a character: {cut_inside_a_character}"
    );
}

#[test]
fn japanese_punctuation_is_emitted_with_its_token() {
    let tok = JslmTokenizer::from_file(&common::tokenizer_json()).unwrap();
    for text in ["こんにちは。", "「はい」、そうです。", "改行\nです"] {
        let ids = tok.encode(text).unwrap();
        let mut d = StreamDecoder::new(tok.pieces());
        let mut out = String::new();
        for id in &ids {
            out.push_str(&d.push(*id));
        }
        // The whole text is out before finish() is called.
        assert_eq!(out, text);
    }
}

#[test]
fn tokenizer_mismatch_is_detected() {
    let tok = JslmTokenizer::from_file(&common::tokenizer_json()).unwrap();
    assert_eq!(tok.vocab_size(), 32000);
    tok.check_matches(32000).unwrap();
    let err = tok.check_matches(32002).unwrap_err();
    assert_eq!(err.code(), "tokenizer_mismatch");
    assert!(err.to_string().contains("32002"), "{err}");
}

#[test]
fn a_continuation_reads_as_the_decode_of_prompt_and_answer() {
    // What a raw completion streams: `decode(prompt + answer)` less `decode(prompt)`, the
    // text OpenAI-style clients append to their prompt (" Paris" after "… France is").
    let tok = JslmTokenizer::from_file(&common::tokenizer_json()).unwrap();
    let prompt = tok.encode("The capital of France is").unwrap();
    let cases = cases();
    let mut kept_a_space = 0;
    for c in &cases {
        let mut d = tok.continuation_decoder();
        let mut streamed: String = c.ids.iter().map(|&id| d.push(id)).collect();
        streamed.push_str(&d.finish());
        let whole = tok
            .decode(&[prompt.clone(), c.ids.clone()].concat())
            .unwrap();
        let before = tok.decode(&prompt).unwrap();
        assert_eq!(streamed, whole[before.len()..], "{:?}", c.text);
        kept_a_space += usize::from(streamed.starts_with(' ') && !c.decoded.starts_with(' '));
    }
    assert!(
        kept_a_space >= 10,
        "only {kept_a_space} cases start with the space"
    );
    let paris = tok.encode("Paris").unwrap();
    let mut d = tok.continuation_decoder();
    let text: String = paris.iter().map(|&id| d.push(id)).collect();
    assert_eq!(text, " Paris");
}
