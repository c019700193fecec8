//! Writes a GGUF file tensor by tensor: the header (metadata, then every tensor's name, shape,
//! type and offset) first, from shapes and types alone, then each tensor's bytes as it is made.
//! Quantizing a 7B model then holds one tensor at a time, not all 4 GB of its output
//! (candle's `gguf_file::write` takes them all at once). Same bytes as candle's writer
//! (tested): GGUF version 2, 32-byte alignment. The file appears under its name only when
//! complete (a `.partial` beside it, synced, then renamed).

use crate::error::{EngineError, Result};
use crate::gguf_header::ggml_type_id;
use candle_core::quantized::{gguf_file::Value, GgmlDType, QTensor};
use std::io::Write;
use std::path::Path;

/// What the header says of one tensor. `shape` is candle's order (rows first).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorPlan {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: GgmlDType,
}

impl TensorPlan {
    /// Bytes of the tensor's data; shapes come from source files, so every step is checked.
    pub fn bytes(&self) -> Result<usize> {
        let too_large = || {
            EngineError::invalid(
                "tensor",
                format!(
                    "{} of shape {:?} is too large to write",
                    self.name, self.shape
                ),
            )
        };
        let elems = self
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(too_large)?;
        if !elems.is_multiple_of(self.dtype.block_size()) {
            return Err(EngineError::invalid(
                "tensor",
                format!(
                    "{} has {elems} values, not whole {:?} blocks",
                    self.name, self.dtype
                ),
            ));
        }
        (elems / self.dtype.block_size())
            .checked_mul(self.dtype.type_size())
            .ok_or_else(too_large)
    }
}

const ALIGNMENT: usize = 32;

fn padding(len: usize) -> usize {
    (ALIGNMENT - len % ALIGNMENT) % ALIGNMENT
}

