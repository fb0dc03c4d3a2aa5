//! A GGUF v2/v3 reader that distrusts its input.
//!
//! It parses the header (metadata and tensor directory) from a byte slice and
//! hands out each tensor's raw bytes as a sub-slice. It does not interpret
//! weights: `format::quant` does that. Every count and length read from the
//! file is capped before anything is allocated, and every tensor's extent is
//! checked against the file, so a truncated or lying file yields a named
//! [`GgufError`] instead of a panic or a huge allocation.
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

use std::collections::BTreeMap;

use super::quant::GgmlType;

/// "GGUF" read as a little-endian u32.
const GGUF_MAGIC: u32 = 0x4655_4747;
/// Caps that no real model comes near; they stop a lying header from making
/// the reader allocate gigabytes before it notices.
const MAX_TENSORS: u64 = 1 << 20;
const MAX_KV: u64 = 1 << 20;
const MAX_STRING_LEN: u64 = 16 << 20;
const MAX_ARRAY_LEN: u64 = 1 << 24;
const MAX_DIMS: u32 = 4;
/// Largest element count accepted for one tensor (2^40 values).
const MAX_TENSOR_ELEMENTS: u64 = 1 << 40;

/// What can be wrong with a GGUF file. Each variant names the lie.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GgufError {
    #[error("not a GGUF file (the first four bytes are not \"GGUF\")")]
    BadMagic,
    #[error("GGUF version {0} is not supported (only versions 2 and 3 are)")]
    UnsupportedVersion(u32),
    #[error("the file ends early, at byte {0}, while reading {1}")]
    Truncated(usize, &'static str),
    #[error("the header claims {count} {what}, more than the limit of {limit}")]
    TooMany {
        what: &'static str,
        count: u64,
        limit: u64,
    },
    #[error("a string in the header is not valid UTF-8")]
    BadUtf8,
    #[error("unknown metadata value type {0}")]
    UnknownValueType(u32),
    #[error("tensor {name:?} has unknown or unsupported type id {type_id}")]
    UnknownTensorType { name: String, type_id: u32 },
    #[error("tensor {name:?} has {dims} dimensions (at most {MAX_DIMS} allowed)")]
    TooManyDims { name: String, dims: u32 },
    #[error("tensor {name:?} has an absurd shape {shape:?}")]
    AbsurdShape { name: String, shape: Vec<u64> },
    #[error(
        "tensor {name:?}: its first dimension {ne0} is not a multiple of the block size {block}"
    )]
    RaggedBlocks { name: String, ne0: u64, block: u64 },
    #[error("tensor {name:?} lies outside the file (offset {offset}, {len} bytes, file data is {available} bytes)")]
    OutOfBounds {
        name: String,
        offset: u64,
        len: u64,
        available: u64,
    },
    #[error("tensor {name:?} has offset {offset}, not aligned to {alignment}")]
    Misaligned {
        name: String,
        offset: u64,
        alignment: u64,
    },
    #[error("tensor {0:?} appears twice")]
    DuplicateTensor(String),
    #[error("general.alignment {0} is not a power of two")]
    BadAlignment(u64),
    #[error("metadata key {0:?} is missing")]
    MissingKey(String),
    #[error("metadata key {key:?} has the wrong type (expected {expected})")]
    WrongType { key: String, expected: &'static str },
}

pub type Result<T> = std::result::Result<T, GgufError>;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// The value as an unsigned integer, whatever its integer width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    /// The value as a float, from any numeric type.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One entry of the tensor directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// `ne[0]` first: the fastest-varying dimension (a row's length for a matrix).
    pub shape: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }
    /// Bytes this tensor occupies in the file.
    pub fn n_bytes(&self) -> u64 {
        self.n_elements() / self.ty.block_len() as u64 * self.ty.block_bytes() as u64
    }
    /// Rows of a matrix: every dimension past the first.
    pub fn n_rows(&self) -> u64 {
        self.shape.iter().skip(1).product()
    }
}

/// A parsed GGUF file: metadata, tensor directory, and where the data starts.
#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    /// Absolute byte offset of the data section in the file.
    pub data_offset: u64,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(GgufError::Truncated(self.pos, what))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(GgufError::Truncated(self.pos, what))?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn string(&mut self, what: &'static str) -> Result<String> {
        let len = self.u64(what)?;
        if len > MAX_STRING_LEN {
            return Err(GgufError::TooMany {
                what: "bytes in a string",
                count: len,
                limit: MAX_STRING_LEN,
            });
        }
        let bytes = self.take(len as usize, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::BadUtf8)
    }
    fn value(&mut self, ty: u32, depth: u32) -> Result<Value> {
        const W: &str = "a metadata value";
        Ok(match ty {
            0 => Value::U8(self.array::<1>(W)?[0]),
            1 => Value::I8(self.array::<1>(W)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(W)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(W)?)),
            4 => Value::U32(self.u32(W)?),
            5 => Value::I32(i32::from_le_bytes(self.array(W)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(W)?)),
            7 => Value::Bool(self.array::<1>(W)?[0] != 0),
            8 => Value::String(self.string(W)?),
            9 => {
                if depth > 2 {
                    return Err(GgufError::UnknownValueType(ty));
                }
                let elem_ty = self.u32(W)?;
                let n = self.u64(W)?;
                if n > MAX_ARRAY_LEN {
                    return Err(GgufError::TooMany {
                        what: "array elements",
                        count: n,
                        limit: MAX_ARRAY_LEN,
                    });
                }
                // Each element takes at least one byte: a count past the end is a lie.
                if n as usize > self.buf.len().saturating_sub(self.pos) {
                    return Err(GgufError::Truncated(self.pos, "an array"));
                }
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.value(elem_ty, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64(W)?),
            11 => Value::I64(i64::from_le_bytes(self.array(W)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(W)?)),
            t => return Err(GgufError::UnknownValueType(t)),
        })
    }
}

