//! Streaming detokenisation: ids in, text out as soon as characters are complete.
//!
//! Mirrors the Llama/Mistral `tokenizer.json` decoder chain — `Replace("▁", " ")`,
//! `ByteFallback`, `Fuse`, `Strip(" ", 1, 0)` — with special tokens skipped. Kana, kanji and
//! emoji often arrive as byte-fallback tokens (`<0xE3>` `<0x81>` `<0x82>` = あ) and newlines as
//! `<0x0A>`: bytes are held only while they are an incomplete UTF-8 prefix, and every complete
//! character is emitted at once. For valid UTF-8 the concatenated deltas equal
//! `decode(ids, skip_special_tokens=True)`. For byte sequences that are not UTF-8 (rare from a
//! trained model) tokenizers replaces the whole byte run with one U+FFFD per byte; we emit the
//! complete characters before the bad byte as they arrive and U+FFFD per bad byte, so there the
//! stream can differ from the final `decode` — the final text always comes from `decode`.

/// How one vocabulary entry decodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Skipped by `skip_special_tokens` (`<unk>`, `<s>`, `</s>`, added special tokens).
    Special,
    /// A byte-fallback token `<0xNN>`.
    Byte(u8),
    /// Plain text with `▁` already replaced by a space.
    Text(String),
}

impl Piece {
    /// The pieces of a whole vocabulary, indexed by id.
    pub(crate) fn table(tokenizer: &tokenizers::Tokenizer) -> Vec<Piece> {
        let special: std::collections::HashSet<u32> = tokenizer
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| id)
            .collect();
        (0..tokenizer.get_vocab_size(true) as u32)
            .map(|id| Self::classify(tokenizer, id, special.contains(&id)))
            .collect()
    }

    fn classify(tokenizer: &tokenizers::Tokenizer, id: u32, is_special: bool) -> Self {
        let Some(token) = tokenizer.id_to_token(id) else {
            return Piece::Special;
        };
        if is_special {
            return Piece::Special;
        }
        if token.len() == 6 && token.starts_with("<0x") && token.ends_with('>') {
            if let Ok(b) = u8::from_str_radix(&token[3..5], 16) {
                return Piece::Byte(b);
            }
        }
        Piece::Text(token.replace('\u{2581}', " "))
    }
}

/// Incremental decoder over a vocabulary's pieces.
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    pieces: &'a [Piece],
    /// Bytes of the current byte-token run that do not yet form a complete character.
    pending: Vec<u8>,
    /// Nothing emitted yet: the decoder's `Strip` removes one leading space of the whole text.
    at_start: bool,
}

impl<'a> StreamDecoder<'a> {
    pub fn new(pieces: &'a [Piece]) -> Self {
        Self {
            pieces,
            pending: Vec::new(),
            at_start: true,
        }
    }

    /// For a vocabulary without `add_space_prefix`: nothing is stripped at the start.
    pub fn keeping_leading_space(mut self) -> Self {
        self.at_start = false;
        self
    }

    /// Feeds one id; returns the text it completes (possibly empty).
    pub fn push(&mut self, id: u32) -> String {
        let mut out = String::new();
        match self.pieces.get(id as usize) {
            None | Some(Piece::Special) => {}
            Some(Piece::Byte(b)) => {
                self.pending.push(*b);
                self.drain_complete(&mut out);
            }
            Some(Piece::Text(text)) => {
                self.flush_incomplete(&mut out);
                out.push_str(text);
            }
        }
        self.strip_start(out)
    }

    /// Ends the stream; returns U+FFFD for any incomplete trailing bytes.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        self.flush_incomplete(&mut out);
        self.strip_start(out)
    }

    fn drain_complete(&mut self, out: &mut String) {
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // SAFETY of the unwrap-free path: the prefix is valid by construction.
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // Incomplete character at the end: hold it.
                        None => {
                            self.pending.drain(..valid);
                            return;
                        }
                        // Bytes that can never be valid: one replacement character per byte.
                        Some(bad) => {
                            out.extend(std::iter::repeat_n('\u{FFFD}', bad));
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    fn flush_incomplete(&mut self, out: &mut String) {
        out.extend(std::iter::repeat_n('\u{FFFD}', self.pending.len()));
        self.pending.clear();
    }

    fn strip_start(&mut self, mut out: String) -> String {
        if self.at_start && !out.is_empty() {
            self.at_start = false;
            if out.starts_with(' ') {
                out.remove(0);
            }
        }
        out
    }
}

/// Python's `str.strip()`: removes leading and trailing characters for which
/// `str.isspace()` is true (a superset of Rust's `char::is_whitespace`: it adds U+001C–U+001F).
pub fn python_strip(text: &str) -> &str {
    fn is_py_space(c: char) -> bool {
        c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
    }
    text.trim_matches(is_py_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces() -> Vec<Piece> {
        let mut p = vec![Piece::Special, Piece::Special, Piece::Special];
        p.extend((0..=255u8).map(Piece::Byte)); // ids 3..=258
        p.push(Piece::Text(" こんにちは".into())); // 259
        p.push(Piece::Text("。".into())); // 260
        p.push(Piece::Text(" a".into())); // 261
        p
    }
    fn byte(b: u8) -> u32 {
        3 + b as u32
    }

    #[test]
    fn emits_each_character_as_soon_as_complete() {
        let p = pieces();
        let mut d = StreamDecoder::new(&p);
        // あ = E3 81 82, then 。 as text, then \n as a byte.
        assert_eq!(d.push(259), "こんにちは");
        assert_eq!(d.push(byte(0xE3)), "");
        assert_eq!(d.push(byte(0x81)), "");
        assert_eq!(d.push(byte(0x82)), "あ");
        assert_eq!(d.push(260), "。");
        assert_eq!(d.push(byte(b'\n')), "\n");
        assert_eq!(d.push(2), "");
        assert_eq!(d.finish(), "");
    }

    #[test]
    fn strips_one_leading_space_only_at_start() {
        let p = pieces();
        let mut d = StreamDecoder::new(&p);
        assert_eq!(d.push(1), "");
        assert_eq!(d.push(261), "a");
        assert_eq!(d.push(261), " a");
        let mut d = StreamDecoder::new(&p);
        assert_eq!(d.push(byte(b' ')), "");
        assert_eq!(d.push(byte(b' ')), " ");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let p = pieces();
        let mut d = StreamDecoder::new(&p);
        assert_eq!(d.push(byte(0xE3)), "");
        assert_eq!(d.push(261), "\u{FFFD} a");
        let mut d = StreamDecoder::new(&p);
        assert_eq!(d.push(byte(0xFF)), "\u{FFFD}");
        assert_eq!(d.push(byte(0xE3)), "");
        assert_eq!(d.finish(), "\u{FFFD}");
    }

    #[test]
    fn python_strip_matches_str_strip() {
        assert_eq!(python_strip("\n\u{3000} 答え\t\u{1f}\n"), "答え");
        assert_eq!(python_strip("   "), "");
        assert_eq!(python_strip("a b"), "a b");
    }
}
