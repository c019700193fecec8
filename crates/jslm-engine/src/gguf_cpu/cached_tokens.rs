//! Which tokens the KV cache holds, so that the next prompt runs only from where it differs:
//! the card's system sentence and headings start every prompt, an edited one often shares
//! most of its start, and a regenerated one is all the same (its last logits are kept too, so
//! it runs no pass at all).
//!
//! Only positions computed by passes of at least `min_pass` tokens are reused, where a
//! token's results do not depend on the pass's other tokens or where the pass starts: a
//! prompt run partly from the cache gives the same logits, bit for bit, as one run from
//! position 0, so a seed still repeats a run. With the x86 prompt tiles that is a pass of 8
//! tokens (every matrix then runs the tiles, and attention its prompt path): decoded tokens,
//! one per pass through the row kernels, would give slightly different keys and values than
//! a prompt pass over the same tokens, and are run again when a prompt contains them.
//! Without the tiles (ARM, `JSLM_ISA=generic`) every pass runs candle's kernels one token at
//! a time and attention one path, so every position is reused, decoded ones too.

/// What of a prompt the cache can serve.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reuse {
    /// Its first positions (0: none): the prompt runs from there.
    Prefix(usize),
    /// All of it, and these are its last logits: the prompt of the last prompt pass.
    Whole(Vec<f32>),
}

/// The ids of positions `0..len` whose keys and values passes of at least `min_pass` tokens
/// wrote, in order.
#[derive(Debug)]
pub(crate) struct CachedTokens {
    ids: Vec<u32>,
    /// The logits at the last of `ids`, from the pass that ended there (empty when unknown).
    logits: Vec<f32>,
    /// The fewest tokens of a pass whose positions are reused (at least 1).
    min_pass: usize,
}

impl CachedTokens {
    pub fn new(min_pass: usize) -> Self {
        Self {
            ids: Vec::new(),
            logits: Vec::new(),
            min_pass: min_pass.max(1),
        }
    }

    /// What the cache can serve of `prompt`: all of it when it is the cached prompt; else its
    /// common start with the cached ids, leaving at least `min_pass` tokens to run (the last
    /// for its logits, all of them in one exact pass).
    pub fn reuse(&self, prompt: &[u32]) -> Reuse {
        if prompt == self.ids && !self.logits.is_empty() {
            return Reuse::Whole(self.logits.clone());
        }
        let common = self
            .ids
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count();
        Reuse::Prefix(common.min(prompt.len().saturating_sub(self.min_pass)))
    }

    /// Before a pass at `pos`: the positions from `pos` on are about to be overwritten.
    pub fn before_pass(&mut self, pos: usize) {
        if pos < self.ids.len() {
            self.ids.truncate(pos);
            self.logits.clear();
        }
    }

    /// After a pass of `ids` at `pos` gave `logits` (its last token's): a pass of at least
    /// `min_pass` tokens that continues the cached positions extends them.
    pub fn after_pass(&mut self, ids: &[u32], pos: usize, logits: &[f32]) {
        let exact = ids.len() >= self.min_pass;
        if exact && pos == self.ids.len() {
            self.ids.extend_from_slice(ids);
            self.logits.clear();
            self.logits.extend_from_slice(logits);
        }
    }

    /// How many positions are recorded.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn clear(&mut self) {
        self.ids.clear();
        self.logits.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_the_common_start_of_prompt_passes_only() {
        let mut c = CachedTokens::new(4);
        let a: Vec<u32> = (10..30).collect();
        c.before_pass(0);
        c.after_pass(&a, 0, &[1.0, 2.0]);
        // A decode step after the prompt is not reused, and keeps the prompt's logits.
        c.before_pass(20);
        c.after_pass(&[7], 20, &[3.0, 4.0]);
        assert_eq!(c.reuse(&a), Reuse::Whole(vec![1.0, 2.0]));
        let mut b = a[..12].to_vec();
        b.extend([99, 98, 97, 96, 95, 94]);
        assert_eq!(c.reuse(&b), Reuse::Prefix(12));
        // An edit near the end: a last pass of `min_pass` tokens.
        let mut e = a.clone();
        e[18] = 5;
        assert_eq!(c.reuse(&e), Reuse::Prefix(16));
        // The prompt and the decoded token: only the prompt's positions.
        let mut d = a.clone();
        d.extend([7, 1, 2, 3, 4, 5]);
        assert_eq!(c.reuse(&d), Reuse::Prefix(20));
        // Too short to leave a whole pass: nothing.
        assert_eq!(c.reuse(&a[..4]), Reuse::Prefix(0));
        // A pass earlier in the cache forgets what follows it, and the logits.
        c.before_pass(5);
        c.after_pass(&[1, 2], 5, &[5.0]);
        assert_eq!(c.reuse(&a), Reuse::Prefix(5));
        assert_eq!(c.reuse(&a[..5]), Reuse::Prefix(1));
        // A short pass at the end is not recorded, a long one is, with its logits.
        c.before_pass(5);
        c.after_pass(&a[5..20], 5, &[6.0]);
        assert_eq!(c.reuse(&a), Reuse::Whole(vec![6.0]));
        c.clear();
        assert_eq!(c.reuse(&a), Reuse::Prefix(0));
    }

    #[test]
    fn with_passes_of_one_token_decoded_positions_are_reused_too() {
        let mut c = CachedTokens::new(1);
        let a: Vec<u32> = (10..30).collect();
        c.after_pass(&a, 0, &[1.0]);
        c.after_pass(&[7], 20, &[2.0]);
        let mut d = a.clone();
        d.extend([7, 8]);
        assert_eq!(c.reuse(&d), Reuse::Prefix(21));
        // The prompt and its decoded token, asked again: no pass.
        d.pop();
        assert_eq!(c.reuse(&d), Reuse::Whole(vec![2.0]));
        assert_eq!(c.reuse(&a), Reuse::Prefix(19));
    }
}
