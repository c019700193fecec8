//! A GGUF split between the CPU and a GPU, like llama.cpp's `-ngl`: for a GPU too small for
//! the whole model, the first blocks run on the CPU in our memory-mapped runner (`gguf_cpu`,
//! its fast kernels, the weights read in place) and the last ones, the output norm and the
//! output head on the GPU in candle's quantized kernels. Each step hands the GPU the hidden
//! states of the step's tokens (16 KiB per token on a 7B), and takes back one row of logits.
//!
//! The GPU half is candle 0.11.1's `quantized_llama` (same operations in the same order, the
//! interleaved RoPE of the llama architecture, the KV cache grown by concatenation), restricted
//! to a range of blocks: candle's `ModelWeights` keeps its layers private and always starts
//! from the token embedding, hence this copy of its layer code. The tests run the GPU half on
//! candle's CPU device against the whole model in either runner.

use crate::description::LlamaGguf;
use crate::error::{EngineError, Result};
use crate::gguf_cpu::{CpuRunner, GgufCpuModel};
use candle_core::quantized::QMatMul;
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use candle_transformers::utils::{build_causal_mask, repeat_kv};
use std::path::Path;

/// The two halves of a split network.
pub(crate) struct SplitGguf {
    cpu: GgufCpuModel,
    gpu: DeviceBlocks,
}

impl SplitGguf {
    /// Loads `path` (described and checked as `gguf`) with its last `device_blocks` blocks,
    /// the output norm and the head on `device` and the others on the CPU, run as `runner`
    /// says. `device_blocks` must leave at least one block on each side (0 is the CPU plan,
    /// all of them the GPU's).
    pub fn load(
        path: &Path,
        gguf: &LlamaGguf,
        runner: CpuRunner,
        device_blocks: usize,
        device: &Device,
    ) -> Result<Self> {
        let layers = gguf.dims.layers;
        if device_blocks == 0 || device_blocks >= layers {
            return Err(EngineError::invalid(
                "gpu_layers",
                format!(
                    "a split needs at least one block on each side: between 1 and {}. Given: \
                     {device_blocks}",
                    layers.saturating_sub(1)
                ),
            ));
        }
        let cpu_blocks = layers - device_blocks;
        let cpu = GgufCpuModel::load(path, gguf, runner, cpu_blocks)?;
        let gpu = DeviceBlocks::load(path, gguf, cpu_blocks..layers, runner.context, device)
            .map_err(|e| crate::error::load_failed(path, &e, ""))?;
        Ok(Self { cpu, gpu })
    }

    /// Runs `ids` at positions `pos..pos+len` and returns the logits of the last one.
    pub fn forward(&mut self, ids: &[u32], pos: usize) -> Result<Vec<f32>> {
        let hidden = self.cpu.hidden(ids, pos)?;
        Ok(self.gpu.forward(hidden, ids.len(), pos)?)
    }

    /// Blocks on the GPU.
    #[cfg(test)]
    pub fn device_blocks(&self) -> usize {
        self.gpu.blocks.len()
    }

    pub fn clear_kv_cache(&mut self) {
        self.cpu.clear_kv_cache();
        for block in &mut self.gpu.blocks {
            block.kv = None;
        }
    }
}

/// One transformer block in candle's quantized kernels.
struct Block {
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    wo: QMatMul,
    attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
    /// Keys and values of every position so far, `(1, kv_heads, positions, head_dim)`.
    kv: Option<(Tensor, Tensor)>,
}

/// The last blocks, the output norm and the head, on one candle device.
struct DeviceBlocks {
    blocks: Vec<Block>,
    norm: RmsNorm,
    output: QMatMul,
    cos: Tensor,
    sin: Tensor,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    hidden: usize,
    device: Device,
}

