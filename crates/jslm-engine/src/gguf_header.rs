//! Our own bounded reader of a GGUF header, and the check that a llama-architecture file's
//! tensors are exactly what its metadata says. Model files come from strangers, so nothing in
//! them is trusted until it is proven against the file itself:
//!
//! - every count and length is bounded by the bytes left in the file *before* anything is
//!   allocated from it (a 1 KiB file cannot make us allocate a GiB);
//! - every size is computed with checked `u64` arithmetic (a tensor whose byte count wraps is
//!   refused, not "small");
//! - the alignment is a power of two; every dimension is non-zero; every tensor's offset is
//!   aligned and `offset + size` lies inside the data section; tensors do not overlap;
//! - keys and tensor names are unique, valid UTF-8 without NUL (so candle's reader, which
//!   strips NULs and keeps the last duplicate, cannot see a different file than we do).
//!
//! Anything else is an [`EngineError::InvalidFile`] (`invalid_file`) that names the file and
//! the key or tensor at fault. The engine still parses with candle's
//! `gguf_file::Content::read` afterwards (its tensor loaders take that type), but only files
//! this module accepted, and [`check_candle_agrees`] proves both readers saw the same layout.
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>; the checks follow
//! llama.cpp's `gguf.cpp` (`gguf_init_from_file_impl`). Versions 2 and 3 are read (version 1,
//! with 32-bit lengths, predates every Mistral GGUF).

use crate::error::{EngineError, Result};
use candle_core::quantized::{gguf_file, GgmlDType};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The alignment of the data section when `general.alignment` is absent (the spec's default).
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Longest string value: 16 MiB (a chat template is ~10 KB; llama.cpp allows 1 GiB, but no
/// metadata string of a real model comes near this).
const MAX_STRING_BYTES: u64 = 16 << 20;
/// Longest key: the spec's 2^16 − 1 bytes.
const MAX_KEY_BYTES: u64 = (1 << 16) - 1;
/// Longest tensor name: ggml's `GGML_MAX_NAME` is 64; 256 leaves room for other writers.
const MAX_TENSOR_NAME_BYTES: u64 = 256;
/// Most tensors and metadata entries (a 7B llama has 291 tensors and ~25 keys).
const MAX_TENSORS: u64 = 1 << 16;
const MAX_METADATA: u64 = 1 << 16;
/// Most elements in one metadata array (Gemma's vocabulary, the largest in use, has 256,000):
/// each string element costs 24 bytes of memory besides its text, however short it is.
const MAX_ARRAY_ELEMENTS: u64 = 1 << 24;
/// ggml's `GGML_MAX_DIMS`.
const MAX_DIMS: u32 = 4;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(GgufArray),
}

/// A metadata array, stored typed so that its memory is the size it has in the file (an
/// array of enum values would be 16–32× larger than its bytes on disk). Nested arrays are
/// refused: no llama.cpp writer produces them.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufArray {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    String(Vec<String>),
}

