//! A GGUF writer for tests that writes exactly what it is told, including what no honest
//! writer would (dimensions of 2^57, offsets that wrap, alignment 0, metadata that disagrees
//! with the tensors), and records where each numeric field of the header lies so that the
//! mutation test can aim at them. Shared by the engine's unit tests (`gguf_header.rs` includes
//! it by path) and its integration tests; it depends on nothing but `std`.
#![allow(dead_code)]

/// ggml type ids used here.
pub const F32: u32 = 0;
pub const Q4_1: u32 = 3;
pub const Q8_0: u32 = 8;
pub const Q8K: u32 = 15;

/// A metadata value.
#[derive(Debug, Clone)]
pub enum Meta {
    U32(u32),
    I32(i32),
    U64(u64),
    F32(f32),
    Str(String),
    StrArray(Vec<String>),
    /// Any value: its type id and raw bytes.
    Raw(u32, Vec<u8>),
}

/// A tensor: name, dimensions in GGUF order (innermost first) and type. `offset` overrides
/// the offset written (relative to the data section); `data` overrides the bytes laid out.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub type_id: u32,
    pub offset: Option<u64>,
    pub data: Option<Vec<u8>>,
}

/// Where a numeric field of the written header lies.
#[derive(Debug, Clone)]
pub struct Field {
    pub at: usize,
    /// 4 or 8 bytes.
    pub width: usize,
    pub what: String,
}

#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    pub metadata: Vec<(String, Meta)>,
    pub tensors: Vec<Tensor>,
    /// Alignment used to lay the data out (independent of any `general.alignment` key, so a
    /// test can make the two disagree).
    pub layout_alignment: u64,
}

/// Bytes of `dims` of `type_id`, or `None` when it overflows or the type is unknown here.
pub fn natural_size(dims: &[u64], type_id: u32) -> Option<u64> {
    let (block, bytes) = match type_id {
        F32 => (1, 4),
        Q4_1 => (32, 20),
        Q8_0 => (32, 34),
        Q8K => (256, 292),
        _ => return None,
    };
    let elems = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
    (elems / block).checked_mul(bytes)
}

