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

/// The bytes the pieces of `ids` stand for, with the decoder's one leading space stripped.
fn raw_bytes(pieces: &[Piece], ids: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    for &id in ids {
        match &pieces[id as usize] {
            Piece::Special => {}
            Piece::Byte(b) => out.push(*b),
            Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
        }
    }
    if out.first() == Some(&b' ') {
        out.remove(0);
    }
    out
}

fn longest_valid_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap(),
    }
}

#[test]
fn streaming_equals_decode_and_never_lags() {
    let tok = JslmTokenizer::from_file(&common::tokenizer_json()).unwrap();
    let mut checked_byte_fallback = 0;
    for c in cases() {
        // Stream the ids with an EOS appended, as generation does.
        let mut ids = c.ids.clone();
        ids.push(2);
        let mut d = StreamDecoder::new(tok.pieces());
        let mut streamed = String::new();
        for i in 0..ids.len() {
            streamed.push_str(&d.push(ids[i]));
            // Every complete character so far is already out: nothing is held back.
            let expected = longest_valid_prefix(&raw_bytes(tok.pieces(), &ids[..=i])).to_string();
            assert_eq!(streamed, expected, "{:?} after {} ids", c.text, i + 1);
            assert!(!streamed.contains('\u{FFFD}') || c.text.contains('\u{FFFD}'));
        }
        streamed.push_str(&d.finish());
        assert_eq!(streamed, tok.decode(&ids).unwrap(), "{:?}", c.text);
        if c.ids
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
