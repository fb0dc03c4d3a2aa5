//! The shard manifest: what `locum shard` writes beside a model's shard files
//! and what the engine loads from, natively and in the browser.
//!
//! A shard directory holds `manifest.json`, `tokenizer.json` and
//! `shard-NNN.bin` files. Every tensor in the shards is already in the GPU
//! layout the kernels read ([`crate::format::quant`]): matrices as split,
//! tiled blocks, vectors (norm weights) as f32. Loading is therefore a copy from the
//! shard's bytes into a GPU buffer, with no conversion on the way, which is
//! what lets the browser stream shards into GPU memory without holding the
//! model in wasm memory.
//!
//! A tensor never straddles two shards. A tensor larger than
//! [`MAX_PART_BYTES`] (WebGPU's guaranteed `maxStorageBufferBindingSize`) is
//! split into row blocks, each an entry of its own with a [`Part`].
//!
//! [`Manifest::parse`] distrusts its input as the GGUF reader does: an
//! unknown format version, architecture or quant type, a tensor that points
//! outside its shard or whose length disagrees with its type and shape, are
//! each a named error before anything is downloaded.

use serde::{Deserialize, Serialize};

use crate::format::quant::GgmlType;
use crate::model::Config;
use crate::{Error, Result};

/// The manifest format this engine reads and `locum shard` writes: 4 since
/// the GPU layout went into tiles of rows (`quant` module docs, "Tiles"),
/// so that shards written before are named as old, not read wrongly.
pub const FORMAT_VERSION: u32 = 4;

/// The `format` field of every manifest.
pub const FORMAT_NAME: &str = "locum-shards";

/// WebGPU's guaranteed `maxStorageBufferBindingSize`: no tensor part is larger.
pub const MAX_PART_BYTES: u64 = 128 << 20;

/// Architectures (GGUF `general.architecture`) the forward pass implements.
pub const SUPPORTED_ARCHS: &[&str] = &["llama", "gemma3", "qwen3"];

/// A sharded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written by this engine.
    pub version: u32,
    pub model: ModelMeta,
    pub config: Config,
    pub tokenizer: TokenizerMeta,
    /// Every tensor (or tensor part), in shard order.
    pub tensors: Vec<TensorEntry>,
    pub shards: Vec<ShardEntry>,
}

/// What the model is and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub name: String,
    /// GGUF `general.architecture`, e.g. "llama".
    pub architecture: String,
    /// GGUF `general.license`, when the file says.
    pub license: Option<String>,
    /// The GGUF file this was converted from.
    pub source_file: String,
    pub source_sha256: String,
    pub source_bytes: u64,
    /// The quant types of the tensors, sorted, e.g. ["F32", "Q4_1"].
    pub quant_types: Vec<String>,
}

/// The tokenizer file and the rules around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerMeta {
    /// HF `tokenizers` JSON, relative to the manifest.
    pub file: String,
    pub sha256: String,
    /// Prepended to every encoded text when the model wants it.
    pub bos: Option<u32>,
    /// Tokens that end a generation.
    pub stop: Vec<u32>,
    /// The model's chat template (`tokenizer.chat_template`), if it has one.
    pub chat_template: Option<ChatTemplateMeta>,
}

/// A chat template with the special tokens it may refer to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatTemplateMeta {
    pub source: String,
    pub bos_token: String,
    pub eos_token: String,
}

/// One tensor, or one row block of a split tensor, in a shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    /// The GGUF tensor name, e.g. "blk.0.attn_q.weight".
    pub name: String,
    /// The GGML type name ("Q4_1"); vectors are stored as "F32".
    #[serde(rename = "type")]
    pub ty: String,
    /// GGUF order: `shape[0]` is the length of a row (n_in), `shape[1]` the
    /// number of rows (n_out). The whole tensor's shape, also for a part.
    pub shape: Vec<u64>,
    /// Set when the tensor is split into row blocks.
    pub part: Option<Part>,
    /// Index into [`Manifest::shards`].
    pub shard: u32,
    /// Byte offset in the shard.
    pub offset: u64,
    /// Bytes in the shard, in the GPU layout.
    pub bytes: u64,
}

/// A row block of a tensor too large for one GPU binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub index: u32,
    pub count: u32,
    pub first_row: u64,
    pub rows: u64,
}

/// One shard file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name, relative to the manifest.
    pub file: String,
    pub bytes: u64,
    /// Lower-case hex.
    pub sha256: String,
}

impl TensorEntry {
    /// The tensor's type. Only valid after [`Manifest::parse`] checked it.
    pub fn ggml_type(&self) -> Result<GgmlType> {
        GgmlType::from_name(&self.ty).ok_or_else(|| Error::UnsupportedType {
            tensor: self.name.clone(),
            ty: "unknown",
        })
    }

    /// Rows this entry holds (all of them, or its part's).
    pub fn rows(&self) -> u64 {
        match self.part {
            Some(p) => p.rows,
            None => self.shape.iter().skip(1).product(),
        }
    }
}