impl Gguf {
    /// Parses the header of a GGUF file. `bytes` must hold at least the whole
    /// header; pass `file_len` (the whole file's length) so tensor extents can
    /// be checked even when only the header has been read.
    pub fn parse_header(bytes: &[u8], file_len: u64) -> Result<Gguf> {
        let mut r = Reader { buf: bytes, pos: 0 };
        if r.u32("the magic")? != GGUF_MAGIC {
            return Err(GgufError::BadMagic);
        }
        let version = r.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = r.u64("the tensor count")?;
        let n_kv = r.u64("the metadata count")?;
        if n_tensors > MAX_TENSORS {
            return Err(GgufError::TooMany {
                what: "tensors",
                count: n_tensors,
                limit: MAX_TENSORS,
            });
        }
        if n_kv > MAX_KV {
            return Err(GgufError::TooMany {
                what: "metadata entries",
                count: n_kv,
                limit: MAX_KV,
            });
        }
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string("a metadata key")?;
            let ty = r.u32("a metadata type")?;
            let v = r.value(ty, 0)?;
            metadata.insert(key, v);
        }
        let mut tensors: Vec<TensorInfo> = Vec::with_capacity(n_tensors.min(4096) as usize);
        let mut names = std::collections::HashSet::new();
        for _ in 0..n_tensors {
            let name = r.string("a tensor name")?;
            let dims = r.u32("a tensor's dimension count")?;
            if dims == 0 || dims > MAX_DIMS {
                return Err(GgufError::TooManyDims { name, dims });
            }
            let mut shape = Vec::with_capacity(dims as usize);
            for _ in 0..dims {
                shape.push(r.u64("a tensor dimension")?);
            }
            let type_id = r.u32("a tensor type")?;
            let offset = r.u64("a tensor offset")?;
            let ty = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType {
                name: name.clone(),
                type_id,
            })?;
            let n = shape.iter().try_fold(
                1u64,
                |acc, &d| if d == 0 { None } else { acc.checked_mul(d) },
            );
            match n {
                Some(n) if n <= MAX_TENSOR_ELEMENTS => {}
                _ => return Err(GgufError::AbsurdShape { name, shape }),
            }
            if shape[0] % ty.block_len() as u64 != 0 {
                return Err(GgufError::RaggedBlocks {
                    name,
                    ne0: shape[0],
                    block: ty.block_len() as u64,
                });
            }
            if !names.insert(name.clone()) {
                return Err(GgufError::DuplicateTensor(name));
            }
            tensors.push(TensorInfo {
                name,
                shape,
                ty,
                offset,
            });
        }
        let alignment = match metadata.get("general.alignment") {
            Some(v) => v.as_u64().ok_or(GgufError::WrongType {
                key: "general.alignment".into(),
                expected: "an unsigned integer",
            })?,
            None => 32,
        };
        if alignment == 0 || !alignment.is_power_of_two() {
            return Err(GgufError::BadAlignment(alignment));
        }
        let data_offset = (r.pos as u64).div_ceil(alignment) * alignment;
        let available = file_len.saturating_sub(data_offset);
        for t in &tensors {
            if t.offset % alignment != 0 {
                return Err(GgufError::Misaligned {
                    name: t.name.clone(),
                    offset: t.offset,
                    alignment,
                });
            }
            let len = t.n_bytes();
            if t.offset.checked_add(len).is_none_or(|end| end > available) {
                return Err(GgufError::OutOfBounds {
                    name: t.name.clone(),
                    offset: t.offset,
                    len,
                    available,
                });
            }
        }
        Ok(Gguf {
            version,
            metadata,
            tensors,
            data_offset,
        })
    }

    /// Parses a whole GGUF file held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Gguf> {
        Self::parse_header(bytes, bytes.len() as u64)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The byte range of a tensor's data within the whole file.
    pub fn tensor_range(&self, t: &TensorInfo) -> std::ops::Range<usize> {
        let start = (self.data_offset + t.offset) as usize;
        start..start + t.n_bytes() as usize
    }

    pub fn get(&self, key: &str) -> Result<&Value> {
        self.metadata
            .get(key)
            .ok_or_else(|| GgufError::MissingKey(key.into()))
    }
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.get(key)?.as_u64().ok_or_else(|| GgufError::WrongType {
            key: key.into(),
            expected: "an unsigned integer",
        })
    }
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        self.get(key)?.as_f64().ok_or_else(|| GgufError::WrongType {
            key: key.into(),
            expected: "a number",
        })
    }
    pub fn get_str(&self, key: &str) -> Result<&str> {
        self.get(key)?.as_str().ok_or_else(|| GgufError::WrongType {
            key: key.into(),
            expected: "a string",
        })
    }
    /// An array of strings (a vocabulary, the merges).
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>> {
        let wrong = || GgufError::WrongType {
            key: key.into(),
            expected: "an array of strings",
        };
        self.get(key)?
            .as_array()
            .ok_or_else(wrong)?
            .iter()
            .map(|v| v.as_str().ok_or_else(wrong))
            .collect()
    }
}