/// Deterministic bytes that are valid data of `type_id`: small floats, Q8_0 blocks with a
/// small f16 scale.
pub fn fill(len: usize, type_id: u32, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(len);
    match type_id {
        F32 => {
            while out.len() + 4 <= len {
                let v = ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2;
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Q8_0 => {
            while out.len() + 34 <= len {
                out.extend_from_slice(&0x2000u16.to_le_bytes()); // f16 0.0078
                for _ in 0..32 {
                    out.push(next() as u8);
                }
            }
        }
        _ => {}
    }
    while out.len() < len {
        out.push(next() as u8);
    }
    out
}

impl Gguf {
    pub fn to_bytes(&self) -> (Vec<u8>, Vec<Field>) {
        let mut b = Vec::new();
        let mut fields = Vec::new();
        let mut field = |b: &mut Vec<u8>, bytes: &[u8], what: String| {
            fields.push(Field {
                at: b.len(),
                width: bytes.len(),
                what,
            });
            b.extend_from_slice(bytes);
        };
        b.extend_from_slice(b"GGUF");
        field(&mut b, &self.version.to_le_bytes(), "version".into());
        field(
            &mut b,
            &(self.tensors.len() as u64).to_le_bytes(),
            "tensor count".into(),
        );
        field(
            &mut b,
            &(self.metadata.len() as u64).to_le_bytes(),
            "metadata count".into(),
        );
        for (key, value) in &self.metadata {
            field(
                &mut b,
                &(key.len() as u64).to_le_bytes(),
                format!("length of key {key}"),
            );
            b.extend_from_slice(key.as_bytes());
            let (type_id, bytes): (u32, Vec<u8>) = match value {
                Meta::U32(v) => (4, v.to_le_bytes().to_vec()),
                Meta::I32(v) => (5, v.to_le_bytes().to_vec()),
                Meta::U64(v) => (10, v.to_le_bytes().to_vec()),
                Meta::F32(v) => (6, v.to_le_bytes().to_vec()),
                Meta::Str(s) => {
                    let mut v = (s.len() as u64).to_le_bytes().to_vec();
                    v.extend_from_slice(s.as_bytes());
                    (8, v)
                }
                Meta::StrArray(items) => {
                    let mut v = 8u32.to_le_bytes().to_vec();
                    v.extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for s in items {
                        v.extend_from_slice(&(s.len() as u64).to_le_bytes());
                        v.extend_from_slice(s.as_bytes());
                    }
                    (9, v)
                }
                Meta::Raw(t, bytes) => (*t, bytes.clone()),
            };
            field(&mut b, &type_id.to_le_bytes(), format!("type of key {key}"));
            match value {
                Meta::U32(_) | Meta::I32(_) | Meta::U64(_) => {
                    field(&mut b, &bytes, format!("value of key {key}"))
                }
                Meta::Str(_) => {
                    field(&mut b, &bytes[..8], format!("string length of key {key}"));
                    b.extend_from_slice(&bytes[8..]);
                }
                Meta::StrArray(_) => {
                    field(&mut b, &bytes[..4], format!("element type of key {key}"));
                    field(&mut b, &bytes[4..12], format!("array length of key {key}"));
                    b.extend_from_slice(&bytes[12..]);
                }
                _ => b.extend_from_slice(&bytes),
            }
        }
        // Offsets as an honest writer lays them out, unless overridden.
        let align = self.layout_alignment.max(1);
        let mut next = 0u64;
        let mut layout = Vec::new();
        for t in &self.tensors {
            let len = match &t.data {
                Some(d) => d.len() as u64,
                None => natural_size(&t.dims, t.type_id)
                    .filter(|&n| n < (1 << 26))
                    .unwrap_or(0),
            };
            let offset = t.offset.unwrap_or(next);
            layout.push((next, len));
            next = (next + len).div_ceil(align) * align;
            field(
                &mut b,
                &(t.name.len() as u64).to_le_bytes(),
                format!("name length of {}", t.name),
            );
            b.extend_from_slice(t.name.as_bytes());
            field(
                &mut b,
                &(t.dims.len() as u32).to_le_bytes(),
                format!("dimension count of {}", t.name),
            );
            for (i, d) in t.dims.iter().enumerate() {
                field(
                    &mut b,
                    &d.to_le_bytes(),
                    format!("dimension {i} of {}", t.name),
                );
            }
            field(
                &mut b,
                &t.type_id.to_le_bytes(),
                format!("type of {}", t.name),
            );
            field(
                &mut b,
                &offset.to_le_bytes(),
                format!("offset of {}", t.name),
            );
        }
        let data_start = (b.len() as u64).div_ceil(align) * align;
        if data_start > b.len() as u64 + (1 << 20) {
            // A huge layout alignment: no data section at all.
            return (b, fields);
        }
        b.resize(data_start as usize, 0);
        for (i, (t, (at, len))) in self.tensors.iter().zip(layout).enumerate() {
            let at = (data_start + at) as usize;
            if b.len() < at {
                b.resize(at, 0);
            }
            let data = match &t.data {
                Some(d) => d.clone(),
                None => fill(len as usize, t.type_id, i as u64 + 1),
            };
            b.extend_from_slice(&data);
        }
        (b, fields)
    }

    /// Where the data section starts in [`Self::to_bytes`]'s output.
    pub fn data_start(&self) -> u64 {
        let (_, fields) = self.to_bytes();
        let header_end = fields.last().map(|f| (f.at + f.width) as u64).unwrap_or(0);
        let align = self.layout_alignment.max(1);
        header_end.div_ceil(align) * align
    }

    pub fn write(&self, path: &std::path::Path) -> Vec<Field> {
        let (bytes, fields) = self.to_bytes();
        std::fs::write(path, bytes).expect("write gguf");
        fields
    }

    pub fn set_meta(&mut self, key: &str, value: Meta) {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.metadata.push((key.to_string(), value)),
        }
    }

    pub fn remove_meta(&mut self, key: &str) {
        self.metadata.retain(|(k, _)| k != key);
    }

    pub fn tensor_mut(&mut self, name: &str) -> &mut Tensor {
        self.tensors
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }
}

/// The shape of [`tiny_llama`].
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub vocab: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub ffn: u64,
    pub layers: u64,
}

