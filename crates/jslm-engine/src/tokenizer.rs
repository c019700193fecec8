//! The model's tokenizer: Hugging Face `tokenizer.json` through the `tokenizers` crate, or
//! the vocabulary in a GGUF's metadata built into the same kind of tokenizer (`gguf_vocab`).
//!
//! The card encodes with `add_special_tokens=False` (no `<s>`). The Llama/Mistral normalizer
//! still prepends `▁`, so every prompt starts with `▁` (id 28705 before a non-ASCII letter).

use crate::error::{EngineError, Result};
use crate::gguf_vocab::GgufVocab;
use crate::stream::{Piece, StreamDecoder};
use std::path::{Path, PathBuf};

/// Where the tokenizer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerSource {
    /// A Hugging Face `tokenizer.json`.
    Json(PathBuf),
    /// The vocabulary in this GGUF's metadata.
    Gguf(PathBuf),
}

/// `</s>`, where generation stops.
pub const EOS_ID: u32 = 2;
/// `<s>`, never added by the card's encode.
pub const BOS_ID: u32 = 1;

pub struct JslmTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    pieces: Vec<Piece>,
    /// The decoder strips one leading space (`add_space_prefix`; always for `tokenizer.json`,
    /// whose Llama layout has `Strip(" ", 1, 0)`).
    strips_leading_space: bool,
}

impl std::fmt::Debug for JslmTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JslmTokenizer")
            .field("path", &self.path)
            .finish()
    }
}

impl JslmTokenizer {
    /// The tokenizer of `source`; `model_vocab` is the network's vocabulary size.
    pub fn load(source: &TokenizerSource, model_vocab: usize) -> Result<Self> {
        match source {
            TokenizerSource::Json(path) => Self::from_file(path),
            TokenizerSource::Gguf(path) => {
                let header = crate::gguf_header::read_gguf(path)?;
                match GgufVocab::read(&header, model_vocab)? {
                    Some(vocab) => Self::from_gguf_vocab(&vocab),
                    None => Err(EngineError::MissingFile {
                        path: path.with_file_name("tokenizer.json"),
                        reason: format!(
                            "{} has no vocabulary in its metadata and there is no \
                             tokenizer.json beside it (or pass --tokenizer)",
                            path.display()
                        ),
                    }),
                }
            }
        }
    }

    /// The tokenizer of a GGUF's own vocabulary (already proven to be this model's).
    pub fn from_gguf_vocab(vocab: &GgufVocab) -> Result<Self> {
        let inner = vocab.to_tokenizer()?;
        let pieces = Piece::table(&inner);
        Ok(Self {
            inner,
            path: vocab.path().to_path_buf(),
            pieces,
            strips_leading_space: vocab.add_space_prefix,
        })
    }

    /// Loads `tokenizer.json` and checks it is a Llama/Mistral-style vocabulary
    /// (`<s>` = 1, `</s>` = 2, byte-fallback pieces).
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(EngineError::MissingFile {
                path: path.to_path_buf(),
                reason: "tokenizer.json not found (put it beside the weights or pass --tokenizer)"
                    .into(),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| {
            EngineError::invalid_file(path, format!("not a valid tokenizer.json: {e}"))
        })?;
        let mismatch = |reason: String| EngineError::TokenizerMismatch {
            path: path.to_path_buf(),
            reason,
        };
        for (id, name) in [(BOS_ID, "<s>"), (EOS_ID, "</s>")] {
            if inner.id_to_token(id).as_deref() != Some(name) {
                return Err(mismatch(format!(
                    "id {id} should be {name}, found {:?}",
                    inner.id_to_token(id)
                )));
            }
        }
        // A vocabulary of Mistral's size must be Mistral's own: Llama 2's tokenizer.json, say,
        // has the same size and special ids but other pieces, and would give other ids for the
        // same text without any error (other sizes are held against the model's vocabulary).
        if inner.get_vocab_size(false) == crate::gguf_vocab::VOCAB_SIZE {
            let tokens: Vec<String> = (0..crate::gguf_vocab::VOCAB_SIZE as u32)
                .map(|id| inner.id_to_token(id).unwrap_or_default())
                .collect();
            if !crate::gguf_vocab::is_this_models_pieces(tokens.iter().map(String::as_str)) {
                return Err(EngineError::ForeignVocabulary {
                    path: path.to_path_buf(),
                    reason: "its pieces are not this model's (Mistral's SentencePiece \
                             vocabulary, which Japanese StableLM Instruct Gamma uses)"
                        .into(),
                });
            }
        }
        let pieces = Piece::table(&inner);
        Ok(Self {
            inner,
            path: path.to_path_buf(),
            pieces,
            strips_leading_space: true,
        })
    }

    /// The `tokenizer.json`, or the GGUF whose metadata holds the vocabulary.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    /// Fails unless the model's output size equals the vocabulary.
    pub fn check_matches(&self, model_vocab: usize) -> Result<()> {
        if model_vocab != self.vocab_size() {
            return Err(EngineError::TokenizerMismatch {
                path: self.path.clone(),
                reason: format!(
                    "tokenizer has {} tokens, the model's vocabulary has {model_vocab}",
                    self.vocab_size()
                ),
            });
        }
        Ok(())
    }

    /// `tokenizer.encode(text, add_special_tokens=False)`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// `tokenizer.decode(ids, skip_special_tokens=True)`.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))
    }

    /// The decoding role of each id, for the streaming decoder.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// A streaming decoder whose output equals [`Self::decode`]'s.
    pub fn stream_decoder(&self) -> StreamDecoder<'_> {
        let decoder = StreamDecoder::new(&self.pieces);
        if self.strips_leading_space {
            decoder
        } else {
            decoder.keeping_leading_space()
        }
    }

    /// A streaming decoder for text that continues a prompt: nothing stripped at its start,
    /// so its output is `decode(prompt + ids)` less `decode(prompt)`.
    pub fn continuation_decoder(&self) -> StreamDecoder<'_> {
        StreamDecoder::new(&self.pieces).keeping_leading_space()
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}
