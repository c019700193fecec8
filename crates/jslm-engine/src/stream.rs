//! Streaming detokenisation: ids in, text out as soon as it is final.
//!
//! Mirrors the Llama/Mistral `tokenizer.json` decoder chain — `Replace("▁", " ")`,
//! `ByteFallback`, `Fuse`, `Strip(" ", 1, 0)` — with special tokens skipped. Kana, kanji and
//! emoji often arrive as byte-fallback tokens (`<0xE3>` `<0x81>` `<0x82>` = あ) and newlines as
//! `<0x0A>`. `ByteFallback` decodes a run of byte tokens as a whole: valid UTF-8 gives its text,
//! anything else one U+FFFD per byte of the run — so a character completed early in a run can
//! still become U+FFFD when the run ends badly (cut off by the token limit or Stop, or a bad
//! byte later). A run is therefore held until it ends (a text token, or the end of the stream),
//! and the concatenated deltas always equal `decode(ids, skip_special_tokens=True)`: what was
//! streamed is what is saved. Text tokens are emitted at once.

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
    /// The bytes of the byte-token run in progress.
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

    /// Feeds one id; returns the text it makes final (possibly empty).
    pub fn push(&mut self, id: u32) -> String {
        let mut out = String::new();
        match self.pieces.get(id as usize) {
            // Skipped before decoding, so a byte run goes on across them.
            None | Some(Piece::Special) => {}
            Some(Piece::Byte(b)) => self.pending.push(*b),
            Some(Piece::Text(text)) => {
                self.end_run(&mut out);
                out.push_str(text);
            }
        }
        self.strip_start(out)
    }

    /// Whether a byte run is held (its text comes with the next text token or [`Self::finish`]).
    pub fn holds_bytes(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the held byte run ends inside a character (its last bytes begin one that is
    /// not complete yet): ending the stream now would turn the whole run into U+FFFD.
    pub fn cuts_a_character(&self) -> bool {
        matches!(std::str::from_utf8(&self.pending), Err(e) if e.error_len().is_none())
    }

    /// Ends the stream; returns the held byte run, decoded.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        self.end_run(&mut out);
        self.strip_start(out)
    }

    /// `ByteFallback` on the run that just ended: its text if it is UTF-8, else U+FFFD per byte.
    fn end_run(&mut self, out: &mut String) {
        match std::str::from_utf8(&self.pending) {
            Ok(text) => out.push_str(text),
            Err(_) => out.extend(std::iter::repeat_n('\u{FFFD}', self.pending.len())),
        }
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
    fn a_byte_run_comes_out_when_it_ends() {
        let p = pieces();
        let mut d = StreamDecoder::new(&p);
        // あ = E3 81 82, then 。 as text, then \n as a byte, then the end.
        assert_eq!(d.push(259), "こんにちは");
        assert_eq!(d.push(byte(0xE3)), "");
        assert_eq!(d.push(byte(0x81)), "");
        assert_eq!(d.push(byte(0x82)), "");
        assert_eq!(d.push(260), "あ。");
        assert_eq!(d.push(byte(b'\n')), "");
        // A special token inside or after a run does not end it: decode skips it first.
        assert_eq!(d.push(2), "");
        assert_eq!(d.finish(), "\n");
    }

    #[test]
    fn a_run_cut_off_is_replacement_characters_whole() {
        // あ complete, then the first byte of another character, then the end (the token
        // limit): decode gives U+FFFD for all four bytes, and so does the stream.
        let p = pieces();
        let mut d = StreamDecoder::new(&p);
        for b in [0xE3, 0x81, 0x82, 0xE3] {
            assert_eq!(d.push(byte(b)), "");
        }
        assert_eq!(d.finish(), "\u{FFFD}".repeat(4));
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
        assert_eq!(d.push(byte(b' ')), "");
        assert_eq!(d.finish(), " ");
    }

    #[test]
    fn a_run_knows_when_it_would_cut_a_character() {
        let p = pieces();
        let mut d = StreamDecoder::new(&p);
        assert!(!d.cuts_a_character());
        d.push(byte(0xE3));
        assert!(d.cuts_a_character());
        d.push(byte(0x81));
        d.push(byte(0x82));
        assert!(!d.cuts_a_character() && d.holds_bytes(), "あ is complete");
        d.push(byte(0xFF));
        d.push(byte(0xE3));
        assert!(
            !d.cuts_a_character(),
            "a bad byte: no waiting makes it text"
        );
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let p = pieces();
        let mut d = StreamDecoder::new(&p);
        assert_eq!(d.push(byte(0xE3)), "");
        assert_eq!(d.push(261), "\u{FFFD} a");
        let mut d = StreamDecoder::new(&p);
        assert_eq!(d.push(byte(0xFF)), "");
        assert_eq!(d.push(byte(0xE3)), "");
        assert_eq!(d.finish(), "\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn python_strip_matches_str_strip() {
        assert_eq!(python_strip("\n\u{3000} 答え\t\u{1f}\n"), "答え");
        assert_eq!(python_strip("   "), "");
        assert_eq!(python_strip("a b"), "a b");
    }
}