/// A tiny Mistral-shaped llama GGUF (hidden 32, 4 heads of 8, 2 KV heads, ffn 64, 2 layers):
/// Q8_0 matrices, f32 norms, about `vocab × 70` bytes plus 20 KB.
pub const TINY: Shape = Shape {
    vocab: 64,
    hidden: 32,
    heads: 4,
    kv_heads: 2,
    ffn: 64,
    layers: 2,
};

pub fn tiny_llama(s: Shape) -> Gguf {
    let head_dim = s.hidden / s.heads;
    let kv = s.kv_heads * head_dim;
    let metadata = vec![
        (
            "general.architecture".to_string(),
            Meta::Str("llama".into()),
        ),
        ("general.name".to_string(), Meta::Str("tiny".into())),
        ("llama.context_length".to_string(), Meta::U32(256)),
        (
            "llama.embedding_length".to_string(),
            Meta::U32(s.hidden as u32),
        ),
        ("llama.block_count".to_string(), Meta::U32(s.layers as u32)),
        (
            "llama.feed_forward_length".to_string(),
            Meta::U32(s.ffn as u32),
        ),
        (
            "llama.rope.dimension_count".to_string(),
            Meta::U32(head_dim as u32),
        ),
        (
            "llama.attention.head_count".to_string(),
            Meta::U32(s.heads as u32),
        ),
        (
            "llama.attention.head_count_kv".to_string(),
            Meta::U32(s.kv_heads as u32),
        ),
        (
            "llama.attention.layer_norm_rms_epsilon".to_string(),
            Meta::F32(1e-5),
        ),
        ("llama.rope.freq_base".to_string(), Meta::F32(10_000.0)),
        ("general.alignment".to_string(), Meta::U32(32)),
    ];
    let t = |name: String, dims: Vec<u64>, type_id: u32| Tensor {
        name,
        dims,
        type_id,
        offset: None,
        data: None,
    };
    // GGUF order: innermost (row length) first.
    let mut tensors = vec![t("token_embd.weight".into(), vec![s.hidden, s.vocab], Q8_0)];
    for i in 0..s.layers {
        let n = |p: &str| format!("blk.{i}.{p}.weight");
        tensors.extend([
            t(n("attn_norm"), vec![s.hidden], F32),
            t(n("attn_q"), vec![s.hidden, s.hidden], Q8_0),
            t(n("attn_k"), vec![s.hidden, kv], Q8_0),
            t(n("attn_v"), vec![s.hidden, kv], Q8_0),
            t(n("attn_output"), vec![s.hidden, s.hidden], Q8_0),
            t(n("ffn_norm"), vec![s.hidden], F32),
            t(n("ffn_gate"), vec![s.hidden, s.ffn], Q8_0),
            t(n("ffn_up"), vec![s.hidden, s.ffn], Q8_0),
            t(n("ffn_down"), vec![s.ffn, s.hidden], Q8_0),
        ]);
    }
    tensors.push(t("output_norm.weight".into(), vec![s.hidden], F32));
    tensors.push(t("output.weight".into(), vec![s.hidden, s.vocab], Q8_0));
    Gguf {
        version: 3,
        metadata,
        tensors,
        layout_alignment: 32,
    }
}
