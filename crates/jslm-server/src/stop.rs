//! Text filters between the engine's token texts and the client, so that a stream's chunks
//! always add up to the whole answer:
//! - [`StopMatcher`]: OpenAI's `stop` strings. The answer ends before the first stop string
//!   and does not contain it; text that could be the start of a stop string is held back
//!   until it is known not to be one.
//! - [`AnswerTrim`]: the model card's `.strip()` of the answer (`python_strip`), as a stream —
//!   leading whitespace dropped, trailing whitespace held until more text follows and dropped
//!   at the end. The chat route uses it, so a chat answer is the text the window shows.

use jslm_engine::stream::python_strip;

/// The most stop strings a request may give. OpenAI's 4 is too few for editor plugins, which
/// send a stop per kind of line ending or fence (vLLM and llama.cpp's server take any number).
/// A limit is kept because every token's text is searched for every stop string, and the
/// held-back tail against each of them: a request must not make every token slow with
/// thousands. 16 covers what clients send.
pub const MAX_STOPS: usize = 16;

/// Cuts the text at the first stop string.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
    stopped: bool,
}

impl StopMatcher {
    /// `stops` must be non-empty strings (the request parser checks).
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops,
            ..Default::default()
        }
    }

    /// Feeds the next text; returns what can be sent now. After a stop string, nothing more.
    pub fn push(&mut self, text: &str) -> String {
        if self.stopped {
            return String::new();
        }
        self.held.push_str(text);
        let first = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first {
            self.stopped = true;
            self.held.truncate(at);
            return std::mem::take(&mut self.held);
        }
        // Hold back the longest tail that begins some stop string.
        let keep = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                let tail = &self.held[i..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(self.held.len());
        let rest = self.held.split_off(keep);
        std::mem::replace(&mut self.held, rest)
    }

    /// Whether a stop string was found.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The text held back when the generation ends without a stop string.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// `str.strip()` of a streamed answer.
#[derive(Debug, Default)]
pub struct AnswerTrim {
    started: bool,
    trailing: String,
}

impl AnswerTrim {
    pub fn push(&mut self, text: &str) -> String {
        let text = if self.started {
            text
        } else {
            let start = text.len() - trim_start(text).len();
            &text[start..]
        };
        if text.is_empty() {
            return String::new();
        }
        self.started = true;
        let body = python_strip_end(text);
        if body.is_empty() {
            self.trailing.push_str(text);
            return String::new();
        }
        let mut out = std::mem::take(&mut self.trailing);
        out.push_str(body);
        self.trailing.push_str(&text[body.len()..]);
        out
    }
}

fn trim_start(text: &str) -> &str {
    // python_strip trims both ends; the start is what it leaves before the first kept char.
    let stripped = python_strip(text);
    if stripped.is_empty() {
        return "";
    }
    let offset = stripped.as_ptr() as usize - text.as_ptr() as usize;
    &text[offset..]
}

fn python_strip_end(text: &str) -> &str {
    let stripped = python_strip(text);
    if stripped.is_empty() {
        return "";
    }
    let end = stripped.as_ptr() as usize - text.as_ptr() as usize + stripped.len();
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_stop(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool) {
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out: Vec<String> = pieces.iter().map(|p| m.push(p)).collect();
        if !m.stopped() {
            out.push(m.finish());
        }
        (out, m.stopped())
    }

    /// Stop strings, the pieces fed, what each push (and then `finish`) gives, whether it
    /// stopped.
    type StopCase<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], bool);

    #[test]
    fn stop_table() {
        let cases: &[StopCase] = &[
            // No stop strings: everything passes at once.
            (&[], &["あ", "い"], &["あ", "い", ""], false),
            // A stop string inside one piece: cut before it.
            (&["。"], &["今日は。明日"], &["今日は"], true),
            // Split over pieces: the start is held until it is known.
            (&["###"], &["答え #", "#", "# 次"], &["答え ", "", ""], true),
            // Not a stop after all: the held text comes out with the next piece.
            (
                &["###"],
                &["a #", "#b", "c"],
                &["a ", "##b", "c", ""],
                false,
            ),
            // The earliest of several stop strings wins.
            (&["B", "AB"], &["xAB"], &["x"], true),
            // Held at the end of the generation: sent by finish.
            (&["END"], &["foo EN"], &["foo ", "EN"], false),
            // Multibyte stop strings, held at character boundaries.
            (&["応答"], &["の応", "答"], &["の", ""], true),
            // A stop string at the very start: an empty answer.
            (&["\n"], &["\nabc"], &[""], true),
        ];
        for (stops, pieces, expected, stopped) in cases {
            let (out, was) = run_stop(stops, pieces);
            assert_eq!(out, *expected, "{stops:?} {pieces:?}");
            assert_eq!(was, *stopped, "{stops:?} {pieces:?}");
        }
    }

    #[test]
    fn after_a_stop_nothing_more() {
        let mut m = StopMatcher::new(vec!["x".into()]);
        assert_eq!(m.push("ax"), "a");
        assert_eq!(m.push("bbb"), "");
        assert_eq!(m.finish(), "");
    }

    #[test]
    fn trim_table() {
        let cases: &[(&[&str], &str)] = &[
            (&[" ", "\n答え", " です", "\n", " "], "答え です"),
            (&["  a  ", "b\n"], "a  b"),
            (&["\u{3000}全角", "\u{1f}"], "全角"),
            (&[" ", "\n"], ""),
            (&["x"], "x"),
        ];
        for (pieces, expected) in cases {
            let mut t = AnswerTrim::default();
            let joined: String = pieces.iter().map(|p| t.push(p)).collect();
            assert_eq!(joined, *expected, "{pieces:?}");
            assert_eq!(joined, python_strip(&pieces.concat()), "{pieces:?}");
        }
    }
}
