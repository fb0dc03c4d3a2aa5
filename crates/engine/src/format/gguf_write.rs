//! A GGUF v3 writer, for tests and tooling that need synthetic models: real
//! metadata and a real tensor layout filled with random, valid weights.
//!
//! The header (metadata and tensor directory) is built in memory; tensor data
//! is streamed through a callback, one tensor at a time, so a model of any size
//! can be written to a file without being held in memory. [`random_blocks`]
//! and [`write_random_blocks`] make valid random blocks of every [`GgmlType`],
//! with small finite scales, for that callback.
//!
//! It is not a converter or a quantizer: it does not turn real weights into
//! blocks, and the engine never uses it to load or run a model. It writes
//! little-endian GGUF version 3 only, and refuses the shapes and values that
//! [`Gguf::parse`] would refuse, so what it writes reads back.
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

use std::io::{self, BufWriter, Write};

use half::{bf16, f16};

use super::gguf::{Gguf, GgufError, Result, Value};
use super::quant::GgmlType;

/// The reader's caps (`format::gguf`), repeated so that every file written
/// here reads back.
const MAX_DIMS: u32 = 4;
const MAX_TENSOR_ELEMENTS: u64 = 1 << 40;
const MAX_STRING_LEN: u64 = 16 << 20;
const MAX_ARRAY_LEN: u64 = 1 << 24;
/// Tensor data alignment when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u32 = 32;
const ALIGNMENT_KEY: &str = "general.alignment";
/// GGUF's metadata value type id for arrays.
const ARRAY_TYPE: u32 = 9;

/// One tensor declared to a [`GgufWriter`]. Its shape has been checked, so
/// its byte length is exact.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorDecl {
    /// Unique within the file, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// How the data is stored.
    pub ty: GgmlType,
    /// `ne[0]` first: the fastest-varying dimension, along which blocks run.
    pub shape: Vec<u64>,
    /// Bytes of data in the file: `n_blocks() * ty.block_bytes()`.
    pub n_bytes: u64,
}

impl TensorDecl {
    /// Values in the tensor.
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }
    /// Quant blocks in the tensor (values for F32, F16 and BF16).
    pub fn n_blocks(&self) -> u64 {
        self.n_elements() / self.ty.block_len() as u64
    }
}

/// Builds a GGUF v3 file: metadata in insertion order, then the tensor
/// directory, then each tensor's data, streamed by [`GgufWriter::write`].
#[derive(Debug, Clone, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorDecl>,
}

