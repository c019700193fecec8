//! The tokenizer a GGUF carries in its metadata: llama.cpp's SentencePiece vocabulary
//! (`tokenizer.ggml.model` = `llama`: pieces, scores, token types, special ids, `add_bos_token`,
//! `add_space_prefix`), proven to be this model's and turned into a `tokenizers::Tokenizer`
//! laid out exactly like Hugging Face's Llama/Mistral `tokenizer.json`, so that a user with only
//! a `.gguf` gets the ids of the official tokenizer.
//!
//! The layout, as Mistral-7B-v0.1's (and Japanese StableLM Instruct Gamma's) `tokenizer.json`
//! has it: a BPE model with byte fallback, `fuse_unk` and `<unk>`; normalizer `Prepend("▁")`
//! (when `add_space_prefix`) then `Replace(" ", "▁")`; no pre-tokenizer; decoder
//! `Replace("▁", " ")`, `ByteFallback`, `Fuse`, `Strip(" ", 1, 0)`; `<s>` prepended by the
//! post-processor (when `add_bos_token`). The merges are derived from the SentencePiece scores
//! the way transformers' `SentencePieceExtractor` made that file's (see [`merges`]), so they are
//! the same list.
//!
//! Only this model's vocabulary is accepted: a file with another tokenizer type, size, special
//! ids, pieces, token types or scores is refused with [`EngineError::ForeignVocabulary`]
//! (tokenizing with a vocabulary the weights were not trained on gives fluent-looking nonsense).

use crate::error::{EngineError, Result};
use crate::gguf_header::{GgufArray, GgufHeader};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, Tokenizer};

/// This model's vocabulary size (Mistral's SentencePiece model).
pub const VOCAB_SIZE: usize = 32_000;
/// `<unk>`, `<s>`, `</s>`.
const UNK_ID: u32 = 0;
const BOS_ID: u32 = 1;
const EOS_ID: u32 = 2;
/// SHA-256 of every piece's UTF-8 followed by a NUL, in id order: the 32,000 pieces of
/// Mistral's `tokenizer.model` (= `tokenizer.json`'s vocabulary; a test recomputes it from
/// the committed `tokenizer.json`).
const PIECES_SHA256: &str = "f713915c1abcec0a1e6b4b142e71b582125664202323622f0b480d99f21a8b8f";
/// SHA-256 over ids 3.. of the token type (one byte) and, for normal pieces, the score's
/// little-endian f32 bits: what decides the merges. The special tokens' types and scores
/// differ between converters (2 or 3, 0 or -1000) and are checked on their own.
const RANKS_SHA256: &str = "185c829cabe96cca77a7163012b396d0339a0f58d0d1356bfeebcbe5a471cd11";

/// llama.cpp's `llama_token_type` (`tokenizer.ggml.token_type`).
mod token_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const BYTE: i32 = 6;
}

/// A GGUF's SentencePiece vocabulary, proven to be this model's.
#[derive(Debug, Clone)]
pub struct GgufVocab {
    path: PathBuf,
    pieces: Vec<String>,
    scores: Vec<f32>,
    types: Vec<i32>,
    add_bos: bool,
    add_eos: bool,
    /// `add_space_prefix`: the normalizer prepends `▁` and the decoder strips one space.
    pub add_space_prefix: bool,
}

