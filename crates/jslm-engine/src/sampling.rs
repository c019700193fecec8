//! Next-token selection with the semantics of `transformers.generate`.
//!
//! Order, as in transformers 5 `GenerationMixin._get_logits_processor`: the repetition penalty
//! (a processor, also applied when greedy), then — only when sampling — temperature, top-k,
//! top-p; then greedy takes the first argmax (as `torch.argmax`) and sampling draws from the
//! softmax. Scores are f32 like `generate`'s. Removed tokens get `-inf` (the warpers'
//! `filter_value`). The random source is ChaCha8 seeded by the user's seed, so a run is
//! reproducible; it cannot reproduce torch's RNG, so sampled text differs from Python's.

use crate::settings::GenerationSettings;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Turns logits into the next token id.
#[derive(Debug, Clone)]
pub struct Sampler {
    settings: GenerationSettings,
    rng: ChaCha8Rng,
    /// Reused between steps: positions seen (for the penalty) and sort scratch.
    seen: Vec<bool>,
    order: Vec<u32>,
}

impl Sampler {
    pub fn new(settings: &GenerationSettings, seed: u64) -> Self {
        Self {
            settings: settings.clone(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            seen: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Applies the logits processors in place. `context` is every token id so far (prompt and
    /// generated), as `input_ids` in transformers.
    pub fn process(&mut self, scores: &mut [f32], context: &[u32]) {
        let s = &self.settings;
        if s.repetition_penalty != 1.0 {
            apply_repetition_penalty(scores, context, s.repetition_penalty as f32, &mut self.seen);
        }
        if !s.samples() {
            return;
        }
        if s.temperature != 1.0 {
            apply_temperature(scores, s.temperature);
        }
        if s.top_k != 0 {
            apply_top_k(scores, s.top_k);
        }
        if s.top_p < 1.0 {
            apply_top_p(scores, s.top_p, &mut self.order);
        }
    }

    /// Picks the next token: processes `scores` in place, then argmax or a draw.
    pub fn next_token(&mut self, scores: &mut [f32], context: &[u32]) -> u32 {
        self.process(scores, context);
        if self.settings.samples() {
            let u: f64 = self.rng.random();
            draw(scores, u)
        } else {
            argmax(scores)
        }
    }
}

/// HF `RepetitionPenaltyLogitsProcessor`: each distinct id in `context` once.
fn apply_repetition_penalty(
    scores: &mut [f32],
    context: &[u32],
    penalty: f32,
    seen: &mut Vec<bool>,
) {
    seen.clear();
    seen.resize(scores.len(), false);
    for &id in context {
        let i = id as usize;
        if i < scores.len() && !seen[i] {
            seen[i] = true;
            let x = scores[i];
            scores[i] = if x < 0.0 { x * penalty } else { x / penalty };
        }
    }
}

/// HF `TopKLogitsWarper`: remove every score below the k-th largest (ties with it stay).
fn apply_top_k(scores: &mut [f32], k: usize) {
    let k = k.min(scores.len());
    if k == 0 || k == scores.len() {
        return;
    }
    let mut copy: Vec<f32> = scores.to_vec();
    let (_, kth, _) = copy.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let threshold = *kth;
    for x in scores.iter_mut() {
        if *x < threshold {
            *x = f32::NEG_INFINITY;
        }
    }
}

/// HF `TemperatureLogitsWarper`: `scores / t` in f32. A temperature so small that a score
/// divided by it overflows (below ~1e-37; transformers then samples from NaN and fails)
/// divides after taking away the largest score, which softmax ignores, in f64: the most likely
/// token stays the most likely, as the limit t → 0 (greedy) has it.
fn apply_temperature(scores: &mut [f32], temperature: f64) {
    let t = temperature as f32;
    let overflows = t == 0.0
        || scores
            .iter()
            .any(|&x| x.is_finite() && !(x / t).is_finite());
    if !overflows {
        for x in scores.iter_mut() {
            *x /= t;
        }
        return;
    }
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for x in scores.iter_mut() {
        *x = ((f64::from(*x) - f64::from(max)) / temperature) as f32;
    }
}

/// HF `TopPLogitsWarper`: sort ascending, softmax, cumulative sum; remove tokens whose
/// cumulative probability is <= 1 - top_p, always keeping the most likely one.
fn apply_top_p(scores: &mut [f32], top_p: f64, order: &mut Vec<u32>) {
    order.clear();
    order.extend(0..scores.len() as u32);
    // Stable: equal scores keep index order, the most common result of torch.sort on CPU.
    order.sort_by(|&a, &b| scores[a as usize].total_cmp(&scores[b as usize]));
    let max = scores[*order.last().expect("non-empty vocabulary") as usize];
    let sum: f32 = order
        .iter()
        .map(|&i| (scores[i as usize] - max).exp())
        .sum();
    let threshold = (1.0 - top_p) as f32;
    // f32 probabilities summed in f64 and compared in f32, as torch's CPU `cumsum` does
    // (its accumulator for float is double): it decides which token sits at the cut.
    let mut cumulative = 0f64;
    let last = order.len() - 1;
    for (rank, &i) in order.iter().enumerate() {
        cumulative += f64::from((scores[i as usize] - max).exp() / sum);
        if rank == last || cumulative as f32 > threshold {
            break;
        }
        scores[i as usize] = f32::NEG_INFINITY;
    }
}

/// Softmax probabilities in f32 (what `generate` samples from).
pub fn softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = scores.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// First index of the maximum, like `torch.argmax`.
pub fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &x) in scores.iter().enumerate() {
        if x > scores[best] {
            best = i;
        }
    }
    best as u32
}

/// Inverse-CDF draw of one id from softmax(scores) with `u` uniform in [0, 1).
fn draw(scores: &[f32], u: f64) -> u32 {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = scores.iter().map(|&x| ((x - max) as f64).exp()).collect();
    let total: f64 = weights.iter().sum();
    let target = u * total;
    let mut cumulative = 0.0;
    let mut last_possible = argmax(scores);
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            cumulative += w;
            last_possible = i as u32;
            if target < cumulative {
                return i as u32;
            }
        }
    }
    last_possible
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(
        temperature: f64,
        top_k: Option<usize>,
        top_p: f64,
        penalty: f64,
    ) -> GenerationSettings {
        GenerationSettings {
            temperature,
            top_k: top_k.unwrap_or(0),
            top_p,
            repetition_penalty: penalty,
            ..Default::default()
        }
    }