impl GgufWriter {
    /// An empty file: no metadata, no tensors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a metadata value, replacing (in place) any earlier value of the key.
    ///
    /// Refuses what readers would refuse: an array whose elements differ in
    /// type, an array of arrays (llama.cpp reads none), a string or array past
    /// the reader's caps, and a `general.alignment` that is not a power-of-two
    /// `U32` (llama.cpp accepts no other type).
    pub fn add_meta(&mut self, key: impl Into<String>, value: Value) -> Result<()> {
        let key = key.into();
        check_value(&key, &value)?;
        if key == ALIGNMENT_KEY {
            match value {
                Value::U32(a) if a.is_power_of_two() => {}
                Value::U32(a) => return Err(GgufError::BadAlignment(a as u64)),
                _ => {
                    return Err(GgufError::WrongType {
                        key,
                        expected: "a U32",
                    })
                }
            }
        }
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.metadata.push((key, value)),
        }
        Ok(())
    }

    /// Copies every metadata value of `src` whose key starts with `prefix`
    /// (e.g. `"tokenizer."` to reuse a real model's vocabulary), in key order.
    /// Returns how many were copied.
    pub fn add_meta_from(&mut self, src: &Gguf, prefix: &str) -> Result<usize> {
        let mut n = 0;
        for (k, v) in src.metadata.range(prefix.to_string()..) {
            if !k.starts_with(prefix) {
                break;
            }
            self.add_meta(k.clone(), v.clone())?;
            n += 1;
        }
        Ok(n)
    }

    /// A file shaped like `src`: all its metadata (in key order) and its
    /// tensors' names, types and shapes (in its order), no data. `src` may
    /// have been parsed from a header alone (`Gguf::parse_header`): with
    /// [`GgufWriter::write_random`] this makes a model that runs the same
    /// kernels as `src`, from a file a few MB long (its answers are noise;
    /// on lavapipe it decodes at `src`'s speed).
    pub fn shaped_like(src: &Gguf) -> Result<Self> {
        let mut w = Self::new();
        w.add_meta_from(src, "")?;
        for t in &src.tensors {
            w.add_tensor(t.name.clone(), t.ty, &t.shape)?;
        }
        Ok(w)
    }

    /// Sets `general.alignment`: where each tensor's data starts, in bytes
    /// (a power of two; 32 if never set).
    pub fn set_alignment(&mut self, alignment: u32) -> Result<()> {
        self.add_meta(ALIGNMENT_KEY, Value::U32(alignment))
    }

    /// The tensor data alignment in bytes: `general.alignment`, or 32.
    pub fn alignment(&self) -> u64 {
        self.meta(ALIGNMENT_KEY)
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_ALIGNMENT as u64)
    }

    /// The value set for `key`, if any.
    pub fn meta(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Declares a tensor of type `ty` and shape `shape` (`ne[0]` first) and
    /// returns its index, which [`GgufWriter::write`] passes to the data
    /// callback. Tensors are written in the order declared.
    ///
    /// Refuses, with the error the reader would give, a shape of no or more
    /// than four dimensions, a zero or absurdly large one, an `ne[0]` that is
    /// not a multiple of the type's block length, and a repeated name.
    /// (Names of 64 bytes or more are accepted, though llama.cpp refuses them.)
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        ty: GgmlType,
        shape: &[u64],
    ) -> Result<usize> {
        let name = name.into();
        if shape.is_empty() || shape.len() > MAX_DIMS as usize {
            return Err(GgufError::TooManyDims {
                name,
                dims: shape.len() as u32,
            });
        }
        let n = shape.iter().try_fold(
            1u64,
            |acc, &d| if d == 0 { None } else { acc.checked_mul(d) },
        );
        if n.is_none_or(|n| n > MAX_TENSOR_ELEMENTS) {
            return Err(GgufError::AbsurdShape {
                name,
                shape: shape.to_vec(),
            });
        }
        let block = ty.block_len() as u64;
        if !shape[0].is_multiple_of(block) {
            return Err(GgufError::RaggedBlocks {
                name,
                ne0: shape[0],
                block,
            });
        }
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(GgufError::DuplicateTensor(name));
        }
        let mut t = TensorDecl {
            name,
            ty,
            shape: shape.to_vec(),
            n_bytes: 0,
        };
        t.n_bytes = t.n_blocks() * ty.block_bytes() as u64;
        self.tensors.push(t);
        Ok(self.tensors.len() - 1)
    }

    /// The tensors declared so far, in file order.
    pub fn tensors(&self) -> &[TensorDecl] {
        &self.tensors
    }

    /// Writes the whole file to `w` and returns its length in bytes.
    ///
    /// `data(i, out)` must write exactly `tensors()[i].n_bytes` bytes of tensor
    /// `i`'s file-layout data to `out`; it is called once per tensor, in order.
    /// Writing more or fewer is an `InvalidInput` error naming the tensor, and
    /// the file is then incomplete. Padding between tensors is written here,
    /// and the file ends on an alignment boundary, as llama.cpp's do.
    ///
    /// Output is buffered here, so `w` may be a bare `File`.
    pub fn write<W: Write>(
        &self,
        w: W,
        mut data: impl FnMut(usize, &mut dyn Write) -> io::Result<()>,
    ) -> io::Result<u64> {
        let alignment = self.alignment();
        let mut out = BufWriter::with_capacity(1 << 16, w);
        let header = self.header(alignment);
        out.write_all(&header)?;
        let mut pos = header.len() as u64;
        for (i, t) in self.tensors.iter().enumerate() {
            let mut limited = Limited {
                inner: &mut out,
                left: t.n_bytes,
                tensor: t,
            };
            data(i, &mut limited)?;
            if limited.left != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "tensor {:?}: the data callback wrote {} bytes, but a {} tensor of shape {:?} has {}",
                        t.name,
                        t.n_bytes - limited.left,
                        t.ty.name(),
                        t.shape,
                        t.n_bytes
                    ),
                ));
            }
            pos += t.n_bytes;
            pos += pad(&mut out, pos, alignment)?;
        }
        out.flush()?;
        Ok(pos)
    }

    /// Writes the header alone (everything before the tensor data, padded to
    /// the alignment) and returns its length: what `Gguf::parse_header` needs
    /// to know the file's shape.
    pub fn write_header<W: Write>(&self, mut w: W) -> io::Result<u64> {
        let header = self.header(self.alignment());
        w.write_all(&header)?;
        Ok(header.len() as u64)
    }

    /// Writes the whole file with [`write_random_blocks`] for every tensor:
    /// values of magnitude at most about `amplitude`, drawn from `next_u32`.
    pub fn write_random<W: Write>(
        &self,
        w: W,
        amplitude: f32,
        mut next_u32: impl FnMut() -> u32,
    ) -> io::Result<u64> {
        self.write(w, |i, out| {
            let t = &self.tensors[i];
            write_random_blocks(out, t.ty, t.n_blocks(), amplitude, &mut next_u32)
        })
    }

    /// Everything before the tensor data, padded to `alignment`.
    fn header(&self, alignment: u64) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"GGUF");
        h.extend_from_slice(&3u32.to_le_bytes());
        h.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        h.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut h, k);
            h.extend_from_slice(&value_type(v).to_le_bytes());
            put_value(&mut h, v);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_str(&mut h, &t.name);
            h.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            for d in &t.shape {
                h.extend_from_slice(&d.to_le_bytes());
            }
            h.extend_from_slice(&type_id(t.ty).to_le_bytes());
            // Offsets are relative to the data section, each on the alignment.
            h.extend_from_slice(&offset.to_le_bytes());
            offset = (offset + t.n_bytes).next_multiple_of(alignment);
        }
        h.resize((h.len() as u64).next_multiple_of(alignment) as usize, 0);
        h
    }
}

