//! Which tokens the KV cache holds, so that the next prompt runs only from where it differs:
//! the card's system sentence and headings start every prompt, a regenerated prompt is all
//! the same, an edited one often shares most of its start.
//!
//! Only positions computed by prompt passes of at least `min_pass` tokens are reused. In
//! such a pass every matrix runs the prompt tiles and attention its prompt path, whose results
//! for one token do not depend on the pass's other tokens or where the pass starts: a prompt
//! run partly from the cache gives the same logits, bit for bit, as one run from position 0,
//! so a seed still repeats a run. Decoded tokens (one per pass, through the row kernels)
//! would give slightly different keys and values than a prompt pass over the same tokens,
//! and are run again when a prompt contains them.

/// The ids of positions `0..len` whose keys and values a prompt pass wrote.
#[derive(Debug, Default)]
pub(crate) struct CachedTokens {
    ids: Vec<u32>,
    /// The fewest tokens of a pass whose positions are reused; `None`: nothing is (a CPU
    /// without the tiles, or a matrix type they do not cover).
    min_pass: Option<usize>,
}

impl CachedTokens {
    pub fn new(min_pass: Option<usize>) -> Self {
        Self {
            ids: Vec::new(),
            min_pass,
        }
    }

    /// How many leading positions of `prompt` the cache can serve: its common start with the
    /// cached ids, leaving at least `min_pass` tokens to run (the last for its logits, all of
    /// them in one exact pass). 0 when nothing can be reused.
    pub fn reusable(&self, prompt: &[u32]) -> usize {
        let Some(min_pass) = self.min_pass else {
            return 0;
        };
        let common = self
            .ids
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count();
        common.min(prompt.len().saturating_sub(min_pass))
    }

    /// Before a pass at `pos`: the positions from `pos` on are about to be overwritten.
    pub fn before_pass(&mut self, pos: usize) {
        self.ids.truncate(pos);
    }

    /// After a pass of `ids` at `pos` finished: a prompt pass that continues the cached
    /// positions extends them.
    pub fn after_pass(&mut self, ids: &[u32], pos: usize) {
        let exact = self.min_pass.is_some_and(|min| ids.len() >= min);
        if exact && pos == self.ids.len() {
            self.ids.extend_from_slice(ids);
        }
    }

    pub fn clear(&mut self) {
        self.ids.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_the_common_start_of_prompt_passes_only() {
        let mut c = CachedTokens::new(Some(4));
        let a: Vec<u32> = (10..30).collect();
        c.before_pass(0);
        c.after_pass(&a, 0);
        // A decode step after the prompt is not reused.
        c.before_pass(20);
        c.after_pass(&[7], 20);
        let mut b = a[..12].to_vec();
        b.extend([99, 98, 97, 96, 95, 94]);
        assert_eq!(c.reusable(&b), 12);
        // The same prompt again: all but the last pass's `min_pass` tokens.
        assert_eq!(c.reusable(&a), 16);
        // The prompt and the decoded token: only the prompt's positions.
        let mut d = a.clone();
        d.extend([7, 1, 2, 3, 4, 5]);
        assert_eq!(c.reusable(&d), 20);
        // Too short to leave a whole pass: nothing.
        assert_eq!(c.reusable(&a[..4]), 0);
        // A pass earlier in the cache forgets what follows it.
        c.before_pass(5);
        c.after_pass(&[1, 2], 5);
        assert_eq!(c.reusable(&a), 5);
        // A short pass at the end is not recorded, a long one is.
        c.before_pass(5);
        c.after_pass(&a[5..20], 5);
        assert_eq!(c.reusable(&a), 16);
        c.clear();
        assert_eq!(c.reusable(&a), 0);
    }

    #[test]
    fn nothing_is_reused_without_exact_passes() {
        let mut c = CachedTokens::new(None);
        let a: Vec<u32> = (10..30).collect();
        c.after_pass(&a, 0);
        assert_eq!(c.reusable(&a), 0);
    }
}