    #[test]
    fn greedy_is_first_argmax_after_penalty() {
        let mut s = Sampler::new(&GenerationSettings::greedy(1), 0);
        let mut scores = vec![1.0, 3.0, 3.0, -2.0];
        assert_eq!(s.next_token(&mut scores, &[]), 1);
        let mut s = Sampler::new(
            &GenerationSettings {
                repetition_penalty: 2.0,
                ..GenerationSettings::greedy(1)
            },
            0,
        );
        let mut scores = vec![1.0, 3.0, 2.0, -2.0];
        // 3.0 / 2 = 1.5 < 2.0: the penalty changes the greedy choice.
        assert_eq!(s.next_token(&mut scores, &[1, 1, 3]), 2);
        assert_eq!(scores, vec![1.0, 1.5, 2.0, -4.0]);
    }

    #[test]
    fn top_p_keeps_smallest_set_reaching_mass() {
        // probs ≈ [0.643, 0.237, 0.087, 0.032]
        let base = [3.0f32, 2.0, 1.0, 0.0];
        for (top_p, kept) in [
            (0.5, 1),
            (0.643, 1),
            (0.7, 2),
            (0.88, 2),
            (0.9, 3),
            (0.99, 4),
            (1e-9, 1),
        ] {
            let mut scores = base.to_vec();
            apply_top_p(&mut scores, top_p, &mut Vec::new());
            let n = scores.iter().filter(|x| x.is_finite()).count();
            assert_eq!(n, kept, "top_p {top_p}: {scores:?}");
            assert!(scores[0].is_finite(), "the top token always stays");
        }
    }