impl GgufArray {
    pub fn len(&self) -> usize {
        match self {
            Self::U8(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::U32(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::U64(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::String(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl GgufValue {
    /// The GGUF type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::U8(_) => "u8",
            Self::I8(_) => "i8",
            Self::U16(_) => "u16",
            Self::I16(_) => "i16",
            Self::U32(_) => "u32",
            Self::I32(_) => "i32",
            Self::U64(_) => "u64",
            Self::I64(_) => "i64",
            Self::F32(_) => "f32",
            Self::F64(_) => "f64",
            Self::Bool(_) => "bool",
            Self::String(_) => "string",
            Self::Array(_) => "array",
        }
    }

    /// The value as a non-negative integer, whatever its integer type.
    fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
}

/// One tensor, with its place in the file proven: `offset + byte_size <= file_len`.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTensor {
    pub name: String,
    /// Dimensions outermost first (rows, then columns), as candle's `Shape` and PyTorch order
    /// them; GGUF itself stores them innermost first. Every one is at least 1.
    pub dims: Vec<u64>,
    pub dtype: GgmlDType,
    /// Absolute byte offset of the data in the file (aligned to the header's alignment).
    pub offset: u64,
    /// Bytes of data: elements / block size × block bytes.
    pub byte_size: u64,
}

impl GgufTensor {
    /// Number of elements (proven not to overflow when the header was read).
    pub fn elem_count(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A GGUF header whose every count, size and offset was checked against the file.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    /// The file, for error messages.
    pub path: PathBuf,
    /// 2 or 3.
    pub version: u32,
    /// A power of two (`general.alignment`, default [`DEFAULT_ALIGNMENT`]).
    pub alignment: u64,
    pub metadata: BTreeMap<String, GgufValue>,
    /// In file order.
    pub tensors: Vec<GgufTensor>,
    /// Where the data section starts (end of the header, rounded up to `alignment`).
    pub data_offset: u64,
    pub file_len: u64,
}

/// Reads and checks the header of the GGUF at `path` (see the module docs for what is
/// checked). Reads only the header, never the tensor data.
pub fn read_gguf(path: &Path) -> Result<GgufHeader> {
    let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| EngineError::io(path, e))?.len();
    let mut r = Reader {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        pos: 0,
        len: file_len,
        path,
    };
    let magic = r.bytes(4, || "the magic".into())?;
    if magic != b"GGUF" {
        return Err(r.bad(format!(
            "not a GGUF file (starts with {magic:02x?}, not \"GGUF\")"
        )));
    }
    let version = r.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(r.bad(format!(
            "GGUF version {version} is not supported (versions 2 and 3 are)"
        )));
    }
    let tensor_count = r.u64("the tensor count")?;
    let kv_count = r.u64("the metadata count")?;
    // Each tensor info takes at least 8 + 1 + 4 + 8 + 4 + 8 bytes, each metadata entry at least
    // 8 + 1 + 4 + 1: counts the rest of the file cannot hold are refused before any allocation.
    let min_bytes = tensor_count
        .checked_mul(33)
        .and_then(|t| kv_count.checked_mul(14).and_then(|k| t.checked_add(k)));
    if tensor_count > MAX_TENSORS
        || kv_count > MAX_METADATA
        || min_bytes.is_none_or(|b| b > r.remaining())
    {
        return Err(r.bad(format!(
            "the header declares {tensor_count} tensors and {kv_count} metadata entries, more \
             than the file's {file_len} bytes can hold (or more than {MAX_TENSORS})"
        )));
    }

    let mut metadata = BTreeMap::new();
    for _ in 0..kv_count {
        let key = r.name(MAX_KEY_BYTES, "a metadata key")?;
        let value = r.value(&key)?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(r.bad(format!("metadata key `{key}` appears twice")));
        }
    }

    let mut tensors: Vec<GgufTensor> = Vec::with_capacity(tensor_count as usize);
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..tensor_count {
        let name = r.name(MAX_TENSOR_NAME_BYTES, "a tensor name")?;
        if !names.insert(name.clone()) {
            return Err(r.bad(format!("tensor `{name}` appears twice")));
        }
        let n_dims = r.u32(&format!("the dimension count of tensor `{name}`"))?;
        if !(1..=MAX_DIMS).contains(&n_dims) {
            return Err(r.bad(format!(
                "tensor `{name}` has {n_dims} dimensions (1 to {MAX_DIMS} are allowed)"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.u64(&format!("the dimensions of tensor `{name}`"))?);
        }
        let type_id = r.u32(&format!("the type of tensor `{name}`"))?;
        let relative = r.u64(&format!("the offset of tensor `{name}`"))?;
        let dtype = ggml_dtype(type_id)
            .ok_or_else(|| r.bad(format!("tensor `{name}` has unknown type {type_id}")))?;
        let byte_size =
            byte_size(&dims, dtype).map_err(|why| r.bad(format!("tensor `{name}` {why}")))?;
        dims.reverse();
        tensors.push(GgufTensor {
            name,
            dims,
            dtype,
            // Made absolute below, once the alignment is known.
            offset: relative,
            byte_size,
        });
    }
    let header_end = r.pos;

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        // Exactly the types candle's reader honours (it silently uses 32 for any other), so
        // that both readers compute the same data offset.
        Some(
            v @ (GgufValue::U8(_)
            | GgufValue::U16(_)
            | GgufValue::U32(_)
            | GgufValue::I8(_)
            | GgufValue::I16(_)
            | GgufValue::I32(_)),
        ) => v.as_u64().ok_or_else(|| {
            r.bad(format!(
                "metadata key `general.alignment` is negative ({v:?})"
            ))
        })?,
        Some(v) => {
            return Err(r.bad(format!(
                "metadata key `general.alignment` is a {}, expected u32",
                v.type_name()
            )))
        }
    };
    if !alignment.is_power_of_two() {
        return Err(r.bad(format!(
            "metadata key `general.alignment` is {alignment}, not a power of two"
        )));
    }
    let data_offset = header_end.checked_next_multiple_of(alignment).ok_or_else(|| {
        r.bad(format!("the data section (header end {header_end}, alignment {alignment}) lies beyond any file"))
    })?;
    for t in &mut tensors {
        let relative = t.offset;
        if !relative.is_multiple_of(alignment) {
            return Err(r.bad(format!(
                "tensor `{}` has offset {relative}, not a multiple of the alignment {alignment}",
                t.name
            )));
        }
        let end = data_offset
            .checked_add(relative)
            .and_then(|start| start.checked_add(t.byte_size).map(|end| (start, end)));
        match end {
            Some((start, end)) if end <= file_len => t.offset = start,
            _ => {
                return Err(r.bad(format!(
                    "truncated or corrupt: tensor `{}` ({} bytes at offset {relative} of the data \
                     section at byte {data_offset}) ends beyond the file's {file_len} bytes",
                    t.name, t.byte_size
                )))
            }
        }
    }
    let mut spans: Vec<&GgufTensor> = tensors.iter().collect();
    spans.sort_by_key(|t| t.offset);
    for pair in spans.windows(2) {
        // `offset + byte_size` was proven not to overflow above.
        if pair[1].offset < pair[0].offset + pair[0].byte_size {
            return Err(r.bad(format!(
                "tensors `{}` and `{}` overlap",
                pair[0].name, pair[1].name
            )));
        }
    }
    Ok(GgufHeader {
        path: path.to_path_buf(),
        version,
        alignment,
        metadata,
        tensors,
        data_offset,
        file_len,
    })
}

/// Bytes of a tensor of `dims` (GGUF order, innermost first), or why it has none.
fn byte_size(dims: &[u64], dtype: GgmlDType) -> std::result::Result<u64, String> {
    if let Some(i) = dims.iter().position(|&d| d == 0) {
        return Err(format!("has a zero-sized dimension ({i} of {dims:?})"));
    }
    let block = dtype.block_size() as u64;
    if !dims[0].is_multiple_of(block) {
        return Err(format!(
            "has rows of {} elements, not a multiple of the {dtype:?} block size {block}",
            dims[0]
        ));
    }
    let elems = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("has dimensions {dims:?} whose element count overflows"))?;
    let bytes = (elems / block)
        .checked_mul(dtype.type_size() as u64)
        .ok_or_else(|| format!("has dimensions {dims:?} whose byte size overflows"))?;
    // The memory-mapped runner slices with `usize`: on a 32-bit target a 5 GB tensor cannot be.
    usize::try_from(bytes)
        .map_err(|_| format!("is {bytes} bytes, more than this computer can address"))?;
    Ok(bytes)
}

/// ggml's type ids (`enum ggml_type` in ggml.h), as candle reads and writes them.
const GGML_TYPES: [(u32, GgmlDType); 15] = [
    (0, GgmlDType::F32),
    (1, GgmlDType::F16),
    (2, GgmlDType::Q4_0),
    (3, GgmlDType::Q4_1),
    (6, GgmlDType::Q5_0),
    (7, GgmlDType::Q5_1),
    (8, GgmlDType::Q8_0),
    (9, GgmlDType::Q8_1),
    (10, GgmlDType::Q2K),
    (11, GgmlDType::Q3K),
    (12, GgmlDType::Q4K),
    (13, GgmlDType::Q5K),
    (14, GgmlDType::Q6K),
    (15, GgmlDType::Q8K),
    (30, GgmlDType::BF16),
];

fn ggml_dtype(id: u32) -> Option<GgmlDType> {
    GGML_TYPES.iter().find(|(i, _)| *i == id).map(|&(_, t)| t)
}

/// The id `dtype` has in a GGUF file (every `GgmlDType` has one).
pub(crate) fn ggml_type_id(dtype: GgmlDType) -> u32 {
    GGML_TYPES
        .iter()
        .find(|(_, t)| *t == dtype)
        .map_or(0, |&(i, _)| i)
}

/// Reads little-endian values, never past `len` (the file size taken at open).
struct Reader<'a, R> {
    inner: R,
    pos: u64,
    len: u64,
    path: &'a Path,
}

impl<R: Read> Reader<'_, R> {
    fn bad(&self, reason: String) -> EngineError {
        EngineError::invalid_file(self.path, reason)
    }

    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    /// `n` bytes, refused before allocating when the file does not have them.
    fn bytes(&mut self, n: u64, what: impl FnOnce() -> String) -> Result<Vec<u8>> {
        if n > self.remaining() {
            return Err(self.bad(format!(
                "truncated: {} needs {n} bytes at byte {}, the file has {} left",
                what(),
                self.pos,
                self.remaining()
            )));
        }
        // `n <= remaining <= file length`, which fits in memory's address space on any target
        // where the file could be mapped; try_from guards 32-bit targets.
        let mut buf = vec![
            0u8;
            usize::try_from(n)
                .map_err(|_| self.bad(format!("{} is too large", what())))?
        ];
        self.inner.read_exact(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.bad("truncated: the file shrank while it was read".into())
            } else {
                EngineError::io(self.path, e)
            }
        })?;
        self.pos += n;
        Ok(buf)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let bytes = self.bytes(N as u64, || what.to_string())?;
        let mut out = [0u8; N];
        out.copy_from_slice(&bytes);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        self.array::<4>(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        self.array::<8>(what).map(u64::from_le_bytes)
    }

    /// A key or tensor name: valid UTF-8, no NUL, not empty, at most `max` bytes.
    fn name(&mut self, max: u64, what: &str) -> Result<String> {
        let len = self.u64(&format!("the length of {what}"))?;
        if len == 0 || len > max {
            return Err(self.bad(format!(
                "{what} at byte {} is {len} bytes long (1 to {max} are allowed)",
                self.pos
            )));
        }
        let bytes = self.bytes(len, || what.to_string())?;
        match String::from_utf8(bytes) {
            Ok(s) if !s.contains('\0') => Ok(s),
            Ok(s) => Err(self.bad(format!("{what} {s:?} contains a NUL byte"))),
            Err(e) => Err(self.bad(format!("{what} is not UTF-8: {e}"))),
        }
    }

    /// A string value. Invalid UTF-8 is replaced and trailing NULs dropped, as candle and
    /// llama.cpp's readers do (some vocabularies hold such strings).
    fn string(&mut self, key: &str) -> Result<String> {
        let len = self.u64(&format!("the length of a string in `{key}`"))?;
        if len > MAX_STRING_BYTES {
            return Err(self.bad(format!(
                "metadata key `{key}` holds a string of {len} bytes (at most {MAX_STRING_BYTES})"
            )));
        }
        let mut bytes = self.bytes(len, || format!("a string in metadata key `{key}`"))?;
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn value(&mut self, key: &str) -> Result<GgufValue> {
        let what = format!("the value of metadata key `{key}`");
        let type_id = self.u32(&what)?;
        Ok(match type_id {
            0 => GgufValue::U8(self.array::<1>(&what)?[0]),
            1 => GgufValue::I8(i8::from_le_bytes(self.array::<1>(&what)?)),
            2 => GgufValue::U16(u16::from_le_bytes(self.array::<2>(&what)?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.array::<2>(&what)?)),
            4 => GgufValue::U32(u32::from_le_bytes(self.array::<4>(&what)?)),
            5 => GgufValue::I32(i32::from_le_bytes(self.array::<4>(&what)?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.array::<4>(&what)?)),
            7 => GgufValue::Bool(self.boolean(key)?),
            8 => GgufValue::String(self.string(key)?),
            9 => GgufValue::Array(self.array_value(key)?),
            10 => GgufValue::U64(u64::from_le_bytes(self.array::<8>(&what)?)),
            11 => GgufValue::I64(i64::from_le_bytes(self.array::<8>(&what)?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.array::<8>(&what)?)),
            other => {
                return Err(self.bad(format!(
                    "metadata key `{key}` has unknown value type {other}"
                )))
            }
        })
    }

    fn boolean(&mut self, key: &str) -> Result<bool> {
        match self.array::<1>(&format!("the value of metadata key `{key}`"))?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.bad(format!("metadata key `{key}` is a bool of value {b}"))),
        }
    }

    fn array_value(&mut self, key: &str) -> Result<GgufArray> {
        let elem_type = self.u32(&format!("the element type of metadata key `{key}`"))?;
        let count = self.u64(&format!("the length of metadata key `{key}`"))?;
        // Fixed-size elements are read in one piece, its size checked first; strings take at
        // least their 8-byte length each.
        let elem_bytes: u64 = match elem_type {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => {
                return Err(self.bad(format!(
                    "metadata key `{key}` is an array of arrays, which is not supported"
                )))
            }
            other => {
                return Err(self.bad(format!(
                    "metadata key `{key}` is an array of unknown type {other}"
                )))
            }
        };
        let too_long = || {
            self.bad(format!(
                "metadata key `{key}` declares {count} elements, more than the {} bytes left in \
                 the file can hold",
                self.remaining()
            ))
        };
        if count > MAX_ARRAY_ELEMENTS {
            return Err(self.bad(format!(
                "metadata key `{key}` declares {count} elements (at most {MAX_ARRAY_ELEMENTS})"
            )));
        }
        let total = count.checked_mul(elem_bytes).ok_or_else(too_long)?;
        if total > self.remaining() {
            return Err(too_long());
        }
        if elem_type == 8 {
            // Grown as strings are read, so memory follows the bytes really in the file.
            let mut out = Vec::with_capacity(count.min(1 << 16) as usize);
            for _ in 0..count {
                out.push(self.string(key)?);
            }
            return Ok(GgufArray::String(out));
        }
        let raw = self.bytes(total, || format!("metadata key `{key}`"))?;
        macro_rules! typed {
            ($variant:ident, $t:ty, $n:literal) => {
                GgufArray::$variant(
                    raw.chunks_exact($n)
                        .map(|c| {
                            let mut b = [0u8; $n];
                            b.copy_from_slice(c);
                            <$t>::from_le_bytes(b)
                        })
                        .collect(),
                )
            };
        }
        Ok(match elem_type {
            0 => GgufArray::U8(raw),
            1 => typed!(I8, i8, 1),
            2 => typed!(U16, u16, 2),
            3 => typed!(I16, i16, 2),
            4 => typed!(U32, u32, 4),
            5 => typed!(I32, i32, 4),
            6 => typed!(F32, f32, 4),
            7 => GgufArray::Bool(
                raw.iter()
                    .map(|&b| match b {
                        0 => Ok(false),
                        1 => Ok(true),
                        b => {
                            Err(self.bad(format!("metadata key `{key}` holds a bool of value {b}")))
                        }
                    })
                    .collect::<Result<_>>()?,
            ),
            10 => typed!(U64, u64, 8),
            11 => typed!(I64, i64, 8),
            _ => typed!(F64, f64, 8),
        })
    }
}