/// Writes `metadata` and the tensors of `plan`, in order, to `out`; `make(i)` makes tensor `i`
/// when its turn comes, and must match its plan (name is the plan's; shape and type checked).
pub fn write_gguf_atomically(
    out: &Path,
    metadata: &[(&str, Value)],
    plan: &[TensorPlan],
    make: impl FnMut(usize) -> Result<QTensor>,
) -> Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    }
    // Unique per writer: two processes quantizing the same source both finish, the last rename
    // wins and both files are identical.
    let unique: u64 = rand::random();
    let partial = out.with_extension(format!("gguf.{}-{unique:016x}.partial", std::process::id()));
    // Those of earlier writers killed midway (Ctrl-C, a closed window, a crash): gigabytes each.
    if let Some(dir) = out.parent() {
        remove_abandoned_partials(dir);
    }
    let result = (|| -> Result<()> {
        // Locked while written and until renamed: a later writer tells it from a dead one's.
        let file = jslm_core::abandoned::create_locked(&partial)
            .map_err(|e| EngineError::io(&partial, e))?;
        let mut w = std::io::BufWriter::with_capacity(4 << 20, file);
        write_gguf(&mut w, metadata, plan, make).map_err(|e| match e {
            EngineError::Io { source, .. } => EngineError::io(&partial, source),
            other => other,
        })?;
        w.flush().map_err(|e| EngineError::io(&partial, e))?;
        let file = w
            .into_inner()
            .map_err(|e| EngineError::io(&partial, e.into_error()))?;
        file.sync_all().map_err(|e| EngineError::io(&partial, e))?;
        let placed = std::fs::rename(&partial, out).map_err(|e| EngineError::io(out, e));
        drop(file);
        placed
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Removes the `.partial` files in `dir` whose writers are gone (see
/// `jslm_core::abandoned`); returns the bytes freed.
pub fn remove_abandoned_partials(dir: &Path) -> u64 {
    jslm_core::abandoned::remove_abandoned(dir, "", ".partial")
}

/// The GGUF stream itself, to any writer.
pub fn write_gguf(
    w: &mut impl Write,
    metadata: &[(&str, Value)],
    plan: &[TensorPlan],
    mut make: impl FnMut(usize) -> Result<QTensor>,
) -> Result<()> {
    let mut header = Vec::new();
    header.extend_from_slice(&0x4655_4747u32.to_le_bytes()); // "GGUF"
    header.extend_from_slice(&2u32.to_le_bytes());
    header.extend_from_slice(&(plan.len() as u64).to_le_bytes());
    header.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        put_string(&mut header, key);
        header.extend_from_slice(&value_type(value).to_le_bytes());
        put_value(&mut header, value)?;
    }
    let sizes = plan
        .iter()
        .map(TensorPlan::bytes)
        .collect::<Result<Vec<_>>>()?;
    let mut offset = 0usize;
    for (t, &size) in plan.iter().zip(&sizes) {
        put_string(&mut header, &t.name);
        header.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
        for &dim in t.shape.iter().rev() {
            header.extend_from_slice(&(dim as u64).to_le_bytes());
        }
        header.extend_from_slice(&ggml_type_id(t.dtype).to_le_bytes());
        header.extend_from_slice(&(offset as u64).to_le_bytes());
        offset = offset
            .checked_add(size + padding(size))
            .ok_or_else(|| EngineError::invalid("tensor", "the tensors are too large to write"))?;
    }
    header.resize(header.len() + padding(header.len()), 0);
    let io = |e: std::io::Error| EngineError::Io {
        path: Default::default(),
        source: e,
    };
    w.write_all(&header).map_err(io)?;
    for (i, (t, &size)) in plan.iter().zip(&sizes).enumerate() {
        let tensor = make(i)?;
        if tensor.dtype() != t.dtype || tensor.shape().dims() != t.shape.as_slice() {
            return Err(EngineError::invalid(
                "tensor",
                format!(
                    "{} was planned as {:?} {:?} but made as {:?} {:?}",
                    t.name,
                    t.dtype,
                    t.shape,
                    tensor.dtype(),
                    tensor.shape().dims()
                ),
            ));
        }
        let data = tensor.data()?;
        if data.len() != size {
            return Err(EngineError::invalid(
                "tensor",
                format!("{} has {} bytes, not {size}", t.name, data.len()),
            ));
        }
        w.write_all(&data).map_err(io)?;
        w.write_all(&[0u8; ALIGNMENT][..padding(data.len())])
            .map_err(io)?;
    }
    Ok(())
}

fn put_string(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// GGUF's value type ids (`enum gguf_type` in ggml's gguf.h).
fn value_type(value: &Value) -> u32 {
    match value {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn put_value(buf: &mut Vec<u8>, value: &Value) -> Result<()> {
    match value {
        Value::U8(v) => buf.push(*v),
        Value::I8(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => buf.push(u8::from(*v)),
        Value::String(v) => put_string(buf, v),
        Value::Array(items) => {
            // candle writes an empty array as U32; one array holds one type.
            let item_type = match items.first() {
                None => 4,
                Some(first) => value_type(first),
            };
            for item in items {
                if value_type(item) != item_type {
                    return Err(EngineError::invalid(
                        "metadata",
                        "an array mixes value types",
                    ));
                }
            }
            buf.extend_from_slice(&item_type.to_le_bytes());
            buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                put_value(buf, item)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file;
    use candle_core::{Device, Tensor};

    fn tensors() -> Vec<(String, QTensor)> {
        let values = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect()
        };
        let q = |shape: (usize, usize), dtype| {
            let t = Tensor::from_vec(values(shape.0 * shape.1), shape, &Device::Cpu).unwrap();
            QTensor::quantize(&t, dtype).unwrap()
        };
        vec![
            ("blk.0.attn_q.weight".into(), q((3, 256), GgmlDType::Q4K)),
            // 5 f32 values: 20 bytes, padded to 32.
            (
                "blk.0.attn_norm.weight".into(),
                QTensor::quantize(
                    &Tensor::from_vec(values(5), 5, &Device::Cpu).unwrap(),
                    GgmlDType::F32,
                )
                .unwrap(),
            ),
            ("output.weight".into(), q((2, 64), GgmlDType::Q8_0)),
            ("blk.0.ffn_down.weight".into(), q((1, 256), GgmlDType::Q6K)),
        ]
    }

    fn plan_of(ts: &[(String, QTensor)]) -> Vec<TensorPlan> {
        ts.iter()
            .map(|(name, t)| TensorPlan {
                name: name.clone(),
                shape: t.shape().dims().to_vec(),
                dtype: t.dtype(),
            })
            .collect()
    }

    fn copy(t: &QTensor) -> Result<QTensor> {
        let storage =
            candle_core::quantized::QStorage::from_data(t.data()?, &Device::Cpu, t.dtype())?;
        Ok(QTensor::new(storage, t.shape().clone())?)
    }

    fn metadata() -> Vec<(&'static str, Value)> {
        vec![
            ("general.architecture", Value::String("llama".into())),
            ("a.u8", Value::U8(7)),
            ("a.i8", Value::I8(-7)),
            ("a.u16", Value::U16(700)),
            ("a.i16", Value::I16(-700)),
            ("a.u32", Value::U32(70_000)),
            ("a.i32", Value::I32(-70_000)),
            ("a.u64", Value::U64(1 << 40)),
            ("a.i64", Value::I64(-(1 << 40))),
            ("a.f32", Value::F32(0.25)),
            ("a.f64", Value::F64(-0.125)),
            ("a.bool", Value::Bool(true)),
            (
                "a.strings",
                Value::Array(vec![
                    Value::String("<s>".into()),
                    Value::String("日本".into()),
                ]),
            ),
            ("a.empty", Value::Array(vec![])),
        ]
    }

    #[test]
    fn same_bytes_as_candles_writer() {
        let (md, ts) = (metadata(), tensors());
        let mut theirs = std::io::Cursor::new(Vec::new());
        let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
        let ts_refs: Vec<(&str, &QTensor)> = ts.iter().map(|(k, v)| (k.as_str(), v)).collect();
        gguf_file::write(&mut theirs, &md_refs, &ts_refs).unwrap();
        let plan = plan_of(&ts);
        let mut ours = Vec::new();
        let mut made = Vec::new();
        write_gguf(&mut ours, &md, &plan, |i| {
            made.push(i);
            copy(&ts[i].1)
        })
        .unwrap();
        assert_eq!(made, vec![0, 1, 2, 3], "made in order, once each");
        assert!(
            ours == theirs.into_inner(),
            "bytes differ from candle's gguf_file::write"
        );
    }

    #[test]
    fn a_shape_whose_size_overflows_is_an_error() {
        let plan = [TensorPlan {
            name: "huge".into(),
            shape: vec![usize::MAX, 64],
            dtype: GgmlDType::Q8_0,
        }];
        let err = write_gguf(&mut Vec::new(), &[], &plan, |_| unreachable!()).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
    }

    #[test]
    fn a_tensor_unlike_its_plan_fails_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.gguf");
        let ts = tensors();
        let mut plan = plan_of(&ts);
        plan[2].dtype = GgmlDType::Q4_0;
        let err = write_gguf_atomically(&out, &metadata(), &plan, |i| copy(&ts[i].1)).unwrap_err();
        assert!(err.to_string().contains("output.weight"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing left behind"
        );
    }

    #[test]
    fn a_write_removes_what_killed_writers_left() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.gguf");
        // A writer killed a moment ago (its lock went with it; retried at once, as people do),
        // one writing now (holding its lock), and another model's dead one.
        let left = |name: &str| {
            let path = dir.path().join(name);
            let f = jslm_core::abandoned::create_locked(&path).unwrap();
            f.set_len(4096).unwrap();
            (path, f)
        };
        let (dead, f) = left("m.gguf.4242-00000000000000aa.partial");
        drop(f);
        let (live, _writing) = left("m.gguf.4343-00000000000000bb.partial");
        let (other, f) = left("n.gguf.4242-00000000000000cc.partial");
        drop(f);
        let ts = tensors();
        write_gguf_atomically(&out, &metadata(), &plan_of(&ts), |i| copy(&ts[i].1)).unwrap();
        assert!(out.is_file());
        assert!(!dead.exists() && !other.exists());
        assert!(live.exists());
    }
}
