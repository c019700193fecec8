//! The model's tokenizer: Hugging Face `tokenizer.json` through the `tokenizers` crate.
//!
//! The card encodes with `add_special_tokens=False` (no `<s>`). The Llama/Mistral normalizer
//! still prepends `▁`, so every prompt starts with `▁` (id 28705 before a non-ASCII letter).

use crate::error::{EngineError, Result};
use crate::stream::Piece;
use std::path::{Path, PathBuf};

/// `</s>`, where generation stops.
pub const EOS_ID: u32 = 2;
/// `<s>`, never added by the card's encode.
pub const BOS_ID: u32 = 1;

pub struct JslmTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    pieces: Vec<Piece>,
}

impl std::fmt::Debug for JslmTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JslmTokenizer")
            .field("path", &self.path)
            .finish()
    }
}

impl JslmTokenizer {
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
        let pieces = Piece::table(&inner);
        Ok(Self {
            inner,
            path: path.to_path_buf(),
            pieces,
        })
    }

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
}