    #[test]
    fn top_p_over_the_whole_vocabulary_sums_without_drift() {
        // 32,000 equal scores (top_k 0, a flat distribution): the exact cut keeps half. An f32
        // running sum drifts by tens of tokens over 16,000 terms; torch sums in double.
        let mut scores = vec![0.25f32; 32_000];
        apply_top_p(&mut scores, 0.5, &mut Vec::new());
        let kept = scores.iter().filter(|x| x.is_finite()).count();
        assert!((15_999..=16_001).contains(&kept), "kept {kept}");
    }

    #[test]
    fn a_temperature_too_small_to_divide_by_picks_the_top_token() {
        // Scores / 1e-40 overflow f32: without care every positive score becomes +inf and the
        // draw picks among them (the last one, once sorted), not the most likely token.
        for t in [1e-40, 1e-50, 1e-300] {
            for seed in 0..8 {
                let settings = GenerationSettings {
                    temperature: t,
                    top_k: 0,
                    top_p: 0.95,
                    ..Default::default()
                };
                let mut scores = vec![1.0f32, 3.5, 2.0, -2.0, 3.0];
                let id = Sampler::new(&settings, seed).next_token(&mut scores, &[]);
                assert_eq!(id, 1, "temperature {t}, seed {seed}: {scores:?}");
            }
        }
        // An ordinary temperature divides as transformers does.
        let mut scores = vec![1.0f32, -3.0];
        apply_temperature(&mut scores, 0.7);
        assert_eq!(scores, vec![1.0f32 / 0.7f32, -3.0f32 / 0.7f32]);
    }

    #[test]
    fn top_k_keeps_ties() {
        let mut scores = vec![1.0, 5.0, 3.0, 3.0, 0.5];
        apply_top_k(&mut scores, 2);
        assert_eq!(scores.iter().filter(|x| x.is_finite()).count(), 3);
        let mut scores = vec![1.0, 5.0, 3.0];
        apply_top_k(&mut scores, 1);
        assert_eq!(scores.iter().filter(|x| x.is_finite()).count(), 1);
        let mut scores = vec![1.0, 5.0, 3.0];
        apply_top_k(&mut scores, 50);
        assert!(scores.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn same_seed_same_draws_and_only_allowed_tokens() {
        let st = settings(1.0, Some(3), 0.95, 1.0);
        let logits: Vec<f32> = (0..100).map(|i| ((i * 37 % 100) as f32) / 10.0).collect();
        let run = |seed| {
            let mut s = Sampler::new(&st, seed);
            (0..200)
                .map(|_| s.next_token(&mut logits.clone(), &[]))
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let mut allowed = logits.clone();
        Sampler::new(&st, 0).process(&mut allowed, &[]);
        assert!(a.iter().all(|&id| allowed[id as usize].is_finite()));
        // More than one token gets drawn: it really samples.
        let mut distinct = a.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 1);
    }

    #[test]
    fn draw_frequencies_follow_probabilities() {
        let st = settings(1.0, None, 1.0, 1.0);
        let logits = vec![0.0f32, (2f32).ln(), f32::NEG_INFINITY, (7f32).ln()];
        let mut s = Sampler::new(&st, 42);
        let mut counts = [0usize; 4];
        let n = 20_000;
        for _ in 0..n {
            counts[s.next_token(&mut logits.clone(), &[]) as usize] += 1;
        }
        assert_eq!(counts[2], 0);
        for (i, p) in [(0usize, 0.1), (1, 0.2), (3, 0.7)] {
            let f = counts[i] as f64 / n as f64;
            assert!((f - p).abs() < 0.02, "token {i}: {f} vs {p}");
        }
    }

    #[test]
    fn temperature_sharpens() {
        let st = settings(0.5, None, 1.0, 1.0);
        let mut scores = vec![1.0f32, 2.0];
        Sampler::new(&st, 0).process(&mut scores, &[]);
        assert_eq!(scores, vec![2.0, 4.0]);
    }
}