/// Passes at most `left` bytes of one tensor's data through to the file.
struct Limited<'a, W: Write> {
    inner: &'a mut W,
    left: u64,
    tensor: &'a TensorDecl,
}

impl<W: Write> Write for Limited<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tensor {:?}: the data callback wrote more than its {} bytes",
                    self.tensor.name, self.tensor.n_bytes
                ),
            ));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes zeros from `pos` up to the next multiple of `alignment`; returns how many.
fn pad(w: &mut impl Write, pos: u64, alignment: u64) -> io::Result<u64> {
    let n = pos.next_multiple_of(alignment) - pos;
    let zeros = [0u8; 256];
    let mut left = n;
    while left > 0 {
        let k = left.min(zeros.len() as u64) as usize;
        w.write_all(&zeros[..k])?;
        left -= k as u64;
    }
    Ok(n)
}

/// A tensor type's id in the GGUF tensor directory (the inverse of
/// [`GgmlType::from_id`]).
fn type_id(ty: GgmlType) -> u32 {
    match ty {
        GgmlType::F32 => 0,
        GgmlType::F16 => 1,
        GgmlType::Q4_0 => 2,
        GgmlType::Q4_1 => 3,
        GgmlType::Q5_0 => 6,
        GgmlType::Q5_1 => 7,
        GgmlType::Q8_0 => 8,
        GgmlType::Q8_1 => 9,
        GgmlType::Q2_K => 10,
        GgmlType::Q3_K => 11,
        GgmlType::Q4_K => 12,
        GgmlType::Q5_K => 13,
        GgmlType::Q6_K => 14,
        GgmlType::Q8_K => 15,
        GgmlType::BF16 => 30,
    }
}