impl DeviceBlocks {
    /// Reads blocks `range` (and the head) from the file onto `device`.
    fn load(
        path: &Path,
        gguf: &LlamaGguf,
        range: std::ops::Range<usize>,
        context: usize,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let d = gguf.dims;
        // Our reader has already proved the header; candle's reads the tensors.
        let content = crate::model::read_gguf_header(path)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let file = std::fs::File::open(path)?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut tensor = |name: &str| content.tensor(&mut reader, name, device);
        let eps = f64::from(d.rms_eps);
        let mut blocks = Vec::with_capacity(range.len());
        for i in range {
            let mut matmul =
                |s: &str| QMatMul::from_qtensor(tensor(&format!("blk.{i}.{s}.weight"))?);
            let (wq, wk, wv, wo) = (
                matmul("attn_q")?,
                matmul("attn_k")?,
                matmul("attn_v")?,
                matmul("attn_output")?,
            );
            let (gate, up, down) = (matmul("ffn_gate")?, matmul("ffn_up")?, matmul("ffn_down")?);
            let attn_norm =
                RmsNorm::from_qtensor(tensor(&format!("blk.{i}.attn_norm.weight"))?, eps)?;
            let ffn_norm =
                RmsNorm::from_qtensor(tensor(&format!("blk.{i}.ffn_norm.weight"))?, eps)?;
            blocks.push(Block {
                wq,
                wk,
                wv,
                wo,
                attn_norm,
                ffn_norm,
                gate,
                up,
                down,
                kv: None,
            });
        }
        let norm = RmsNorm::from_qtensor(tensor("output_norm.weight")?, eps)?;
        let head = if d.tied_output {
            "token_embd.weight"
        } else {
            "output.weight"
        };
        let output = QMatMul::from_qtensor(tensor(head)?)?;
        let (cos, sin) = rope_tables(d.head_dim, d.rope_base, context, device)?;
        Ok(Self {
            blocks,
            norm,
            output,
            cos,
            sin,
            heads: d.heads,
            kv_heads: d.kv_heads,
            head_dim: d.head_dim,
            hidden: d.hidden,
            device: device.clone(),
        })
    }

    /// `hidden`: the CPU half's output for `len` tokens at positions `pos..`; returns the
    /// logits of the last token.
    fn forward(
        &mut self,
        hidden: Vec<f32>,
        len: usize,
        pos: usize,
    ) -> candle_core::Result<Vec<f32>> {
        let mut x = Tensor::from_vec(hidden, (1, len, self.hidden), &self.device)?;
        let mask = if len == 1 {
            None
        } else {
            Some(build_causal_mask(len, pos, &self.device)?)
        };
        let (cos, sin) = (self.cos.narrow(0, pos, len)?, self.sin.narrow(0, pos, len)?);
        let shape = Shape {
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
        };
        for block in &mut self.blocks {
            let residual = &x;
            let h = block.attn_norm.forward(&x)?;
            let attn = block.attention(&h, mask.as_ref(), pos, &cos, &sin, shape)?;
            let x1 = (attn + residual)?;
            let h = block.ffn_norm.forward(&x1)?;
            let gate = candle_nn::ops::silu(&block.gate.forward(&h)?)?;
            let mlp = block.down.forward(&(gate * block.up.forward(&h)?)?)?;
            x = (mlp + x1)?;
        }
        let last = self.norm.forward(&x)?.i((.., len - 1, ..))?;
        self.output
            .forward(&last)?
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()
    }
}

