//! A GGUF (llama.cpp's `llama` architecture, which is how Mistral is stored) on a GPU: candle's
//! `quantized_llama` — its quantized matrix products and kernels, the same arithmetic per
//! output — cut to the dense model this app runs, with the two changes that cut a decode step's
//! ~1,000 kernel launches, which on a GPU cost more than the arithmetic:
//! - grouped-query attention multiplies each key/value head with its group of query heads
//!   directly, instead of copying K and V four times per layer and step (`repeat_kv`: eight
//!   copy kernels per layer);
//! - the MLP's gate and up matrices are one quantized matrix where both have the same type
//!   (every llama.cpp quantization of this model): one product, one activation quantization.
//!
//! candle's own `quantized_llama` stays as `--runner candle` on the CPU; the tests hold this
//! one to it (`tests` below).

use candle_core::quantized::{gguf_file, QMatMul, QStorage, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor, D};
use candle_nn::Embedding;
use candle_transformers::quantized_nn::RmsNorm;
use std::collections::HashMap;

/// Positions covered by the RoPE table (candle's `quantized_llama::MAX_SEQ_LEN`; Mistral's
/// sliding window, so attention within it is exact).
pub const MAX_SEQ_LEN: usize = candle_transformers::models::quantized_llama::MAX_SEQ_LEN;

#[derive(Debug, Clone)]
enum GateUp {
    /// gate's rows, then up's.
    Stacked(QMatMul),
    Separate {
        gate: QMatMul,
        up: QMatMul,
    },
}

#[derive(Debug, Clone)]
struct Layer {
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    wo: QMatMul,
    attention_norm: RmsNorm,
    gate_up: GateUp,
    down: QMatMul,
    ffn_norm: RmsNorm,
    intermediate: usize,
    kv_cache: Option<(Tensor, Tensor)>,
}

/// The dense llama-architecture model of a GGUF file, on any candle device.
#[derive(Debug, Clone)]
pub struct GgufGpuModel {
    tok_embeddings: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: QMatMul,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    cos: Tensor,
    sin: Tensor,
    /// Additive causal masks by (new positions, cached positions).
    masks: HashMap<(usize, usize), Tensor>,
}

/// Two GGUF matrices of one input as one: their quantized rows concatenated (rows are whole
/// blocks, so the bytes of each stay as they are). `None` where the types or widths differ.
fn stacked(a: &QTensor, b: &QTensor, device: &Device) -> Result<Option<QTensor>> {
    let ((a_rows, a_cols), (b_rows, b_cols)) = (a.shape().dims2()?, b.shape().dims2()?);
    if a.dtype() != b.dtype() || a_cols != b_cols {
        return Ok(None);
    }
    let mut bytes = a.data()?.into_owned();
    bytes.extend_from_slice(&b.data()?);
    let storage = QStorage::from_data(std::borrow::Cow::Owned(bytes), device, a.dtype())?;
    Ok(Some(QTensor::new(storage, (a_rows + b_rows, a_cols))?))
}