impl GgufVocab {
    /// The vocabulary in `h`'s metadata; `None` when the file has none (`tokenizer.ggml.model`
    /// absent). `model_vocab` is the network's vocabulary (rows of `token_embd.weight`).
    pub fn read(h: &GgufHeader, model_vocab: usize) -> Result<Option<Self>> {
        let Some(kind) = h.opt_str("tokenizer.ggml.model")? else {
            return Ok(None);
        };
        let foreign = |reason: String| EngineError::ForeignVocabulary {
            path: h.path.clone(),
            reason,
        };
        if kind != "llama" {
            return Err(foreign(format!(
                "`tokenizer.ggml.model` is {kind:?}; this model's vocabulary is SentencePiece \
                 (\"llama\")"
            )));
        }
        let pieces = match h.get_array("tokenizer.ggml.tokens")? {
            GgufArray::String(v) => v.clone(),
            other => return Err(wrong_type(h, "tokenizer.ggml.tokens", other, "strings")),
        };
        if pieces.len() != VOCAB_SIZE || model_vocab != VOCAB_SIZE {
            return Err(foreign(format!(
                "it lists {} tokens for a network of {model_vocab}; this model has {VOCAB_SIZE}",
                pieces.len()
            )));
        }
        let scores = match h.get_array("tokenizer.ggml.scores")? {
            GgufArray::F32(v) => v.clone(),
            other => return Err(wrong_type(h, "tokenizer.ggml.scores", other, "f32")),
        };
        let types = match h.get_array("tokenizer.ggml.token_type")? {
            GgufArray::I32(v) => v.clone(),
            GgufArray::U32(v) => v.iter().map(|&t| i32::try_from(t).unwrap_or(-1)).collect(),
            other => return Err(wrong_type(h, "tokenizer.ggml.token_type", other, "i32")),
        };
        for (key, len) in [
            ("tokenizer.ggml.scores", scores.len()),
            ("tokenizer.ggml.token_type", types.len()),
        ] {
            if len != pieces.len() {
                return Err(EngineError::invalid_file(
                    &h.path,
                    format!(
                        "metadata key `{key}` has {len} entries for {} tokens",
                        pieces.len()
                    ),
                ));
            }
        }
        for (key, want, default) in [
            ("tokenizer.ggml.unknown_token_id", UNK_ID, UNK_ID),
            ("tokenizer.ggml.bos_token_id", BOS_ID, BOS_ID),
            ("tokenizer.ggml.eos_token_id", EOS_ID, EOS_ID),
        ] {
            let id = h.opt_u32(key)?.unwrap_or(default);
            if id != want {
                return Err(foreign(format!(
                    "`{key}` is {id}; this model's is {want} ({})",
                    pieces[want as usize]
                )));
            }
        }
        for (id, name) in [(UNK_ID, "<unk>"), (BOS_ID, "<s>"), (EOS_ID, "</s>")] {
            let t = types[id as usize];
            if pieces[id as usize] != name
                || !(t == token_type::UNKNOWN || t == token_type::CONTROL)
            {
                return Err(foreign(format!(
                    "token {id} is {:?} of type {t}; this model's is the special token {name}",
                    pieces[id as usize]
                )));
            }
        }
        if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
            return Err(EngineError::invalid_file(
                &h.path,
                format!(
                    "metadata key `tokenizer.ggml.scores` has {} at {i}",
                    scores[i]
                ),
            ));
        }
        let vocab = Self {
            path: h.path.clone(),
            add_bos: h.opt_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(true),
            add_eos: h.opt_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false),
            add_space_prefix: h
                .opt_bool("tokenizer.ggml.add_space_prefix")?
                .unwrap_or(true),
            pieces,
            scores,
            types,
        };
        if vocab.pieces_sha256() != PIECES_SHA256 {
            return Err(foreign(
                "its pieces are not this model's (Mistral's SentencePiece vocabulary, which \
                 Japanese StableLM Instruct Gamma uses)"
                    .into(),
            ));
        }
        if vocab.ranks_sha256() != RANKS_SHA256 {
            return Err(foreign(
                "its token types or scores are not this model's SentencePiece model's (the \
                 file's converter wrote its own), so its tokens would differ from the official \
                 tokenizer's"
                    .into(),
            ));
        }
        Ok(Some(vocab))
    }

    fn pieces_sha256(&self) -> String {
        pieces_sha256(self.pieces.iter().map(String::as_str))
    }

    fn ranks_sha256(&self) -> String {
        let mut h = Sha256::new();
        for (&t, &s) in self.types.iter().zip(&self.scores).skip(3) {
            h.update([t as u8]);
            if t == token_type::NORMAL {
                h.update(s.to_le_bytes());
            }
        }
        hex(&h.finalize())
    }

    /// The file the vocabulary came from.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The `tokenizers` tokenizer, laid out as the model's `tokenizer.json` (module docs).
    pub fn to_tokenizer(&self) -> Result<Tokenizer> {
        let fail = |what: &str, e: String| {
            EngineError::Tokenizer(format!(
                "building the tokenizer of {} ({what}): {e}",
                self.path.display()
            ))
        };
        let vocab: Vocab = self
            .pieces
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i as u32))
            .collect();
        let merges = merges(&self.pieces, &self.scores, &self.types, &vocab);
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .unk_token("<unk>".into())
            .fuse_unk(true)
            .byte_fallback(true)
            .build()
            .map_err(|e| fail("BPE model", e.to_string()))?;
        let mut tokenizer = Tokenizer::new(bpe);
        let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
        if self.add_space_prefix {
            normalizers.push(Prepend::new("\u{2581}".into()).into());
        }
        normalizers.push(
            Replace::new(" ", "\u{2581}")
                .map_err(|e| fail("normalizer", e.to_string()))?
                .into(),
        );
        tokenizer
            .with_normalizer(Some(NormalizerSequence::new(normalizers)))
            .map_err(|e| fail("normalizer", e.to_string()))?;
        let mut decoders: Vec<DecoderWrapper> = vec![
            Replace::new("\u{2581}", " ")
                .map_err(|e| fail("decoder", e.to_string()))?
                .into(),
            ByteFallback::new().into(),
            Fuse::new().into(),
        ];
        if self.add_space_prefix {
            decoders.push(Strip::new(' ', 1, 0).into());
        }
        tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
        let (mut single, mut pair) = (String::new(), String::new());
        if self.add_bos {
            single.push_str("<s>:0 ");
            pair.push_str("<s>:0 ");
        }
        single.push_str("$A:0");
        pair.push_str("$A:0");
        if self.add_eos {
            single.push_str(" </s>:0");
            pair.push_str(" </s>:0");
        }
        if self.add_bos {
            pair.push_str(" <s>:1");
        }
        pair.push_str(" $B:1");
        if self.add_eos {
            pair.push_str(" </s>:1");
        }
        // Only the special tokens the templates use (the official file names just `<s>`).
        let mut specials = Vec::new();
        if self.add_bos {
            specials.push(("<s>", BOS_ID));
        }
        if self.add_eos {
            specials.push(("</s>", EOS_ID));
        }
        let template = TemplateProcessing::builder()
            .try_single(single)
            .map_err(|e| fail("post-processor", e.to_string()))?
            .try_pair(pair)
            .map_err(|e| fail("post-processor", e.to_string()))?
            .special_tokens(specials)
            .build()
            .map_err(|e| fail("post-processor", e.to_string()))?;
        tokenizer.with_post_processor(Some(template));
        tokenizer
            .add_special_tokens(
                ["<unk>", "<s>", "</s>"].map(|t| AddedToken::from(t, true).normalized(false)),
            )
            .map_err(|e| fail("special tokens", e.to_string()))?;
        Ok(tokenizer)
    }
}