#[derive(Clone, Copy)]
struct Shape {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl Block {
    /// Attention over every position so far, as candle's `quantized_llama` computes it.
    fn attention(
        &mut self,
        x: &Tensor,
        mask: Option<&Tensor>,
        pos: usize,
        cos: &Tensor,
        sin: &Tensor,
        s: Shape,
    ) -> candle_core::Result<Tensor> {
        let (b, len, hidden) = x.dims3()?;
        let split =
            |t: Tensor, heads: usize| t.reshape((b, len, heads, s.head_dim))?.transpose(1, 2);
        let q = split(self.wq.forward(x)?, s.heads)?;
        let k = split(self.wk.forward(x)?, s.kv_heads)?;
        let v = split(self.wv.forward(x)?, s.kv_heads)?.contiguous()?;
        let q = candle_nn::rotary_emb::rope_i(&q.contiguous()?, cos, sin)?;
        let k = candle_nn::rotary_emb::rope_i(&k.contiguous()?, cos, sin)?;
        let (k, v) = match (&self.kv, pos) {
            (Some((k_cache, v_cache)), p) if p > 0 => {
                // Positions are the CPU half's (a cache by position): a step repeated after
                // one that failed past this block, or an earlier position, keeps the first
                // `p` here too rather than attending to stale keys.
                let cached = k_cache.dim(2)?;
                if cached < p {
                    candle_core::bail!("the GPU's cache holds {cached} positions; a step at {p}");
                }
                let (k_cache, v_cache) = (k_cache.narrow(2, 0, p)?, v_cache.narrow(2, 0, p)?);
                (
                    Tensor::cat(&[&k_cache, &k], 2)?,
                    Tensor::cat(&[&v_cache, &v], 2)?,
                )
            }
            _ => (k, v),
        };
        self.kv = Some((k.clone(), v.clone()));
        let k = repeat_kv(k, s.heads / s.kv_heads)?;
        let v = repeat_kv(v, s.heads / s.kv_heads)?;
        let att = (q.matmul(&k.t()?)? / (s.head_dim as f64).sqrt())?;
        let att = match mask {
            None => att,
            Some(mask) => {
                let mask = mask.broadcast_as(att.shape())?;
                let neg_inf =
                    Tensor::new(f32::NEG_INFINITY, att.device())?.broadcast_as(att.shape())?;
                mask.where_cond(&neg_inf, &att)?
            }
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v.contiguous()?)?;
        let y = y.transpose(1, 2)?.reshape((b, len, hidden))?;
        self.wo.forward(&y)
    }
}

/// RoPE's cosines and sines for `positions` positions, as candle's `quantized_llama` builds
/// them (f32, `base^(-2i/head_dim)`).
fn rope_tables(
    head_dim: usize,
    base: f32,
    positions: usize,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let theta: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1f32 / base.powf(i as f32 / head_dim as f32))
        .collect();
    let theta = Tensor::new(theta.as_slice(), device)?;
    let angles = Tensor::arange(0, positions as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((positions, 1))?
        .matmul(&theta.reshape((1, head_dim / 2))?)?;
    Ok((angles.cos()?, angles.sin()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::description::{ModelDescription, NetworkDescription};
    use crate::files::WeightsFormat;

    /// The tiny Q8_0 GGUF: beside the sources, or (the test binary carried to a GPU machine
    /// by `scripts/gpu-check.sh`, which runs it from the repository's root) under the current
    /// directory.
    fn fixture() -> std::path::PathBuf {
        let file = "tests/fixtures/tiny-mistral-llamacpp/model-q8_0.gguf";
        let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(file);
        if built.exists() {
            built
        } else {
            file.into()
        }
    }

    fn describe(path: &Path) -> LlamaGguf {
        let description = ModelDescription::read(path).unwrap();
        match (description.network, description.weights) {
            (NetworkDescription::Llama(gguf), WeightsFormat::Gguf { .. }) => gguf,
            _ => panic!("not a llama GGUF"),
        }
    }

    /// Portable kernels, an f16 cache.
    fn runner(context: usize) -> CpuRunner {
        CpuRunner {
            context,
            isa: crate::isa::Isa::Generic,
            kv: crate::gguf_cpu::KvCacheType::F16,
        }
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    }

    /// The prompt in two passes (the second attends to the first's cache through a
    /// rectangular mask), then one token per step at the following positions; returns the
    /// logits of the prompt's last token and of every step.
    fn run(
        forward: &mut dyn FnMut(&[u32], usize) -> Vec<f32>,
        prompt: &[u32],
        next: &[u32],
    ) -> Vec<Vec<f32>> {
        let half = prompt.len() / 2;
        forward(&prompt[..half], 0);
        let mut all = vec![forward(&prompt[half..], half)];
        for (i, &id) in next.iter().enumerate() {
            all.push(forward(&[id], prompt.len() + i));
        }
        all
    }

    fn argmax(logits: &[f32]) -> u32 {
        (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap() as u32
    }

    /// The whole model's greedy continuation of `prompt`, `steps` tokens.
    fn greedy(model: &mut GgufCpuModel, prompt: &[u32], steps: usize) -> Vec<u32> {
        let mut next = vec![argmax(&model.forward(prompt, 0).unwrap())];
        while next.len() < steps {
            let pos = prompt.len() + next.len() - 1;
            next.push(argmax(
                &model.forward(&next[next.len() - 1..], pos).unwrap(),
            ));
        }
        next
    }

    /// Every split point of the tiny model with its GPU half on `device`, fed the whole
    /// model's greedy continuation: the same greedy choice at every step, with logits no
    /// farther from the whole model in our runner than candle's whole model on `device` is
    /// (the halves' kernels quantize activations differently).
    fn check_every_split(device: &Device) {
        let path = fixture();
        let gguf = describe(&path);
        let layers = gguf.dims.layers;
        assert!(layers >= 2, "the fixture needs two blocks to split");
        let prompt: Vec<u32> = (0..7).map(|i| 100 + 37 * i).collect();
        let context = 64;
        let mut whole = GgufCpuModel::load(&path, &gguf, runner(context), layers).unwrap();
        let next = greedy(&mut whole, &prompt, 6);
        let want = run(
            &mut |ids, pos| whole.forward(ids, pos).unwrap(),
            &prompt,
            &next,
        );
        let mut candle = crate::model::load_candle_llama(&path, device).unwrap();
        let theirs = run(
            &mut |ids, pos| {
                let input = Tensor::new(ids, device).unwrap().unsqueeze(0).unwrap();
                let logits = candle.forward(&input, pos).unwrap();
                logits.flatten_all().unwrap().to_vec1().unwrap()
            },
            &prompt,
            &next,
        );
        let scale = want[0].iter().fold(0f32, |a, v| a.max(v.abs()));
        let candle_off = want
            .iter()
            .zip(&theirs)
            .map(|(a, b)| max_diff(a, b))
            .fold(0f32, f32::max);
        for device_blocks in 1..layers {
            let mut split =
                SplitGguf::load(&path, &gguf, runner(context), device_blocks, device).unwrap();
            assert_eq!(split.device_blocks(), device_blocks);
            let got = run(
                &mut |ids, pos| split.forward(ids, pos).unwrap(),
                &prompt,
                &next,
            );
            let tokens: Vec<u32> = got.iter().map(|l| argmax(l)).collect();
            assert_eq!(
                tokens[..next.len()],
                next[..],
                "{device_blocks}: other greedy tokens"
            );
            let off = want
                .iter()
                .zip(&got)
                .map(|(a, b)| max_diff(a, b))
                .fold(0f32, f32::max);
            assert!(
                off <= candle_off + 0.01 * scale,
                "{device_blocks} blocks on the device: max |Δlogit| {off} (candle's whole model \
                 {candle_off}, scale {scale})"
            );
            // Starting over (a new generation) forgets the previous positions on both sides.
            split.clear_kv_cache();
            let again = run(
                &mut |ids, pos| split.forward(ids, pos).unwrap(),
                &prompt,
                &next,
            );
            assert_eq!(again, got, "{device_blocks}: a second run differs");
        }
    }

    #[test]
    fn every_split_tracks_the_whole_model() {
        check_every_split(&Device::Cpu);
    }

    /// The same on a real GPU, where there is one (the GPU check runs the engine's `cuda_`
    /// tests); without one there is nothing to run and the test says so.
    #[test]
    fn cuda_split_tracks_the_whole_model() {
        match Device::new_cuda(0) {
            Ok(device) => check_every_split(&device),
            Err(_) => eprintln!("no CUDA device: the split not run on a GPU"),
        }
    }

    /// A step run again at the same position (after one that failed) gives the same logits,
    /// as the CPU runner's positional cache does; a step past the cache is an error.
    #[test]
    fn a_repeated_step_does_not_see_its_first_try() {
        let path = fixture();
        let gguf = describe(&path);
        let mut split = SplitGguf::load(&path, &gguf, runner(64), 1, &Device::Cpu).unwrap();
        let prompt: Vec<u32> = (0..5).map(|i| 200 + 11 * i).collect();
        split.forward(&prompt, 0).unwrap();
        let first = split.forward(&[42], 5).unwrap();
        let again = split.forward(&[42], 5).unwrap();
        assert_eq!(first, again);
        assert!(split.forward(&[42], 9).is_err(), "a gap in the positions");
    }

    #[test]
    fn a_split_keeps_a_block_on_each_side() {
        let path = fixture();
        let gguf = describe(&path);
        let layers = gguf.dims.layers;
        for device_blocks in [0, layers, layers + 1] {
            let err = SplitGguf::load(&path, &gguf, runner(64), device_blocks, &Device::Cpu)
                .err()
                .unwrap_or_else(|| panic!("{device_blocks} blocks accepted"));
            assert_eq!(err.code(), jslm_core::ErrorCode::InvalidSetting, "{err}");
        }
    }

    /// A split's CPU half maps the embedding and its own blocks' matrices in, nothing of the
    /// GPU's blocks or the head (which the GPU half reads from the file itself).
    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn the_cpu_half_reads_only_its_own_tensors() {
        let path = fixture();
        let gguf = describe(&path);
        let layers = gguf.dims.layers;
        let cpu = GgufCpuModel::load(&path, &gguf, runner(64), 1).unwrap();
        let ranges = cpu.file_ranges(false);
        let read = |name: &str| {
            let t = &gguf.tensors[name];
            let (start, end) = (t.offset as usize, (t.offset + t.byte_size) as usize);
            let covered = ranges.iter().any(|r| r.start <= start && end <= r.end);
            let touched = ranges.iter().any(|r| r.start < end && start < r.end);
            assert_eq!(covered, touched, "{name} is partly in the ranges");
            covered
        };
        assert!(read("token_embd.weight"));
        for t in [
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
        ] {
            assert!(read(&format!("blk.0.{t}.weight")), "blk.0.{t}");
            for layer in 1..layers {
                assert!(!read(&format!("blk.{layer}.{t}.weight")), "blk.{layer}.{t}");
            }
        }
        assert!(!read("output.weight"));
        assert_eq!(
            cpu.file_ranges(true),
            vec![0..usize::MAX],
            "the whole model reads all"
        );
    }
}