impl GgufGpuModel {
    pub fn from_gguf<R: std::io::Seek + std::io::Read>(
        ct: gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> Result<Self> {
        let md = |key: &str| match ct.metadata.get(key) {
            None => candle_core::bail!("cannot find {key} in metadata"),
            Some(v) => Ok(v),
        };
        if md("llama.expert_count")
            .and_then(|v| v.to_u32())
            .unwrap_or(0)
            > 1
        {
            candle_core::bail!("mixture-of-experts models are not supported");
        }
        let n_head = md("llama.attention.head_count")?.to_u32()? as usize;
        let n_kv_head = md("llama.attention.head_count_kv")?.to_u32()? as usize;
        let block_count = md("llama.block_count")?.to_u32()? as usize;
        let embedding_length = md("llama.embedding_length")?.to_u32()? as usize;
        let rope_dim = md("llama.rope.dimension_count")?.to_u32()? as usize;
        let eps = md("llama.attention.layer_norm_rms_epsilon")?.to_f32()? as f64;
        let rope_base = md("llama.rope.freq_base")
            .and_then(|m| m.to_f32())
            .unwrap_or(10000f32);
        if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 {
            candle_core::bail!("{n_head} attention heads cannot share {n_kv_head} key/value heads");
        }
        let (cos, sin) = rope_table(rope_dim, rope_base, device)?;

        let tok_embeddings_q = ct.tensor(reader, "token_embd.weight", device)?;
        let tok_embeddings = tok_embeddings_q.dequantize(device)?;
        let norm = RmsNorm::from_qtensor(ct.tensor(reader, "output_norm.weight", device)?, eps)?;
        let output = match ct.tensor(reader, "output.weight", device) {
            Ok(tensor) => tensor,
            Err(_) => tok_embeddings_q,
        };
        let mut layers = Vec::with_capacity(block_count);
        for i in 0..block_count {
            let mut tensor = |name: &str, dev: &Device| {
                ct.tensor(reader, &format!("blk.{i}.{name}.weight"), dev)
            };
            let wq = QMatMul::from_qtensor(tensor("attn_q", device)?)?;
            let wk = QMatMul::from_qtensor(tensor("attn_k", device)?)?;
            let wv = QMatMul::from_qtensor(tensor("attn_v", device)?)?;
            let wo = QMatMul::from_qtensor(tensor("attn_output", device)?)?;
            // Read on the CPU and stacked there: the GPU never holds both halves twice.
            let gate = tensor("ffn_gate", &Device::Cpu)?;
            let up = tensor("ffn_up", &Device::Cpu)?;
            let intermediate = gate.shape().dims2()?.0;
            let gate_up = match stacked(&gate, &up, device)? {
                Some(both) => GateUp::Stacked(QMatMul::from_qtensor(both)?),
                None => GateUp::Separate {
                    gate: QMatMul::from_qtensor(move_to(gate, device)?)?,
                    up: QMatMul::from_qtensor(move_to(up, device)?)?,
                },
            };
            let down = QMatMul::from_qtensor(tensor("ffn_down", device)?)?;
            let attention_norm = RmsNorm::from_qtensor(tensor("attn_norm", device)?, eps)?;
            let ffn_norm = RmsNorm::from_qtensor(tensor("ffn_norm", device)?, eps)?;
            layers.push(Layer {
                wq,
                wk,
                wv,
                wo,
                attention_norm,
                gate_up,
                down,
                ffn_norm,
                intermediate,
                kv_cache: None,
            });
        }
        Ok(Self {
            tok_embeddings: Embedding::new(tok_embeddings, embedding_length),
            layers,
            norm,
            output: QMatMul::from_qtensor(output)?,
            n_head,
            n_kv_head,
            head_dim: embedding_length / n_head,
            cos,
            sin,
            masks: HashMap::new(),
        })
    }

    pub fn clear_kv_cache(&mut self) {
        for layer in self.layers.iter_mut() {
            layer.kv_cache = None;
        }
    }

    /// The logits of the last of `x` (`[1, seq_len]` token ids) at positions from `index_pos`.
    pub fn forward(&mut self, x: &Tensor, index_pos: usize) -> Result<Tensor> {
        let (_b, seq_len) = x.dims2()?;
        let mask = if seq_len == 1 {
            None
        } else {
            let key = (seq_len, index_pos);
            if !self.masks.contains_key(&key) {
                let mask = candle_transformers::utils::build_additive_causal_mask(
                    seq_len,
                    index_pos,
                    None,
                    x.device(),
                    DType::F32,
                )?;
                self.masks.insert(key, mask);
            }
            self.masks.get(&key).cloned()
        };
        let mut xs = self.tok_embeddings.forward(x)?;
        let shape = Heads {
            n_head: self.n_head,
            n_kv_head: self.n_kv_head,
            head_dim: self.head_dim,
        };
        let cos = self.cos.narrow(0, index_pos, seq_len)?;
        let sin = self.sin.narrow(0, index_pos, seq_len)?;
        for layer in self.layers.iter_mut() {
            let residual = &xs;
            let h = layer.attention_norm.forward(&xs)?;
            let h =
                (layer.attention(&h, mask.as_ref(), index_pos, &shape, &cos, &sin)? + residual)?;
            let residual = &h;
            let m = layer.mlp(&layer.ffn_norm.forward(&h)?)?;
            xs = (m + residual)?;
        }
        let xs = self.norm.forward(&xs)?;
        self.output.forward(&xs.i((.., seq_len - 1, ..))?)
    }
}

struct Heads {
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
}

impl Layer {
    fn attention(
        &mut self,
        x: &Tensor,
        mask: Option<&Tensor>,
        index_pos: usize,
        heads: &Heads,
        cos: &Tensor,
        sin: &Tensor,
    ) -> Result<Tensor> {
        let (b, l, n_embd) = x.dims3()?;
        let split = |t: Tensor, n: usize| -> Result<Tensor> {
            t.reshape((b, l, n, heads.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        // llama.cpp's `llama` RoPE: interleaved pairs (2i, 2i+1).
        let q =
            candle_nn::rotary_emb::rope_i(&split(self.wq.forward(x)?, heads.n_head)?, cos, sin)?;
        let k =
            candle_nn::rotary_emb::rope_i(&split(self.wk.forward(x)?, heads.n_kv_head)?, cos, sin)?;
        let v = split(self.wv.forward(x)?, heads.n_kv_head)?;
        let (k, v) = match &self.kv_cache {
            Some((k_cache, v_cache)) if index_pos > 0 => (
                Tensor::cat(&[k_cache, &k], 2)?,
                Tensor::cat(&[v_cache, &v], 2)?,
            ),
            _ => (k, v),
        };
        self.kv_cache = Some((k.clone(), v.clone()));

        // Query heads g·G .. g·G+G-1 read key/value head g: q as [b, kv_heads, G·l, d] is a
        // view of its contiguous heads, and each group is one batched product.
        let group = heads.n_head / heads.n_kv_head;
        let kv_len = k.dim(2)?;
        let q = q.reshape((b, heads.n_kv_head, group * l, heads.head_dim))?;
        let att = (q.matmul(&k.t()?)? / (heads.head_dim as f64).sqrt())?;
        let att = match mask {
            None => att,
            Some(mask) => att
                .reshape((b, heads.n_kv_head, group, l, kv_len))?
                .broadcast_add(mask)?
                .reshape((b, heads.n_kv_head, group * l, kv_len))?,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att
            .matmul(&v)?
            .reshape((b, heads.n_head, l, heads.head_dim))?
            .transpose(1, 2)?
            .reshape((b, l, n_embd))?;
        self.wo.forward(&y)
    }

    fn mlp(&self, x: &Tensor) -> Result<Tensor> {
        let (gate, up) = match &self.gate_up {
            GateUp::Stacked(both) => {
                let both = both.forward(x)?;
                (
                    both.narrow(D::Minus1, 0, self.intermediate)?,
                    both.narrow(D::Minus1, self.intermediate, self.intermediate)?,
                )
            }
            GateUp::Separate { gate, up } => (gate.forward(x)?, up.forward(x)?),
        };
        self.down.forward(&(candle_nn::ops::silu(&gate)? * up)?)
    }
}

fn move_to(t: QTensor, device: &Device) -> Result<QTensor> {
    if device.is_cpu() {
        return Ok(t);
    }
    let storage = QStorage::from_data(t.data()?, device, t.dtype())?;
    QTensor::new(storage, t.shape().clone())
}

fn rope_table(head_dim: usize, base: f32, device: &Device) -> Result<(Tensor, Tensor)> {
    let theta: Vec<_> = (0..head_dim)
        .step_by(2)
        .map(|i| 1f32 / base.powf(i as f32 / head_dim as f32))
        .collect();
    let theta = Tensor::new(theta.as_slice(), device)?;
    let positions = Tensor::arange(0, MAX_SEQ_LEN as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((MAX_SEQ_LEN, 1))?;
    let angles = positions.matmul(&theta.reshape((1, theta.elem_count()))?)?;
    Ok((angles.cos()?, angles.sin()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_transformers::models::quantized_llama;
    use std::path::PathBuf;

    fn fixture(path: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(path)
    }

    fn open(path: &PathBuf) -> (gguf_file::Content, std::fs::File) {
        let mut file = std::fs::File::open(path).unwrap();
        (gguf_file::Content::read(&mut file).unwrap(), file)
    }

    fn logits(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// Against candle's `quantized_llama` on the same file (on the CPU, where both run): a
    /// prompt in two passes (the second attends to the first's cache through the mask), then
    /// single-token steps, within f32 rounding; both Q8_0 and f16 stack gate and up.
    #[test]
    fn matches_candle_quantized_llama() {
        for file in [
            "tiny-mistral-llamacpp/model-q8_0.gguf",
            "tiny-mistral-gguf/model-f16.gguf",
        ] {
            let path = fixture(file);
            let (ct, mut reader) = open(&path);
            let mut ours = GgufGpuModel::from_gguf(ct, &mut reader, &Device::Cpu).unwrap();
            assert!(ours
                .layers
                .iter()
                .all(|l| matches!(l.gate_up, GateUp::Stacked(_))));
            let (ct, mut reader) = open(&path);
            let mut theirs =
                quantized_llama::ModelWeights::from_gguf(ct, &mut reader, &Device::Cpu).unwrap();
            let ids = [1u32, 330, 2934, 28705, 9000, 17, 4, 2345, 88, 12];
            let steps: [(usize, usize); 5] = [(0, 6), (6, 3), (9, 1), (10, 1), (11, 1)];
            let mut next = ids.to_vec();
            next.extend([500, 501]);
            for (pos, len) in steps {
                let input = Tensor::new(&next[pos..pos + len], &Device::Cpu)
                    .unwrap()
                    .unsqueeze(0)
                    .unwrap();
                let (a, b) = (
                    logits(&ours.forward(&input, pos).unwrap()),
                    logits(&theirs.forward(&input, pos).unwrap()),
                );
                assert_eq!(a.len(), b.len());
                let worst = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst < 1e-4,
                    "{file} at {pos}+{len}: max difference {worst}"
                );
            }
        }
    }
}