impl GgufHeader {
    fn bad(&self, reason: String) -> EngineError {
        EngineError::invalid_file(&self.path, reason)
    }

    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&GgufTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// An integer key that must be present and fit in `u32` (any integer type is accepted).
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        self.opt_u32(key)?
            .ok_or_else(|| self.bad(format!("metadata key `{key}` is missing")))
    }

    /// An optional integer key; present but not a `u32`-sized integer is an error.
    pub fn opt_u32(&self, key: &str) -> Result<Option<u32>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                self.bad(format!(
                    "metadata key `{key}` is {v:?}, expected an unsigned 32-bit integer"
                ))
            })
    }

    /// A float key that must be present (f32, or f64 in f32's range).
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        self.opt_f32(key)?
            .ok_or_else(|| self.bad(format!("metadata key `{key}` is missing")))
    }

    /// An optional float key.
    pub fn opt_f32(&self, key: &str) -> Result<Option<f32>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::F32(v)) => Ok(Some(*v)),
            Some(GgufValue::F64(v)) if v.is_nan() || v.abs() <= f32::MAX as f64 => {
                Ok(Some(*v as f32))
            }
            Some(v) => Err(self.bad(format!(
                "metadata key `{key}` is {v:?}, expected a 32-bit float"
            ))),
        }
    }

    /// An optional boolean key.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.bad(format!(
                "metadata key `{key}` is a {}, expected a bool",
                v.type_name()
            ))),
        }
    }

    /// A string key that must be present.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        self.opt_str(key)?
            .ok_or_else(|| self.bad(format!("metadata key `{key}` is missing")))
    }

    /// An optional string key.
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.bad(format!(
                "metadata key `{key}` is a {}, expected a string",
                v.type_name()
            ))),
        }
    }

    /// An array key that must be present.
    pub fn get_array(&self, key: &str) -> Result<&GgufArray> {
        self.opt_array(key)?
            .ok_or_else(|| self.bad(format!("metadata key `{key}` is missing")))
    }

    /// An optional array key.
    pub fn opt_array(&self, key: &str) -> Result<Option<&GgufArray>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::Array(a)) => Ok(Some(a)),
            Some(v) => Err(self.bad(format!(
                "metadata key `{key}` is a {}, expected an array",
                v.type_name()
            ))),
        }
    }
}

