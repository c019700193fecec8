//! A llama-architecture GGUF (how llama.cpp stores Mistral) run on the CPU straight from a
//! memory map: no copy of the weights at load, no repacked second copy at first use.
//!
//! Written here rather than taken from candle's `quantized_llama` for memory and load time
//! (see `matrix.rs`) and speed (our row kernels and prompt tiles for Q2_K–Q6_K, Q4_0, Q5_0
//! and Q8_0: `kernels.rs`, `tile/`).

mod attention;
mod attention_block;
#[cfg(target_arch = "x86_64")]
mod attention_decode;
#[cfg(target_arch = "x86_64")]
mod block_unpack;
mod block_views;
mod cached_tokens;
pub use attention::KvCacheType;
mod decode_acts;
pub(crate) use roofline::WeightsStream;
mod kernel_timing;
mod kernels;
pub use kernel_timing::{kernel_timings, KernelTiming};
mod acts_quant;
mod matmul_group;
mod matrix;
mod ops;
#[cfg(target_arch = "x86_64")]
mod q4k_avx2;
#[cfg(target_arch = "x86_64")]
mod q4k_avx512;
#[cfg(target_arch = "x86_64")]
mod q6k_avx2;
#[cfg(target_arch = "x86_64")]
mod q6k_avx512;
#[cfg(target_arch = "x86_64")]
mod q8_0_avx2;
#[cfg(target_arch = "x86_64")]
mod q8_0_avx512;
mod roofline;
mod simd;
#[cfg(target_arch = "x86_64")]
mod tile;
mod weights_map;

use crate::description::LlamaGguf;
use crate::error::{EngineError, Result};
use crate::isa::{Cpu, Isa};
use attention::KvCache;
use cached_tokens::CachedTokens;
pub(crate) use cached_tokens::Reuse;
use matmul_group::matmul_group;
use matrix::QMatrix;
use ops::{rms_norm, silu_mul, Rope};
use std::path::Path;

/// Fewest tokens of a pass that takes the prompt tiles (x86; below, a tile is mostly
/// padding and the row kernels are faster). A tile's results for one token do not depend on
/// the pass's other tokens.
pub(crate) const PROMPT_TILE_TOKENS: usize = 8;

/// The shape of the network, from the GGUF's `llama.*` metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LlamaShape {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rms_eps: f32,
    pub vocab: usize,
}

struct Block {
    attn_norm: Vec<f32>,
    wq: QMatrix,
    wk: QMatrix,
    wv: QMatrix,
    wo: QMatrix,
    ffn_norm: Vec<f32>,
    gate: QMatrix,
    up: QMatrix,
    down: QMatrix,
}

/// How the runner runs: the positions its KV cache and RoPE table cover, its kernels
/// (supported by this CPU: see `Isa::resolve`) and how its cache stores.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuRunner {
    pub context: usize,
    pub isa: Isa,
    pub kv: KvCacheType,
}

pub(crate) struct GgufCpuModel {
    shape: LlamaShape,
    embedding: QMatrix,
    blocks: Vec<Block>,
    output_norm: Vec<f32>,
    output: QMatrix,
    rope: Rope,
    cache: KvCache,
    /// The tokens whose keys and values `cache` holds, for the next prompt to reuse.
    cached: CachedTokens,
    cpu: Cpu,
    /// Bytes of the weights' map on 2 MiB pages (`weights_map.rs`).
    huge_page_bytes: u64,
}

