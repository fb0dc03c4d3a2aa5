//! From a GGUF file to the tensors the GPU reads: which tensors, in which
//! layout, split how. The converter (`locum shard`) writes these into shard
//! files; the direct GGUF loader uploads them straight away. Both go through
//! [`plan`] and [`tensor_bytes`], so a model loaded from shards and one
//! loaded from its GGUF hold byte-identical GPU buffers.

use crate::format::gguf::Gguf;
use crate::format::manifest::{gpu_bytes, Part, TensorEntry};
use crate::format::quant::{dequantize, repack_for_gpu, GgmlType};
use crate::{Error, Result};

/// One tensor (or row block) as the GPU will hold it, and where its bytes
/// come from in the GGUF.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The manifest entry, with `shard` and `offset` still 0.
    pub entry: TensorEntry,
    /// Index into the GGUF's tensor directory.
    source: usize,
}

/// Plans every tensor of `g`: matrices keep their quant type in the padded
/// GPU layout, vectors (norm weights) become f32, and any tensor larger than
/// `max_part` bytes is split into row blocks. Errors name the first tensor
/// the kernels cannot read.
pub fn plan(g: &Gguf, max_part: u64) -> Result<Vec<Planned>> {
    let mut out = Vec::with_capacity(g.tensors.len());
    for (source, t) in g.tensors.iter().enumerate() {
        let unsupported = || Error::UnsupportedType {
            tensor: t.name.clone(),
            ty: t.ty.name(),
        };
        let is_vector = t.shape.len() == 1;
        let ty = if is_vector {
            // Norm weights are tiny; the kernels read them as f32.
            dequantize(t.ty, &[]).ok_or_else(unsupported)?;
            GgmlType::F32
        } else {
            t.ty.gpu_code().ok_or_else(unsupported)?;
            t.ty
        };
        let bytes = gpu_bytes(ty, &t.shape).ok_or_else(|| {
            Error::BadConfig(format!("tensor {} has shape {:?}", t.name, t.shape))
        })?;
        let entry = |part: Option<Part>, bytes: u64| TensorEntry {
            name: t.name.clone(),
            ty: ty.name().to_string(),
            shape: t.shape.clone(),
            part,
            shard: 0,
            offset: 0,
            bytes,
        };
        if bytes <= max_part {
            out.push(Planned {
                entry: entry(None, bytes),
                source,
            });
            continue;
        }
        let rows = t.n_rows();
        let row_bytes = bytes / rows.max(1);
        let per_part = (max_part / row_bytes.max(1)).max(1);
        let count = rows.div_ceil(per_part) as u32;
        for index in 0..count {
            let first_row = index as u64 * per_part;
            let n = per_part.min(rows - first_row);
            let part = Part {
                index,
                count,
                first_row,
                rows: n,
            };
            out.push(Planned {
                entry: entry(Some(part), n * row_bytes),
                source,
            });
        }
    }
    Ok(out)
}

/// The GPU-layout bytes of one planned tensor, from the GGUF's `file` bytes.
pub fn tensor_bytes(g: &Gguf, file: &[u8], p: &Planned) -> Result<Vec<u8>> {
    let info = &g.tensors[p.source];
    let raw = &file[g.tensor_range(info)];
    let unsupported = || Error::UnsupportedType {
        tensor: info.name.clone(),
        ty: info.ty.name(),
    };
    let out = if info.shape.len() == 1 {
        let values = dequantize(info.ty, raw).ok_or_else(unsupported)?;
        bytemuck::cast_slice::<f32, u8>(&values).to_vec()
    } else {
        let rows = info.n_rows().max(1);
        let row_raw = raw.len() as u64 / rows;
        let (first, n) = match p.entry.part {
            Some(part) => (part.first_row, part.rows),
            None => (0, rows),
        };
        let slice = &raw[(first * row_raw) as usize..((first + n) * row_raw) as usize];
        let words =
            repack_for_gpu(info.ty, slice, info.shape[0] as usize).ok_or_else(unsupported)?;
        bytemuck::cast_slice::<u32, u8>(&words).to_vec()
    };
    if out.len() as u64 != p.entry.bytes {
        return Err(Error::BadConfig(format!(
            "tensor {} repacked to {} bytes, expected {}",
            info.name,
            out.len(),
            p.entry.bytes
        )));
    }
    Ok(out)
}