/// The shape of a llama-architecture network, every number proven by the tensors themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LlamaDims {
    /// `llama.block_count`.
    pub layers: usize,
    /// `llama.embedding_length`.
    pub hidden: usize,
    /// `llama.feed_forward_length`.
    pub ffn: usize,
    /// `llama.attention.head_count`.
    pub heads: usize,
    /// `llama.attention.head_count_kv` (default: `heads`).
    pub kv_heads: usize,
    /// `hidden / heads`, even (RoPE rotates pairs).
    pub head_dim: usize,
    /// Rows of `token_embd.weight`.
    pub vocab: usize,
    /// `llama.context_length` (at least 1), if present.
    pub context: Option<usize>,
    /// `llama.attention.layer_norm_rms_epsilon` (default 1e-5), finite and > 0.
    pub rms_eps: f32,
    /// `llama.rope.freq_base` (default 10,000), finite and > 0.
    pub rope_base: f32,
    /// True when there is no `output.weight` (the output head is the embedding).
    pub tied_output: bool,
    /// The type of `blk.0.attn_q.weight` (the file's main quantization).
    pub weight_dtype: GgmlDType,
}

/// Types the memory-mapped CPU runner multiplies (`gguf_cpu::matrix`); Q8_1 and Q8_K exist
/// only as activation types in ggml.
pub fn runner_supports(dtype: GgmlDType) -> bool {
    !matches!(dtype, GgmlDType::Q8_1 | GgmlDType::Q8K)
}