fn wrong_type(h: &GgufHeader, key: &str, found: &GgufArray, want: &str) -> EngineError {
    let found = match found {
        GgufArray::String(_) => "strings",
        GgufArray::F32(_) => "f32",
        GgufArray::I32(_) => "i32",
        GgufArray::U32(_) => "u32",
        _ => "another type",
    };
    EngineError::invalid_file(
        &h.path,
        format!("metadata key `{key}` is an array of {found}, expected {want}"),
    )
}

/// The fingerprint of a vocabulary's pieces, in id order (see [`PIECES_SHA256`]).
fn pieces_sha256<'a>(pieces: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for p in pieces {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize())
}

/// Whether a 32,000-piece vocabulary (`pieces` in id order) is this model's, Mistral's.
pub(crate) fn is_this_models_pieces<'a>(pieces: impl IntoIterator<Item = &'a str>) -> bool {
    pieces_sha256(pieces) == PIECES_SHA256
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The BPE merges of a SentencePiece BPE vocabulary, as transformers' `SentencePieceExtractor`
/// (with scores) derives them: for every normal piece with a non-zero score, in id order, each
/// split into two pieces of the vocabulary is a merge (ordered by the two ids); then all merges
/// are ordered by the merged piece's score, highest first, keeping that order among equal
/// scores. Byte, control and unknown pieces are never the result of a merge.
fn merges(
    pieces: &[String],
    scores: &[f32],
    types: &[i32],
    vocab: &Vocab,
) -> Vec<(String, String)> {
    let mut all: Vec<(u32, u32, f32)> = Vec::new();
    for ((piece, &score), &t) in pieces.iter().zip(scores).zip(types) {
        if score == 0.0
            || matches!(
                t,
                token_type::BYTE | token_type::CONTROL | token_type::UNKNOWN
            )
        {
            continue;
        }
        let start = all.len();
        for (k, _) in piece.char_indices().skip(1) {
            if let (Some(&l), Some(&r)) = (vocab.get(&piece[..k]), vocab.get(&piece[k..])) {
                all.push((l, r, score));
            }
        }
        all[start..].sort_by_key(|&(l, r, _)| (l, r));
    }
    // Stable: equal scores keep their order.
    all.sort_by(|a, b| b.2.total_cmp(&a.2));
    all.into_iter()
        .map(|(l, r, _)| (pieces[l as usize].clone(), pieces[r as usize].clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf_header::{read_gguf, GgufValue};
    use std::path::Path;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(name)
    }

    /// Both committed GGUFs with a vocabulary: llama.cpp's converter (`<unk>` typed control,
    /// special scores -1000, no `add_space_prefix` key) and `gguf`'s writer (`<unk>` typed
    /// unknown, scores 0, `add_space_prefix` true).
    fn headers() -> Vec<GgufHeader> {
        [
            "tiny-mistral-llamacpp/model-q8_0.gguf",
            "tiny-mistral-gguf/model-f16.gguf",
        ]
        .map(|f| read_gguf(&fixture(f)).unwrap())
        .into()
    }

    /// The whole tokenizer, serialised, equals the committed `tokenizer.json` (vocabulary,
    /// all 58,980 merges in order, normalizer, decoder, post-processor, special tokens).
    #[test]
    fn the_tokenizer_built_from_a_gguf_is_the_models_tokenizer_json() {
        let text = std::fs::read_to_string(fixture("tokenizer/tokenizer.json")).unwrap();
        let official: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            official["model"]["merges"].as_array().unwrap().len(),
            58_980
        );
        for h in headers() {
            let vocab = GgufVocab::read(&h, VOCAB_SIZE).unwrap().unwrap();
            let built = vocab.to_tokenizer().unwrap().to_string(false).unwrap();
            let built: serde_json::Value = serde_json::from_str(&built).unwrap();
            for key in [
                "added_tokens",
                "normalizer",
                "pre_tokenizer",
                "post_processor",
                "decoder",
                "model",
            ] {
                assert!(
                    built[key] == official[key],
                    "{}: `{key}` differs",
                    h.path.display()
                );
            }
        }
    }

    /// The fingerprints are the committed official tokenizer's.
    #[test]
    fn the_pieces_fingerprint_is_the_official_vocabulary() {
        let text = std::fs::read_to_string(fixture("tokenizer/tokenizer.json")).unwrap();
        let official: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut pieces = vec![String::new(); VOCAB_SIZE];
        for (piece, id) in official["model"]["vocab"].as_object().unwrap() {
            pieces[id.as_u64().unwrap() as usize] = piece.clone();
        }
        let h = &headers()[0];
        let mut vocab = GgufVocab::read(h, VOCAB_SIZE).unwrap().unwrap();
        vocab.pieces = pieces;
        assert_eq!(vocab.pieces_sha256(), PIECES_SHA256);
    }

    #[test]
    fn a_gguf_without_a_vocabulary_has_none() {
        let mut h = headers().remove(0);
        h.metadata.remove("tokenizer.ggml.model");
        assert!(GgufVocab::read(&h, VOCAB_SIZE).unwrap().is_none());
    }

    /// Each case changes one thing of a real file's vocabulary; the error names it.
    #[test]
    fn another_vocabulary_is_refused_with_a_reason() {
        type Damage = Box<dyn Fn(&mut GgufHeader)>;
        fn set(h: &mut GgufHeader, key: &str, v: GgufValue) {
            h.metadata.insert(key.into(), v);
        }
        fn edit<T>(h: &mut GgufHeader, key: &str, f: impl Fn(&mut Vec<T>))
        where
            GgufArray: AsVec<T>,
        {
            let Some(GgufValue::Array(a)) = h.metadata.get_mut(key) else {
                panic!("{key}")
            };
            f(a.as_vec());
        }
        let str_ = |s: &str| GgufValue::String(s.into());
        let cases: Vec<(&str, Damage, &str, &str)> = vec![
            (
                "byte-level BPE",
                Box::new(move |h| set(h, "tokenizer.ggml.model", str_("gpt2"))),
                "foreign_vocabulary",
                "\"gpt2\"",
            ),
            (
                "one token more",
                Box::new(|h| {
                    edit(h, "tokenizer.ggml.tokens", |v: &mut Vec<String>| {
                        v.push("x".into())
                    })
                }),
                "foreign_vocabulary",
                "32001 tokens",
            ),
            (
                "BOS elsewhere",
                Box::new(|h| set(h, "tokenizer.ggml.bos_token_id", GgufValue::U32(5))),
                "foreign_vocabulary",
                "bos_token_id",
            ),
            (
                "EOS elsewhere",
                Box::new(|h| set(h, "tokenizer.ggml.eos_token_id", GgufValue::U32(32000))),
                "foreign_vocabulary",
                "eos_token_id",
            ),
            (
                "</s> renamed",
                Box::new(|h| {
                    edit(h, "tokenizer.ggml.tokens", |v: &mut Vec<String>| {
                        v[2] = "<|end|>".into()
                    })
                }),
                "foreign_vocabulary",
                "</s>",
            ),
            (
                "<s> a normal token",
                Box::new(|h| edit(h, "tokenizer.ggml.token_type", |v: &mut Vec<i32>| v[1] = 1)),
                "foreign_vocabulary",
                "<s>",
            ),
            (
                "one piece different",
                Box::new(|h| {
                    edit(h, "tokenizer.ggml.tokens", |v: &mut Vec<String>| {
                        v[261] = "▁T".into()
                    })
                }),
                "foreign_vocabulary",
                "pieces",
            ),
            (
                "two pieces swapped",
                Box::new(|h| {
                    edit(h, "tokenizer.ggml.tokens", |v: &mut Vec<String>| {
                        v.swap(300, 301)
                    })
                }),
                "foreign_vocabulary",
                "pieces",
            ),
            (
                "scores all equal (a converter without tokenizer.model)",
                Box::new(|h| {
                    edit(h, "tokenizer.ggml.scores", |v: &mut Vec<f32>| {
                        v.fill(-1000.0)
                    })
                }),
                "foreign_vocabulary",
                "scores",
            ),
            (
                "a piece typed user-defined",
                Box::new(|h| {
                    edit(h, "tokenizer.ggml.token_type", |v: &mut Vec<i32>| {
                        v[500] = 4
                    })
                }),
                "foreign_vocabulary",
                "types",
            ),
            (
                "NaN score",
                Box::new(|h| {
                    edit(h, "tokenizer.ggml.scores", |v: &mut Vec<f32>| {
                        v[9] = f32::NAN
                    })
                }),
                "invalid_file",
                "tokenizer.ggml.scores",
            ),
            (
                "scores of another type",
                Box::new(|h| {
                    set(
                        h,
                        "tokenizer.ggml.scores",
                        GgufValue::Array(GgufArray::U8(vec![0; 32000])),
                    )
                }),
                "invalid_file",
                "tokenizer.ggml.scores",
            ),
            (
                "too few types",
                Box::new(|h| {
                    edit(h, "tokenizer.ggml.token_type", |v: &mut Vec<i32>| {
                        v.truncate(10)
                    })
                }),
                "invalid_file",
                "tokenizer.ggml.token_type",
            ),
            (
                "tokens missing",
                Box::new(|h| {
                    h.metadata.remove("tokenizer.ggml.tokens");
                }),
                "invalid_file",
                "tokenizer.ggml.tokens",
            ),
            (
                "add_bos_token not a bool",
                Box::new(|h| set(h, "tokenizer.ggml.add_bos_token", GgufValue::U32(1))),
                "invalid_file",
                "add_bos_token",
            ),
        ];
        let original = headers().remove(0);
        for (name, damage, code, needle) in cases {
            let mut h = original.clone();
            damage(&mut h);
            let err = GgufVocab::read(&h, VOCAB_SIZE).expect_err(name);
            assert_eq!(err.code(), code, "{name}: {err}");
            let text = err.to_string();
            assert!(
                text.contains("model-q8_0.gguf") && text.contains(needle),
                "{name}: {text}"
            );
        }
        // A network whose vocabulary is not this model's, whatever the metadata says.
        let err = GgufVocab::read(&original, 32_002).unwrap_err();
        assert_eq!(err.code(), "foreign_vocabulary", "{err}");
    }

    /// Mutable access to one typed array, for the damage above.
    trait AsVec<T> {
        fn as_vec(&mut self) -> &mut Vec<T>;
    }
    impl AsVec<String> for GgufArray {
        fn as_vec(&mut self) -> &mut Vec<String> {
            match self {
                GgufArray::String(v) => v,
                _ => panic!("not strings"),
            }
        }
    }
    impl AsVec<f32> for GgufArray {
        fn as_vec(&mut self) -> &mut Vec<f32> {
            match self {
                GgufArray::F32(v) => v,
                _ => panic!("not f32"),
            }
        }
    }
    impl AsVec<i32> for GgufArray {
        fn as_vec(&mut self) -> &mut Vec<i32> {
            match self {
                GgufArray::I32(v) => v,
                _ => panic!("not i32"),
            }
        }
    }

    #[test]
    fn without_a_space_prefix_nothing_is_prepended_or_stripped() {
        let mut h = headers().remove(1);
        h.metadata.insert(
            "tokenizer.ggml.add_space_prefix".into(),
            GgufValue::Bool(false),
        );
        let tok = GgufVocab::read(&h, VOCAB_SIZE)
            .unwrap()
            .unwrap()
            .to_tokenizer()
            .unwrap();
        let ids = tok.encode("Hello world", false).unwrap().get_ids().to_vec();
        let first = tok.id_to_token(ids[0]).unwrap();
        assert!(!first.starts_with('\u{2581}'), "{first}");
        assert_eq!(tok.decode(&ids, true).unwrap(), "Hello world");
        let ids = tok.encode(" Hello", false).unwrap().get_ids().to_vec();
        assert_eq!(tok.decode(&ids, true).unwrap(), " Hello");
    }

    #[test]
    fn merges_follow_scores_then_ids() {
        let pieces: Vec<String> = ["<unk>", "a", "b", "ab", "ba", "aba", "<0x41>"]
            .map(String::from)
            .into();
        let vocab: Vocab = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i as u32))
            .collect();
        let scores = [0.0, -1.0, -2.0, -3.0, -3.0, -4.0, 0.0];
        let types = [2, 1, 1, 1, 1, 1, 6];
        let m = merges(&pieces, &scores, &types, &vocab);
        let m: Vec<(&str, &str)> = m.iter().map(|(l, r)| (l.as_str(), r.as_str())).collect();
        // "ab" and "ba" tie at -3: id order; "aba" splits as a+ba (ids 1,4) and ab+a (3,1).
        assert_eq!(m, [("a", "b"), ("b", "a"), ("a", "ba"), ("ab", "a")]);
    }
}