/// A metadata value's type id in GGUF.
fn value_type(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => ARRAY_TYPE,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

/// Refuses a value the reader would not read back, or llama.cpp would not.
fn check_value(key: &str, v: &Value) -> Result<()> {
    let string_len = |v: &Value| match v {
        Value::String(s) => s.len() as u64,
        _ => 0,
    };
    let longest = match v {
        Value::Array(items) => {
            if items.len() as u64 > MAX_ARRAY_LEN {
                return Err(GgufError::TooMany {
                    what: "array elements",
                    count: items.len() as u64,
                    limit: MAX_ARRAY_LEN,
                });
            }
            if let Some(first) = items.first() {
                let ty = value_type(first);
                if ty == ARRAY_TYPE || items.iter().any(|x| value_type(x) != ty) {
                    return Err(GgufError::WrongType {
                        key: key.into(),
                        expected: "an array of one non-array type",
                    });
                }
            }
            items.iter().map(string_len).max().unwrap_or(0)
        }
        _ => string_len(v),
    };
    if longest > MAX_STRING_LEN {
        return Err(GgufError::TooMany {
            what: "bytes in a string",
            count: longest,
            limit: MAX_STRING_LEN,
        });
    }
    Ok(())
}

fn put_str(h: &mut Vec<u8>, s: &str) {
    h.extend_from_slice(&(s.len() as u64).to_le_bytes());
    h.extend_from_slice(s.as_bytes());
}

/// A value's bytes, without its type id (arrays carry their elements' type).
fn put_value(h: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => h.push(*x),
        Value::I8(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => h.push(*x as u8),
        Value::String(s) => put_str(h, s),
        Value::Array(items) => {
            // `Value` keeps no element type for an empty array; any type
            // reads back as the same empty array, so u8 it is.
            let elem = items.first().map_or(0, value_type);
            h.extend_from_slice(&elem.to_le_bytes());
            h.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for x in items {
                put_value(h, x);
            }
        }
        Value::U64(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => h.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => h.extend_from_slice(&x.to_le_bytes()),
    }
}

/// `n_blocks` random blocks of `ty` in the file layout (for F32, F16 and
/// BF16 a block is one value): see [`write_random_blocks`].
pub fn random_blocks(
    ty: GgmlType,
    n_blocks: usize,
    amplitude: f32,
    mut next_u32: impl FnMut() -> u32,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(n_blocks * ty.block_bytes());
    push_random_blocks(&mut out, ty, n_blocks, amplitude, &mut next_u32);
    out
}

/// Streams `n_blocks` random blocks of `ty` in the file layout to `w`, a
/// chunk at a time, drawing randomness from `next_u32` (e.g. `|| rng.next_u32()`).
///
/// The blocks are valid for every type: quants are random bits over their
/// whole range, and each block's scale is drawn between half and all of the
/// largest that keeps every dequantized value within `amplitude` (up to f16
/// rounding of the scales, a relative 0.1%). Blocks with mins (Q4_1, Q5_1,
/// Q2_K, Q4_K, Q5_K) set them to centre the values on zero; Q8_1's sum and
/// Q8_K's block sums agree with the quants.
///
/// Take `amplitude` positive and finite; 0.1 gives Q4_0 scales near 0.01.
/// Below about 0.016 some Q8_0 scales are f16 subnormals, and below about
/// 0.5 some K-quant ones (Q6_K's, with the widest sub-scales), which a GPU
/// may flush to zero.
pub fn write_random_blocks(
    w: &mut dyn Write,
    ty: GgmlType,
    n_blocks: u64,
    amplitude: f32,
    mut next_u32: impl FnMut() -> u32,
) -> io::Result<()> {
    const CHUNK_BYTES: u64 = 1 << 16;
    let per_chunk = (CHUNK_BYTES / ty.block_bytes() as u64).max(1);
    let mut buf = Vec::with_capacity(CHUNK_BYTES as usize + ty.block_bytes());
    let mut left = n_blocks;
    while left > 0 {
        let n = left.min(per_chunk);
        buf.clear();
        push_random_blocks(&mut buf, ty, n as usize, amplitude, &mut next_u32);
        w.write_all(&buf)?;
        left -= n;
    }
    Ok(())
}

fn push_random_blocks(
    out: &mut Vec<u8>,
    ty: GgmlType,
    n_blocks: usize,
    amplitude: f32,
    next_u32: &mut impl FnMut() -> u32,
) {
    let bb = ty.block_bytes();
    for _ in 0..n_blocks {
        let start = out.len();
        out.resize(start + bb, 0);
        random_block(ty, &mut out[start..], amplitude, next_u32);
    }
}

/// A uniform value in [0, 1).
fn unit(next_u32: &mut impl FnMut() -> u32) -> f32 {
    (next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Stores `v` as f16 at `blk[at..at + 2]`; returns the value stored.
fn put_f16(blk: &mut [u8], at: usize, v: f32) -> f32 {
    let h = f16::from_f32(v);
    blk[at..at + 2].copy_from_slice(&h.to_le_bytes());
    h.to_f32()
}

/// Fills one block (layouts: llama.cpp's `ggml/src/ggml-common.h`). Random
/// bits go everywhere first; then the scales, mins and sums are set.
fn random_block(ty: GgmlType, blk: &mut [u8], a: f32, next_u32: &mut impl FnMut() -> u32) {
    for c in blk.chunks_mut(4) {
        c.copy_from_slice(&next_u32().to_le_bytes()[..c.len()]);
    }
    // A scale in (a / bound / 2, a / bound], where `bound` is the largest
    // |value| / d the block's quants and sub-scales can reach.
    let mut scale = |bound: f32| a / bound * (0.5 + 0.5 * unit(next_u32));
    match ty {
        GgmlType::F32 => {
            let v = a * (2.0 * unit(next_u32) - 1.0);
            blk.copy_from_slice(&v.to_le_bytes());
        }
        GgmlType::F16 => {
            let v = a * (2.0 * unit(next_u32) - 1.0);
            blk.copy_from_slice(&f16::from_f32(v).to_le_bytes());
        }
        GgmlType::BF16 => {
            let v = a * (2.0 * unit(next_u32) - 1.0);
            blk.copy_from_slice(&bf16::from_f32(v).to_le_bytes());
        }
        // d, qs[16]: value = (q - 8)·d, q in 0..16.
        GgmlType::Q4_0 => {
            put_f16(blk, 0, scale(8.0));
        }
        // d, m, qs[16]: value = q·d + m, with m in [-8d, -7.5d].
        GgmlType::Q4_1 => {
            let d = put_f16(blk, 0, scale(8.0));
            let m = -d * (7.5 + 0.5 * unit(next_u32));
            put_f16(blk, 2, m);
        }
        // d, qh[4], qs[16]: value = (q - 16)·d, q in 0..32.
        GgmlType::Q5_0 => {
            put_f16(blk, 0, scale(16.0));
        }
        // d, m, qh[4], qs[16]: value = q·d + m, with m in [-16d, -15.5d].
        GgmlType::Q5_1 => {
            let d = put_f16(blk, 0, scale(16.0));
            let m = -d * (15.5 + 0.5 * unit(next_u32));
            put_f16(blk, 2, m);
        }
        // d, qs[32] (i8): value = q·d.
        GgmlType::Q8_0 => {
            put_f16(blk, 0, scale(128.0));
        }
        // d, s = d·Σq, qs[32] (i8).
        GgmlType::Q8_1 => {
            let d = put_f16(blk, 0, scale(128.0));
            let sum: i32 = blk[4..36].iter().map(|&q| q as i8 as i32).sum();
            put_f16(blk, 2, d * sum as f32);
        }
        // scales[16] (scale | min << 4), qs[64] (2 bits), d, dmin:
        // value = d·sc·q - dmin·min. With min = sc and dmin = 1.5d,
        // value = d·sc·(q - 1.5), so |value| <= 15·1.5·d.
        GgmlType::Q2_K => {
            for s in &mut blk[..16] {
                *s = (*s & 0x0f) | (*s & 0x0f) << 4;
            }
            let d = put_f16(blk, 80, scale(22.5));
            put_f16(blk, 82, 1.5 * d);
        }
        // hmask[32], qs[64], scales[12] (16 six-bit values), d:
        // value = d·(sc - 32)·q with q in -4..4; any bits are valid.
        GgmlType::Q3_K => {
            put_f16(blk, 108, scale(128.0));
        }
        // d, dmin, scales[12], qs[128]: value = d·sc·q - dmin·min with six-bit
        // sc and min. min = sc and dmin = 7.5d give d·sc·(q - 7.5).
        GgmlType::Q4_K => {
            pack_k_scales(&mut blk[4..16]);
            let d = put_f16(blk, 0, scale(63.0 * 7.5));
            put_f16(blk, 2, 7.5 * d);
        }
        // d, dmin, scales[12], qh[32], qs[128]: as Q4_K with q in 0..32.
        GgmlType::Q5_K => {
            pack_k_scales(&mut blk[4..16]);
            let d = put_f16(blk, 0, scale(63.0 * 15.5));
            put_f16(blk, 2, 15.5 * d);
        }
        // ql[128], qh[64], scales[16] (i8), d: value = d·sc·(q - 32), q in 0..64.
        GgmlType::Q6_K => {
            put_f16(blk, 208, scale(128.0 * 32.0));
        }
        // d (f32), qs[256] (i8), bsums[16] (i16, sums of 16 quants).
        GgmlType::Q8_K => {
            let d = scale(128.0);
            blk[..4].copy_from_slice(&d.to_le_bytes());
            for g in 0..16 {
                let at = 4 + 16 * g;
                let sum: i16 = blk[at..at + 16].iter().map(|&q| q as i8 as i16).sum();
                let at = 260 + 2 * g;
                blk[at..at + 2].copy_from_slice(&sum.to_le_bytes());
            }
        }
    }
}

/// Packs eight random six-bit sub-block scales, taken from the random bytes
/// already in `s`, into Q4_K/Q5_K's 12 bytes, each with its min equal to it.
/// Layout (llama.cpp's `get_scale_min_k4`): for j < 4, scale j is the low six
/// bits of byte j and min j of byte j + 4; for j >= 4, the low four bits of
/// scale and min are the two nibbles of byte j + 4, and their high two bits
/// are the top bits of bytes j - 4 and j.
fn pack_k_scales(s: &mut [u8]) {
    let mut sc = [0u8; 8];
    for (j, v) in sc.iter_mut().enumerate() {
        *v = s[j] & 63;
    }
    for j in 0..4 {
        let hi = (sc[j + 4] >> 4) << 6;
        s[j] = sc[j] | hi;
        s[j + 4] = sc[j] | hi;
        s[j + 8] = (sc[j + 4] & 0x0f) | (sc[j + 4] & 0x0f) << 4;
    }
}