/// Bytes a tensor of `ty` with `shape` takes in the GPU layout, or `None`
/// when the type is not one the kernels read or the shape does not fit it.
pub fn gpu_bytes(ty: GgmlType, shape: &[u64]) -> Option<u64> {
    let n: u64 = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
    let row = *shape.first()?;
    if !row.is_multiple_of(ty.block_len() as u64) {
        return None;
    }
    match ty {
        GgmlType::F32 => n.checked_mul(4),
        GgmlType::F16 => n.div_ceil(2).checked_mul(4),
        _ => (n / row.max(1)).checked_mul(ty.gpu_row_bytes(row)?),
    }
}

impl Manifest {
    /// Reads and checks a manifest. Errors name what is wrong in words.
    pub fn parse(json: &str) -> Result<Manifest> {
        let bad = |m: String| Error::BadManifest(m);
        // Version and architecture first, from an untyped read, so a newer
        // or foreign manifest is named as such rather than as a parse error.
        let raw: serde_json::Value =
            serde_json::from_str(json).map_err(|e| bad(format!("it is not JSON ({e})")))?;
        if raw.get("format").and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
            return Err(bad(format!("it is not a {FORMAT_NAME} manifest")));
        }
        match raw.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == FORMAT_VERSION as u64 => {}
            Some(v) => return Err(Error::ManifestVersion(v)),
            None => return Err(bad("it has no format version".into())),
        }
        let arch = raw
            .pointer("/model/architecture")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if !SUPPORTED_ARCHS.contains(&arch) {
            return Err(Error::UnsupportedArch(arch.to_string()));
        }
        let m: Manifest =
            serde_json::from_value(raw).map_err(|e| bad(format!("it is malformed ({e})")))?;
        m.check()?;
        Ok(m)
    }

    /// Every tensor is of a type the kernels read, has the length its type
    /// and shape imply, and lies inside its shard; shards have plain names.
    fn check(&self) -> Result<()> {
        let bad = |m: String| Error::BadManifest(m);
        for s in &self.shards {
            let plain = !s.file.is_empty()
                && s.file
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !s.file.starts_with('.');
            if !plain {
                return Err(bad(format!("shard file name {:?} is not allowed", s.file)));
            }
            if s.sha256.len() != 64 || !s.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(format!("shard {} has no valid sha256", s.file)));
            }
        }
        for t in &self.tensors {
            let ty = GgmlType::from_name(&t.ty)
                .filter(|ty| ty.gpu_supported())
                .ok_or_else(|| Error::UnsupportedType {
                    tensor: t.name.clone(),
                    ty: GgmlType::from_name(&t.ty).map_or("unknown", |ty| ty.name()),
                })?;
            if t.shape.is_empty() || t.shape.len() > 4 || t.shape.contains(&0) {
                return Err(bad(format!("tensor {} has shape {:?}", t.name, t.shape)));
            }
            let mut part_shape = t.shape.clone();
            if let Some(p) = t.part {
                let total: u64 = t.shape.iter().skip(1).product();
                if p.index >= p.count || p.rows == 0 || p.first_row.saturating_add(p.rows) > total {
                    return Err(bad(format!("tensor {} has a bad part {p:?}", t.name)));
                }
                part_shape.truncate(1);
                part_shape.push(p.rows);
            }
            let expect = gpu_bytes(ty, &part_shape)
                .ok_or_else(|| bad(format!("tensor {} has shape {:?}", t.name, t.shape)))?;
            if expect != t.bytes {
                return Err(bad(format!(
                    "tensor {} claims {} bytes, its type and shape need {expect}",
                    t.name, t.bytes
                )));
            }
            if t.bytes > MAX_PART_BYTES {
                return Err(bad(format!(
                    "tensor {} is {} bytes in one part, more than {MAX_PART_BYTES}",
                    t.name, t.bytes
                )));
            }
            let shard = self.shards.get(t.shard as usize).ok_or_else(|| {
                bad(format!(
                    "tensor {} is in shard {}, which does not exist",
                    t.name, t.shard
                ))
            })?;
            if t.offset % 4 != 0
                || t.offset
                    .checked_add(t.bytes)
                    .is_none_or(|e| e > shard.bytes)
            {
                return Err(bad(format!(
                    "tensor {} lies outside shard {}",
                    t.name, shard.file
                )));
            }
        }
        Ok(())
    }

    /// The model's size: every shard together.
    pub fn total_bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.bytes).sum()
    }

    /// The entries of tensor `name` (one, or its parts in order).
    pub fn entries<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a TensorEntry> + 'a {
        self.tensors.iter().filter(move |t| t.name == name)
    }

    /// The entries stored in shard `index`.
    pub fn in_shard(&self, index: u32) -> impl Iterator<Item = &TensorEntry> + '_ {
        self.tensors.iter().filter(move |t| t.shard == index)
    }

    /// Serializes with stable field order and indentation: the same model
    /// always gives the same bytes.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}