impl GgufCpuModel {
    /// Maps `path` (described and checked as `gguf`) and views its tensors in place, to run
    /// as `runner` says. `blocks`: how many of the leading transformer blocks this model runs
    /// (all of them, or the CPU's share of a split with a GPU: `gguf_split`), at most the
    /// file's.
    pub fn load(path: &Path, gguf: &LlamaGguf, runner: CpuRunner, blocks: usize) -> Result<Self> {
        let CpuRunner { context, isa, kv } = runner;
        let weights = weights_map::map_weights(path)?;
        let map = weights.map.clone();
        let bad = |reason: String| EngineError::invalid_file(path, reason);
        let p = gguf.dims;
        let (layers, hidden, heads, kv_heads, head_dim) =
            (p.layers, p.hidden, p.heads, p.kv_heads, p.head_dim);
        let (rms_eps, rope_base) = (p.rms_eps, p.rope_base);
        let usize_of = |v: u64, name: &str| {
            usize::try_from(v)
                .map_err(|_| bad(format!("tensor {name} is beyond the address space")))
        };

        let tensor = |name: &str| -> Result<QMatrix> {
            let info = gguf
                .tensors
                .get(name)
                .ok_or_else(|| bad(format!("tensor {name} missing")))?;
            let (rows, cols) = match info.dims.as_slice() {
                [n] => (1, usize_of(*n, name)?),
                [r, c] => (usize_of(*r, name)?, usize_of(*c, name)?),
                other => return Err(bad(format!("tensor {name} has shape {other:?}"))),
            };
            QMatrix::new(
                map.clone(),
                usize_of(info.offset, name)?,
                rows,
                cols,
                info.dtype,
            )
            .map_err(|e| bad(format!("tensor {name}: {}", e.0)))
        };
        let matrix = |name: &str, rows: usize, cols: usize| -> Result<QMatrix> {
            let m = tensor(name)?;
            if (m.rows, m.cols) != (rows, cols) {
                return Err(bad(format!(
                    "tensor {name} is {}×{}, expected {rows}×{cols}",
                    m.rows, m.cols
                )));
            }
            Ok(m)
        };
        let vector = |name: &str, len: usize| -> Result<Vec<f32>> {
            let m = matrix(name, 1, len)?;
            let mut out = vec![0f32; len];
            m.dequantize_row(0, &mut out);
            Ok(out)
        };

        let embedding = tensor("token_embd.weight")?;
        if embedding.cols != hidden {
            return Err(bad(format!(
                "token_embd.weight has rows of {}, expected {hidden}",
                embedding.cols
            )));
        }
        let vocab = embedding.rows;
        let kv_dim = kv_heads * head_dim;
        let ffn = p.ffn;
        let layers = blocks.min(layers);
        let blocks = (0..layers)
            .map(|i| {
                let n = |s: &str| format!("blk.{i}.{s}.weight");
                Ok(Block {
                    attn_norm: vector(&n("attn_norm"), hidden)?,
                    wq: matrix(&n("attn_q"), hidden, hidden)?,
                    wk: matrix(&n("attn_k"), kv_dim, hidden)?,
                    wv: matrix(&n("attn_v"), kv_dim, hidden)?,
                    wo: matrix(&n("attn_output"), hidden, hidden)?,
                    ffn_norm: vector(&n("ffn_norm"), hidden)?,
                    gate: matrix(&n("ffn_gate"), ffn, hidden)?,
                    up: matrix(&n("ffn_up"), ffn, hidden)?,
                    down: matrix(&n("ffn_down"), hidden, ffn)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let output = if gguf.tensors.contains_key("output.weight") {
            matrix("output.weight", vocab, hidden)?
        } else {
            // Tied embeddings: the output head is the embedding matrix.
            tensor("token_embd.weight")?
        };
        let cpu = Cpu::new(isa);
        let mut model = Self {
            shape: LlamaShape {
                hidden,
                heads,
                kv_heads,
                head_dim,
                rms_eps,
                vocab,
            },
            embedding,
            blocks,
            output_norm: vector("output_norm.weight", hidden)?,
            output,
            rope: Rope::new(head_dim, rope_base, context),
            cache: KvCache::new(layers, kv_heads, head_dim, context, kv, isa),
            cached: CachedTokens::new(exact_pass_tokens(cpu)),
            cpu,
            huge_page_bytes: 0,
        };
        model.huge_page_bytes = weights.populate(&model.file_ranges(layers == p.layers));
        Ok(model)
    }

    /// The bytes of the file this model reads: all of it for the whole model (`whole`); for
    /// a split's CPU half the embedding and its blocks' matrices (the norms are copies), so
    /// that the GPU's blocks and the head, which the GPU half reads from the file itself,
    /// stay out of this process's memory.
    // One range of the whole file is meant, not the numbers 0..MAX.
    #[allow(clippy::single_range_in_vec_init)]
    pub(crate) fn file_ranges(&self, whole: bool) -> Vec<std::ops::Range<usize>> {
        if whole {
            return vec![0..usize::MAX];
        }
        std::iter::once(&self.embedding)
            .chain(
                self.blocks
                    .iter()
                    .flat_map(|b| [&b.wq, &b.wk, &b.wv, &b.wo, &b.gate, &b.up, &b.down]),
            )
            .map(QMatrix::byte_range)
            .collect()
    }

    /// Bytes of the weights on 2 MiB pages (for the benchmark's report).
    pub fn huge_page_bytes(&self) -> u64 {
        self.huge_page_bytes
    }

    /// Times streaming every weight a decode step reads, with rayon's current pool.
    pub(crate) fn weights_stream(&self) -> WeightsStream {
        let mut matrices: Vec<&QMatrix> = self
            .blocks
            .iter()
            .flat_map(|b| [&b.wq, &b.wk, &b.wv, &b.wo, &b.gate, &b.up, &b.down])
            .collect();
        matrices.push(&self.output);
        roofline::measure(&matrices)
    }

    pub fn clear_kv_cache(&mut self) {
        // Positions are overwritten before they are read, so forgetting them is enough.
        self.cached.clear();
    }

    /// What of `prompt` the cache holds from earlier prompt passes (`cached_tokens.rs`).
    pub fn reuse(&self, prompt: &[u32]) -> Reuse {
        self.cached.reuse(prompt)
    }

    /// How many positions the cache holds for reuse.
    pub fn cached_tokens(&self) -> usize {
        self.cached.len()
    }

    /// Runs `ids` at positions `pos..pos+len` and returns the logits of the last one.
    pub fn forward(&mut self, ids: &[u32], pos: usize) -> Result<Vec<f32>> {
        let logits = self.forward_until(ids, pos, &|| false)?;
        Ok(logits.expect("a pass that is never abandoned ends"))
    }

    /// [`Self::forward`], asking `abandon` between blocks: `None` when it was abandoned. A
    /// long prompt pass takes seconds on a CPU (a 512-token pass of a 7B model, ~25 s on two
    /// cores), and Stop must not wait for it; the pass's positions are then not cached.
    pub fn forward_until(
        &mut self,
        ids: &[u32],
        pos: usize,
        abandon: &(dyn Fn() -> bool + Sync),
    ) -> Result<Option<Vec<f32>>> {
        self.cached.before_pass(pos);
        let Some(x) = self.hidden_until(ids, pos, abandon)? else {
            return Ok(None);
        };
        let s = self.shape;
        let mut last = vec![0f32; s.hidden];
        rms_norm(
            &x[x.len() - s.hidden..],
            &self.output_norm,
            s.rms_eps,
            &mut last,
        );
        let mut logits = vec![0f32; s.vocab];
        self.output.matmul(self.cpu, &last, &mut logits);
        self.cached.after_pass(ids, pos, &logits);
        Ok(Some(logits))
    }

    /// Runs `ids` at positions `pos..pos+len` through the embedding and this model's blocks
    /// and returns the hidden states, `len × hidden` (token-major).
    pub fn hidden(&mut self, ids: &[u32], pos: usize) -> Result<Vec<f32>> {
        let x = self.hidden_until(ids, pos, &|| false)?;
        Ok(x.expect("a pass that is never abandoned ends"))
    }

    /// [`Self::hidden`], asking `abandon` before each block: `None` when it was abandoned
    /// (the cache then holds keys and values of this pass for some blocks only; they are
    /// overwritten before they are read, as `cached` no longer counts these positions).
    fn hidden_until(
        &mut self,
        ids: &[u32],
        pos: usize,
        abandon: &(dyn Fn() -> bool + Sync),
    ) -> Result<Option<Vec<f32>>> {
        let s = self.shape;
        let m = ids.len();
        if m == 0 {
            return Err(EngineError::Compute("forward called with no tokens".into()));
        }
        let end = pos + m;
        if end > self.cache.capacity() || end > self.rope.positions() {
            return Err(EngineError::Compute(format!(
                "positions up to {end} exceed the {} the model was loaded for",
                self.cache.capacity()
            )));
        }
        let (d, kvd) = (s.hidden, s.kv_heads * s.head_dim);
        let cpu = self.cpu;
        let ffn = self.blocks.first().map_or(0, |b| b.gate.rows);
        let mut x = vec![0f32; m * d];
        for (row, &id) in x.chunks_exact_mut(d).zip(ids) {
            if id as usize >= s.vocab {
                return Err(EngineError::Compute(format!(
                    "token id {id} is outside the vocabulary of {}",
                    s.vocab
                )));
            }
            self.embedding.dequantize_row(id as usize, row);
        }
        let mut h = vec![0f32; m * d];
        let mut q = vec![0f32; m * d];
        let mut k = vec![0f32; m * kvd];
        let mut v = vec![0f32; m * kvd];
        let mut att = vec![0f32; m * d];
        let mut o = vec![0f32; m * d];
        let mut gate = vec![0f32; m * ffn];
        let mut up = vec![0f32; m * ffn];
        for (layer, b) in self.blocks.iter().enumerate() {
            if abandon() {
                return Ok(None);
            }
            rms_norm(&x, &b.attn_norm, s.rms_eps, &mut h);
            matmul_group(
                cpu,
                &h,
                &[&b.wq, &b.wk, &b.wv],
                &mut [&mut q, &mut k, &mut v],
            );
            for t in 0..m {
                self.rope.apply(&mut q[t * d..(t + 1) * d], pos + t);
                self.rope.apply(&mut k[t * kvd..(t + 1) * kvd], pos + t);
            }
            self.cache.store(layer, pos, &k, &v);
            self.cache.attend(layer, &q, pos, s.heads, &mut att);
            b.wo.matmul(cpu, &att, &mut o);
            add(&mut x, &o);
            rms_norm(&x, &b.ffn_norm, s.rms_eps, &mut h);
            matmul_group(cpu, &h, &[&b.gate, &b.up], &mut [&mut gate, &mut up]);
            silu_mul(&mut gate, &up);
            b.down.matmul(cpu, &gate, &mut o);
            add(&mut x, &o);
        }
        Ok(Some(x))
    }
}

/// The fewest tokens of a pass whose results for each token are the same whatever else
/// the pass holds. With the x86 prompt tiles: a pass that takes them (types without tiles
/// run candle's kernels a token at a time at every size; two tokens or more also keep
/// attention on its prompt path). Without (ARM, `JSLM_ISA=generic`): any pass, since
/// every matrix runs candle's kernels a token at a time and attention has one path.
fn exact_pass_tokens(cpu: Cpu) -> usize {
    #[cfg(target_arch = "x86_64")]
    if tile::Family::of(cpu).is_some() {
        return PROMPT_TILE_TOKENS.max(2);
    }
    let _ = cpu;
    1
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::description::{ModelDescription, NetworkDescription};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The tiny llama.cpp-converted Q8_0 GGUF with this CPU's default kernels.
    fn tiny() -> GgufCpuModel {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/tiny-mistral-llamacpp/model-q8_0.gguf");
        let NetworkDescription::Llama(gguf) = ModelDescription::read(&path).unwrap().network else {
            panic!("not a llama GGUF");
        };
        let runner = CpuRunner {
            context: 64,
            isa: Isa::resolve(None).unwrap(),
            kv: KvCacheType::F16,
        };
        let layers = gguf.dims.layers;
        assert!(layers >= 2, "a pass can be abandoned between two blocks");
        GgufCpuModel::load(&path, &gguf, runner, layers).unwrap()
    }

    /// Stop during a long prompt pass: the pass ends between two blocks, the positions cached
    /// before it stay, and the same pass run again gives the logits of one never abandoned.
    #[test]
    fn a_pass_abandoned_between_blocks_leaves_the_cache_as_before_it() {
        let ids: Vec<u32> = (10..34).collect();
        let mut reference = tiny();
        reference.forward(&ids[..12], 0).unwrap();
        let expected = reference.forward(&ids[12..], 12).unwrap();

        let mut model = tiny();
        model.forward(&ids[..12], 0).unwrap();
        assert_eq!(model.cached_tokens(), 12);
        let asked = AtomicUsize::new(0);
        // Asked before each block: abandoned before the second.
        let abandon = || asked.fetch_add(1, Ordering::Relaxed) >= 1;
        assert_eq!(model.forward_until(&ids[12..], 12, &abandon).unwrap(), None);
        assert_eq!(
            asked.load(Ordering::Relaxed),
            2,
            "it stopped at the second block"
        );
        assert_eq!(
            model.cached_tokens(),
            12,
            "nothing of the abandoned pass is cached"
        );
        assert_eq!(model.forward(&ids[12..], 12).unwrap(), expected);
        assert_eq!(model.cached_tokens(), 24);
    }
}