/// Elements a row of `dtype` must be a multiple of for the runner's dot products: the block
/// size, and two blocks for Q4_1, Q5_0 and Q5_1 (candle's kernels take those blocks in pairs
/// and assert it in debug builds).
pub fn runner_row_multiple(dtype: GgmlDType) -> usize {
    match dtype {
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 => 2 * dtype.block_size(),
        _ => dtype.block_size(),
    }
}

/// Checks that `h` is a llama-architecture file (how llama.cpp stores Mistral) whose tensors
/// are exactly the ones its metadata implies: every layer's nine tensors and the three global
/// ones, with the shapes the hidden size, feed-forward length, head counts, vocabulary and
/// layer count give, in types the runner supports, and nothing else. Returns those numbers.
pub fn check_llama_shapes(h: &GgufHeader) -> Result<LlamaDims> {
    let arch = h.opt_str("general.architecture")?.unwrap_or("");
    if arch != "llama" {
        return Err(EngineError::UnsupportedModel {
            path: h.path.clone(),
            reason: format!(
                "general.architecture is {arch:?}; Mistral GGUFs from llama.cpp use \"llama\""
            ),
        });
    }
    let positive = |key: &str| -> Result<usize> {
        match h.get_u32(key)? {
            0 => Err(h.bad(format!("metadata key `{key}` is 0"))),
            v => Ok(v as usize),
        }
    };
    let layers = positive("llama.block_count")?;
    let hidden = positive("llama.embedding_length")?;
    let ffn = positive("llama.feed_forward_length")?;
    let heads = positive("llama.attention.head_count")?;
    let kv_heads = match h.opt_u32("llama.attention.head_count_kv")? {
        None => heads,
        Some(0) => return Err(h.bad("metadata key `llama.attention.head_count_kv` is 0".into())),
        Some(v) => v as usize,
    };
    if !heads.is_multiple_of(kv_heads)
        || !hidden.is_multiple_of(heads)
        || !(hidden / heads).is_multiple_of(2)
    {
        return Err(h.bad(format!(
            "inconsistent heads: `llama.embedding_length` {hidden}, \
             `llama.attention.head_count` {heads}, `llama.attention.head_count_kv` {kv_heads} \
             (heads must divide the embedding into an even head size, KV heads the heads)"
        )));
    }
    let head_dim = hidden / heads;
    let rope_dims = h.opt_u32("llama.rope.dimension_count")?;
    let context = match h.opt_u32("llama.context_length")? {
        Some(0) => return Err(h.bad("metadata key `llama.context_length` is 0".into())),
        other => other.map(|v| v as usize),
    };
    let finite_positive = |key: &str, default: f32| -> Result<f32> {
        let v = h.opt_f32(key)?.unwrap_or(default);
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(h.bad(format!(
                "metadata key `{key}` is {v}, expected a finite number > 0"
            )))
        }
    };
    let rms_eps = finite_positive("llama.attention.layer_norm_rms_epsilon", 1e-5)?;
    let rope_base = finite_positive("llama.rope.freq_base", 10_000.0)?;

    let embd = h
        .tensor("token_embd.weight")
        .ok_or_else(|| h.bad("tensor `token_embd.weight` is missing".into()))?;
    let vocab = match embd.dims.as_slice() {
        [v, c] if *c == hidden as u64 => usize::try_from(*v).ok(),
        _ => None,
    }
    .ok_or_else(|| {
        h.bad(format!(
            "tensor `token_embd.weight` has shape {:?}, expected [vocabulary, {hidden}]",
            embd.dims
        ))
    })?;
    if let Some(n) = h.opt_u32("llama.vocab_size")? {
        if n as usize != vocab {
            return Err(h.bad(format!(
                "metadata key `llama.vocab_size` is {n} but tensor `token_embd.weight` has \
                 {vocab} rows"
            )));
        }
    }
    if let Some(tokens) = h.opt_array("tokenizer.ggml.tokens")? {
        if tokens.len() != vocab {
            return Err(h.bad(format!(
                "metadata key `tokenizer.ggml.tokens` lists {} tokens but tensor \
                 `token_embd.weight` has {vocab} rows",
                tokens.len()
            )));
        }
    }

    // Nine tensors per layer plus the embedding and the final norm: a layer count the file
    // cannot hold is refused before the list of expected names is built from it.
    if layers.saturating_mul(9).saturating_add(2) > h.tensors.len() {
        return Err(h.bad(format!(
            "metadata key `llama.block_count` is {layers}, but the file has only {} tensors",
            h.tensors.len()
        )));
    }
    // Every tensor the network reads, with its shape (outermost first).
    let kv_dim = kv_heads * head_dim;
    let mut expected: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    expected.insert("token_embd.weight".into(), vec![vocab, hidden]);
    expected.insert("output_norm.weight".into(), vec![hidden]);
    for i in 0..layers {
        for (part, shape) in [
            ("attn_norm", vec![hidden]),
            ("attn_q", vec![hidden, hidden]),
            ("attn_k", vec![kv_dim, hidden]),
            ("attn_v", vec![kv_dim, hidden]),
            ("attn_output", vec![hidden, hidden]),
            ("ffn_norm", vec![hidden]),
            ("ffn_gate", vec![ffn, hidden]),
            ("ffn_up", vec![ffn, hidden]),
            ("ffn_down", vec![hidden, ffn]),
        ] {
            expected.insert(format!("blk.{i}.{part}.weight"), shape);
        }
    }
    let tied_output = h.tensor("output.weight").is_none();
    if !tied_output {
        expected.insert("output.weight".into(), vec![vocab, hidden]);
    }
    for t in &h.tensors {
        let Some(shape) = expected.get(&t.name) else {
            return Err(h.bad(format!(
                "unexpected tensor `{}`: a llama file with `llama.block_count` {layers} has \
                 blk.0 to blk.{} and token_embd, output_norm, output",
                t.name,
                layers - 1
            )));
        };
        if !t.dims.iter().map(|&d| d as usize).eq(shape.iter().copied()) {
            return Err(h.bad(format!(
                "tensor `{}` has shape {:?}, but the metadata implies {shape:?}",
                t.name, t.dims
            )));
        }
        if !runner_supports(t.dtype) {
            return Err(h.bad(format!(
                "tensor `{}` has type {:?}, which the engine cannot multiply",
                t.name, t.dtype
            )));
        }
        let row = t.dims.last().copied().unwrap_or(0);
        let multiple = runner_row_multiple(t.dtype) as u64;
        if !row.is_multiple_of(multiple) {
            return Err(h.bad(format!(
                "tensor `{}` has rows of {row} {:?} elements; the engine needs multiples of \
                 {multiple}",
                t.name, t.dtype
            )));
        }
    }
    // Every expected tensor is present: the file's tensors are a subset of `expected` with
    // unique names, so equal counts mean equal sets.
    if h.tensors.len() != expected.len() {
        let missing = expected
            .keys()
            .find(|name| h.tensor(name).is_none())
            .cloned()
            .unwrap_or_default();
        return Err(h.bad(format!("tensor `{missing}` is missing")));
    }
    // A valid file this engine cannot run (checked last: a file whose sizes lie is invalid,
    // not unsupported).
    if let Some(rope) = rope_dims.filter(|&r| r as usize != head_dim) {
        return Err(EngineError::UnsupportedModel {
            path: h.path.clone(),
            reason: format!(
                "`llama.rope.dimension_count` is {rope} of {head_dim} head dimensions: \
                 partial rotary embedding is not supported"
            ),
        });
    }
    let weight_dtype = h
        .tensor("blk.0.attn_q.weight")
        .map(|t| t.dtype)
        .ok_or_else(|| h.bad("tensor `blk.0.attn_q.weight` is missing".into()))?;
    Ok(LlamaDims {
        layers,
        hidden,
        ffn,
        heads,
        kv_heads,
        head_dim,
        vocab,
        context,
        rms_eps,
        rope_base,
        tied_output,
        weight_dtype,
    })
}

/// Proves that candle's reader saw the same file as ours: the same data offset and, for every
/// tensor, the same type, shape and offset. Run on every file before candle's `Content` is
/// used to slice the data.
pub fn check_candle_agrees(h: &GgufHeader, content: &gguf_file::Content) -> Result<()> {
    let disagree = |what: String| {
        h.bad(format!(
            "the GGUF readers disagree about {what}; the file is malformed"
        ))
    };
    if content.tensor_data_offset != h.data_offset {
        return Err(disagree(format!(
            "where the data starts ({} vs {})",
            content.tensor_data_offset, h.data_offset
        )));
    }
    if content.tensor_infos.len() != h.tensors.len() {
        return Err(disagree("the number of tensors".into()));
    }
    for t in &h.tensors {
        let Some(info) = content.tensor_infos.get(&t.name) else {
            return Err(disagree(format!("tensor `{}`", t.name)));
        };
        let same = info.ggml_dtype == t.dtype
            && info
                .shape
                .dims()
                .iter()
                .map(|&d| d as u64)
                .eq(t.dims.iter().copied())
            && h.data_offset.checked_add(info.offset) == Some(t.offset);
        if !same {
            return Err(disagree(format!("tensor `{}`", t.name)));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "../tests/common/gguf_builder.rs"]
mod gguf_builder;

#[cfg(test)]
mod tests {
    use super::gguf_builder::{tiny_llama, Gguf, Meta, Q8K, TINY};
    use super::*;

    fn read(g: &Gguf) -> Result<GgufHeader> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        g.write(&path);
        read_gguf(&path)
    }

    fn read_checked(g: &Gguf) -> Result<LlamaDims> {
        check_llama_shapes(&read(g)?)
    }

    #[test]
    fn the_tiny_model_reads_and_checks() {
        let h = read(&tiny_llama(TINY)).unwrap();
        assert_eq!((h.version, h.alignment), (3, 32));
        assert_eq!(h.tensors.len(), 2 + 2 * 9 + 1);
        let embd = h.tensor("token_embd.weight").unwrap();
        assert_eq!(embd.dims, vec![64, 32]);
        assert_eq!(embd.byte_size, 64 * 34);
        assert_eq!(embd.offset, h.data_offset);
        assert_eq!(h.data_offset % 32, 0);
        assert_eq!(h.get_u32("llama.block_count").unwrap(), 2);
        assert_eq!(h.get_str("general.architecture").unwrap(), "llama");
        let dims = check_llama_shapes(&h).unwrap();
        assert_eq!(
            (
                dims.layers,
                dims.hidden,
                dims.ffn,
                dims.heads,
                dims.kv_heads,
                dims.head_dim
            ),
            (2, 32, 64, 4, 2, 8)
        );
        assert_eq!(
            (dims.vocab, dims.context, dims.tied_output),
            (64, Some(256), false)
        );
        assert_eq!(dims.weight_dtype, GgmlDType::Q8_0);
    }

    /// Each case damages the tiny model one way; the error must name what is wrong.
    #[test]
    fn hostile_headers_are_invalid_files_that_name_the_culprit() {
        type Damage = Box<dyn Fn(&mut Gguf)>;
        let cases: Vec<(&str, Damage, &str)> = vec![
            (
                "byte size wraps",
                Box::new(|g| g.tensor_mut("blk.0.attn_norm.weight").dims = vec![32 + (1 << 62)]),
                "blk.0.attn_norm.weight",
            ),
            (
                "element count overflows",
                Box::new(|g| g.tensor_mut("token_embd.weight").dims = vec![32, 1 << 60]),
                "token_embd.weight",
            ),
            (
                "zero dimension",
                Box::new(|g| g.tensor_mut("blk.1.ffn_up.weight").dims = vec![32, 0]),
                "zero-sized dimension",
            ),
            (
                "offset wraps",
                Box::new(|g| g.tensor_mut("blk.0.attn_q.weight").offset = Some(u64::MAX - 31)),
                "blk.0.attn_q.weight",
            ),
            (
                "offset beyond the file",
                Box::new(|g| g.tensor_mut("output.weight").offset = Some(1 << 40)),
                "output.weight",
            ),
            (
                "offset not aligned",
                Box::new(|g| g.tensor_mut("output.weight").offset = Some(4)),
                "not a multiple of the alignment",
            ),
            (
                "overlap",
                Box::new(|g| g.tensor_mut("output.weight").offset = Some(0)),
                "overlap",
            ),
            (
                "alignment 0",
                Box::new(|g| g.set_meta("general.alignment", Meta::U32(0))),
                "general.alignment",
            ),
            (
                "alignment 48",
                Box::new(|g| {
                    g.set_meta("general.alignment", Meta::U32(48));
                    g.layout_alignment = 48;
                }),
                "not a power of two",
            ),
            (
                "alignment of another type",
                Box::new(|g| g.set_meta("general.alignment", Meta::U64(32))),
                "general.alignment",
            ),
            (
                "unknown type",
                Box::new(|g| g.tensor_mut("blk.0.attn_k.weight").type_id = 99),
                "blk.0.attn_k.weight",
            ),
            (
                "five dimensions",
                Box::new(|g| g.tensor_mut("blk.0.attn_k.weight").dims = vec![32, 1, 1, 1, 16]),
                "5 dimensions",
            ),
            (
                "row not a whole block",
                Box::new(|g| g.tensor_mut("blk.0.attn_k.weight").dims = vec![16, 32]),
                "block size",
            ),
            (
                "duplicate tensor",
                Box::new(|g| g.tensors[2].name = g.tensors[1].name.clone()),
                "appears twice",
            ),
            (
                "duplicate key",
                Box::new(|g| g.metadata.push(("llama.block_count".into(), Meta::U32(1)))),
                "llama.block_count",
            ),
            (
                "NUL in a key",
                Box::new(|g| g.metadata[0].0 = "general.architecture\0".into()),
                "NUL",
            ),
            (
                "huge string",
                Box::new(|g| {
                    g.set_meta(
                        "general.name",
                        Meta::Raw(8, (1u64 << 62).to_le_bytes().to_vec()),
                    )
                }),
                "general.name",
            ),
            (
                "huge array",
                Box::new(|g| {
                    let mut raw = 4u32.to_le_bytes().to_vec();
                    raw.extend_from_slice(&(1u64 << 61).to_le_bytes());
                    g.set_meta("tokenizer.ggml.scores", Meta::Raw(9, raw))
                }),
                "tokenizer.ggml.scores",
            ),
            (
                "nested array",
                Box::new(|g| {
                    let mut raw = 9u32.to_le_bytes().to_vec();
                    raw.extend_from_slice(&1u64.to_le_bytes());
                    g.set_meta("x.nested", Meta::Raw(9, raw))
                }),
                "x.nested",
            ),
            ("version 1", Box::new(|g| g.version = 1), "version 1"),
        ];
        for (name, damage, needle) in cases {
            let mut g = tiny_llama(TINY);
            damage(&mut g);
            let err = read(&g).expect_err(name);
            assert_eq!(err.code(), "invalid_file", "{name}: {err}");
            let text = err.to_string();
            assert!(
                text.contains("m.gguf") && text.contains(needle),
                "{name}: {text}"
            );
        }
    }

    /// Files that read fine but whose metadata disagrees with the tensors, or that the runner
    /// cannot run.
    #[test]
    fn lying_metadata_is_refused_by_key_or_tensor() {
        type Damage = Box<dyn Fn(&mut Gguf)>;
        let cases: Vec<(&str, Damage, &str)> = vec![
            (
                "fewer layers than tensors",
                Box::new(|g| g.set_meta("llama.block_count", Meta::U32(1))),
                "unexpected tensor `blk.1.",
            ),
            (
                "more layers than tensors",
                Box::new(|g| g.set_meta("llama.block_count", Meta::U32(3))),
                "llama.block_count",
            ),
            (
                "layer count 2^32-1",
                Box::new(|g| g.set_meta("llama.block_count", Meta::U32(u32::MAX))),
                "llama.block_count",
            ),
            (
                "feed-forward length",
                Box::new(|g| g.set_meta("llama.feed_forward_length", Meta::U32(1))),
                "ffn_gate",
            ),
            (
                "feed-forward length missing",
                Box::new(|g| g.remove_meta("llama.feed_forward_length")),
                "llama.feed_forward_length",
            ),
            (
                "hidden size",
                Box::new(|g| g.set_meta("llama.embedding_length", Meta::U32(64))),
                "token_embd.weight",
            ),
            (
                "KV heads",
                Box::new(|g| g.set_meta("llama.attention.head_count_kv", Meta::U32(4))),
                "attn_k",
            ),
            (
                "KV heads 0",
                Box::new(|g| g.set_meta("llama.attention.head_count_kv", Meta::U32(0))),
                "head_count_kv",
            ),
            (
                "heads that do not divide",
                Box::new(|g| g.set_meta("llama.attention.head_count", Meta::U32(3))),
                "inconsistent heads",
            ),
            (
                "a head count of another type",
                Box::new(|g| g.set_meta("llama.attention.head_count", Meta::Str("4".into()))),
                "llama.attention.head_count",
            ),
            (
                "negative context",
                Box::new(|g| g.set_meta("llama.context_length", Meta::I32(-1))),
                "llama.context_length",
            ),
            (
                "context 0",
                Box::new(|g| g.set_meta("llama.context_length", Meta::U32(0))),
                "llama.context_length",
            ),
            (
                "NaN epsilon",
                Box::new(|g| {
                    g.set_meta(
                        "llama.attention.layer_norm_rms_epsilon",
                        Meta::F32(f32::NAN),
                    )
                }),
                "layer_norm_rms_epsilon",
            ),
            (
                "zero RoPE base",
                Box::new(|g| g.set_meta("llama.rope.freq_base", Meta::F32(0.0))),
                "freq_base",
            ),
            (
                "vocabulary size key",
                Box::new(|g| g.set_meta("llama.vocab_size", Meta::U32(65))),
                "llama.vocab_size",
            ),
            (
                "token list",
                Box::new(|g| g.set_meta("tokenizer.ggml.tokens", Meta::StrArray(vec!["a".into()]))),
                "tokenizer.ggml.tokens",
            ),
            (
                "output head of another vocabulary",
                Box::new(|g| g.tensor_mut("output.weight").dims = vec![32, 63]),
                "output.weight",
            ),
            (
                "missing tensor",
                Box::new(|g| g.tensors.retain(|t| t.name != "blk.1.ffn_norm.weight")),
                "blk.1.ffn_norm.weight",
            ),
            (
                "stray tensor",
                Box::new(|g| {
                    let mut t = g.tensors[1].clone();
                    t.name = "rope_freqs.weight".into();
                    g.tensors.push(t)
                }),
                "rope_freqs.weight",
            ),
            (
                "Q4_1 rows of an odd number of blocks",
                Box::new(|g| g.tensor_mut("blk.0.attn_q.weight").type_id = 3),
                "multiples of 64",
            ),
            (
                "a type the runner cannot multiply",
                Box::new(|g| {
                    let t = g.tensor_mut("blk.0.ffn_down.weight");
                    t.dims = vec![256, 32];
                    t.type_id = Q8K;
                    g.set_meta("llama.feed_forward_length", Meta::U32(256));
                    for n in ["blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"] {
                        g.tensor_mut(n).dims = vec![32, 256];
                    }
                }),
                "Q8K",
            ),
        ];
        for (name, damage, needle) in cases {
            let mut g = tiny_llama(TINY);
            damage(&mut g);
            let err = read_checked(&g).expect_err(name);
            assert_eq!(err.code(), "invalid_file", "{name}: {err}");
            let text = err.to_string();
            assert!(
                text.contains("m.gguf") && text.contains(needle),
                "{name}: {text}"
            );
        }
        // Another architecture is a different error: unsupported, not invalid.
        let mut g = tiny_llama(TINY);
        g.set_meta("general.architecture", Meta::Str("gpt2".into()));
        assert_eq!(read_checked(&g).unwrap_err().code(), "unsupported_model");
    }

    #[test]
    fn tied_output_and_optional_keys() {
        let mut g = tiny_llama(TINY);
        g.tensors.retain(|t| t.name != "output.weight");
        g.remove_meta("llama.attention.head_count_kv");
        g.remove_meta("llama.context_length");
        g.remove_meta("general.alignment");
        for t in &mut g.tensors {
            if t.name.contains("attn_k") || t.name.contains("attn_v") {
                t.dims = vec![32, 32];
            }
        }
        let dims = read_checked(&g).unwrap();
        assert!(dims.tied_output);
        assert_eq!((dims.kv_heads, dims.context), (4, None));
    }

    #[test]
    fn truncation_anywhere_is_an_invalid_file() {
        let (bytes, _) = tiny_llama(TINY).to_bytes();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        for len in (0..bytes.len()).step_by(97) {
            std::fs::write(&path, &bytes[..len]).unwrap();
            let err = read_gguf(&path).expect_err("truncated");
            assert_eq!(err.code(), "invalid_file", "{len}: {err}");
        }
    }

    #[test]
    fn getters_name_the_key() {
        let mut g = tiny_llama(TINY);
        g.set_meta("x.big", Meta::U64(1 << 40));
        g.set_meta("x.neg", Meta::I32(-3));
        g.set_meta("x.small", Meta::I32(3));
        let h = read(&g).unwrap();
        assert_eq!(h.opt_u32("x.small").unwrap(), Some(3));
        for key in ["x.big", "x.neg", "general.name"] {
            let err = h.get_u32(key).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
        assert!(h
            .get_u32("x.none")
            .unwrap_err()
            .to_string()
            .contains("x.none"));
        assert!(h.get_f32("general.name").is_err());
        assert!(h.get_str("llama.block_count").is_err());
        assert!(h.get_array("general.name").is_err());
        assert_eq!(h.opt_str("x.none").unwrap(), None);
    }

    /// The committed llama.cpp fixture passes both readers and agrees with candle's.
    #[test]
    fn the_llama_cpp_fixture_agrees_with_candle() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/tiny-mistral-llamacpp/model-q8_0.gguf");
        let h = read_gguf(&path).unwrap();
        let dims = check_llama_shapes(&h).unwrap();
        assert_eq!((dims.hidden, dims.vocab, dims.layers), (64, 32000, 2));
        let mut f = std::fs::File::open(&path).unwrap();
        let content = gguf_file::Content::read(&mut f).unwrap();
        check_candle_agrees(&h, &content).unwrap();
    }
}
