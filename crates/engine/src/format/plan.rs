//! From a GGUF file to the tensors the GPU reads: which tensors, in which
//! layout, split how. The converter (`locum shard`) writes these into shard
//! files; the direct GGUF loader uploads them straight away. Both go through
//! [`plan`] and [`tensor_bytes`], so a model loaded from shards and one
//! loaded from its GGUF hold byte-identical GPU buffers.

use crate::format::gguf::Gguf;
use crate::format::manifest::{gpu_bytes, Part, TensorEntry};
use crate::format::quant::{dequantize, q5_0_as_q8_0, repack_for_gpu, GgmlType};
use crate::{Error, Result};

/// Tensors the forward pass reads in row parts, one launch per part.
pub const ROW_SPLIT_TENSORS: &[&str] = &["token_embd.weight", "output.weight"];

/// The largest part of a [`ROW_SPLIT_TENSORS`] tensor: a shard's default size.
pub const ROW_PART_BYTES: u64 = 32 << 20;

/// One tensor (or row block) as the GPU will hold it, and where its bytes
/// come from in the GGUF.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The manifest entry, with `shard` and `offset` still 0.
    pub entry: TensorEntry,
    /// Indices into the GGUF's tensor directory: one, or the members of a
    /// fused tensor.
    sources: Vec<usize>,
    fusion: Fusion,
}

/// How a fused tensor's rows come from its members' rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    /// Not fused: one source.
    None,
    /// Every row of the first member, then of the second, …
    Concat,
    /// Row i of each member in turn: a0, b0, a1, b1, …
    Interleave,
}

/// The fused tensors of one layer: (name, members, how). Q, K and V become
/// one matrix (one matrix-vector product where there were three, and the
/// kernel rotates and caches as it writes); gate and up are interleaved so
/// that one invocation holds a gate row and its up row and writes
/// silu(gate)·up.
pub fn fusions(layer: u32) -> [(String, [String; 3], Fusion); 2] {
    let n = |s: &str| format!("blk.{layer}.{s}.weight");
    [
        (
            n("attn_qkv"),
            [n("attn_q"), n("attn_k"), n("attn_v")],
            Fusion::Concat,
        ),
        (
            n("ffn_gate_up"),
            [n("ffn_gate"), n("ffn_up"), String::new()],
            Fusion::Interleave,
        ),
    ]
}

/// Where the members of a fused tensor start in it, or how its rows mix:
/// the fusion and member names of a fused tensor `name`, for tests that
/// check a shard against the GGUF.
pub fn fused_members(name: &str) -> Option<(Fusion, Vec<String>)> {
    let layer: u32 = name.strip_prefix("blk.")?.split('.').next()?.parse().ok()?;
    fusions(layer)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, m, f)| (f, m.into_iter().filter(|s| !s.is_empty()).collect()))
}

/// Plans every tensor of `g`: matrices keep their quant type in the padded
/// GPU layout, vectors (norm weights) become f32, and any tensor larger than
/// `max_part` bytes (the embedding and output tables: [`ROW_PART_BYTES`]) is
/// split into row blocks. Errors name the first tensor
/// the kernels cannot read.
pub fn plan(g: &Gguf, max_part: u64) -> Result<Vec<Planned>> {
    let mut out = plan_each(g, max_part)?;
    fuse(g, &mut out, max_part);
    Ok(out)
}

/// Replaces each group of [`fusions`] whose members are whole (not split),
/// of one type and row length, by the fused tensor, where the members were.
fn fuse(g: &Gguf, planned: &mut Vec<Planned>, max_part: u64) {
    let layers = g
        .tensors
        .iter()
        .filter_map(|t| {
            t.name
                .strip_prefix("blk.")?
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .max()
        .map_or(0, |l| l + 1);
    for layer in 0..layers {
        for (name, members, fusion) in fusions(layer) {
            let members: Vec<&String> = members.iter().filter(|m| !m.is_empty()).collect();
            let found: Vec<usize> = members
                .iter()
                .filter_map(|m| planned.iter().position(|p| &p.entry.name == *m))
                .collect();
            if found.len() != members.len() {
                continue;
            }
            let first = &planned[found[0]].entry;
            let types: Vec<GgmlType> = found
                .iter()
                .map(|&i| g.tensors[planned[i].sources[0]].ty)
                .collect();
            let Some(ty) = fused_type(&types) else {
                continue;
            };
            let same = found.iter().all(|&i| {
                let e = &planned[i].entry;
                e.part.is_none() && e.shape.len() == 2 && e.shape[0] == first.shape[0]
            });
            let rows: Vec<u64> = found.iter().map(|&i| planned[i].entry.shape[1]).collect();
            let interleave_ok = fusion != Fusion::Interleave || rows.iter().all(|&r| r == rows[0]);
            let bytes: u64 = found.iter().map(|&i| planned[i].entry.bytes).sum();
            if !same || !interleave_ok || bytes > max_part {
                continue;
            }
            let entry = TensorEntry {
                name,
                ty: ty.name().to_string(),
                shape: vec![first.shape[0], rows.iter().sum()],
                part: None,
                shard: 0,
                offset: 0,
                bytes,
            };
            let sources: Vec<usize> = found.iter().map(|&i| planned[i].sources[0]).collect();
            let at = found[0];
            planned[at] = Planned {
                entry,
                sources,
                fusion,
            };
            let mut rest: Vec<usize> = found[1..].to_vec();
            rest.sort_unstable_by(|a, b| b.cmp(a));
            for i in rest {
                planned.remove(i);
            }
        }
    }
}

/// The type a fused tensor of members of `types` takes: theirs where they
/// agree; Q8_0 where they mix Q8_0 and Q5_0, which the GPU holds as Q8_0
/// anyway (losslessly, [`q5_0_as_q8_0`]): Gemma 3 270M Q4_K_M's Q and K are
/// Q5_0 where its V is Q8_0 in half the layers, and fused they are one
/// product launch where they were three. `None` for any other mix.
fn fused_type(types: &[GgmlType]) -> Option<GgmlType> {
    let first = *types.first()?;
    if types.iter().all(|&t| t == first) {
        return Some(first);
    }
    types
        .iter()
        .all(|t| matches!(t, GgmlType::Q8_0 | GgmlType::Q5_0))
        .then_some(GgmlType::Q8_0)
}

fn plan_each(g: &Gguf, max_part: u64) -> Result<Vec<Planned>> {
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
        // The embedding and output tables are the only tensors the forward
        // pass reads in row parts; they are split smaller than any binding
        // needs, so that no shard holding a part is much larger than the
        // others (a browser holds about three shards in wasm memory while
        // loading: Gemma's 188 MB table in one part would triple the peak).
        let max_part = match ROW_SPLIT_TENSORS.contains(&t.name.as_str()) {
            true => max_part.min(ROW_PART_BYTES),
            false => max_part,
        };
        if bytes <= max_part {
            out.push(Planned {
                entry: entry(None, bytes),
                sources: vec![source],
                fusion: Fusion::None,
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
                sources: vec![source],
                fusion: Fusion::None,
            });
        }
    }
    Ok(out)
}

/// The GPU-layout bytes of one planned tensor, from the GGUF's `file` bytes.
pub fn tensor_bytes(g: &Gguf, file: &[u8], p: &Planned) -> Result<Vec<u8>> {
    let info = &g.tensors[p.sources[0]];
    // The type the bytes are repacked as: the tensor's, or a fused one's
    // ([`fused_type`]), its members' file bytes rewritten into it where they
    // differ.
    let types: Vec<GgmlType> = p.sources.iter().map(|&s| g.tensors[s].ty).collect();
    let ty = fused_type(&types).unwrap_or(info.ty);
    let member = |s: usize| -> std::borrow::Cow<'_, [u8]> {
        let t = &g.tensors[s];
        let bytes = &file[g.tensor_range(t)];
        match (t.ty, ty) {
            (GgmlType::Q5_0, GgmlType::Q8_0) => q5_0_as_q8_0(bytes).into(),
            _ => bytes.into(),
        }
    };
    // A fused tensor's file-layout rows, mixed as its fusion says, then
    // repacked like any other.
    let mixed: Vec<u8>;
    let raw: &[u8] = match p.fusion {
        Fusion::None => &file[g.tensor_range(info)],
        Fusion::Concat => {
            mixed = p
                .sources
                .iter()
                .flat_map(|&s| member(s).into_owned())
                .collect();
            &mixed
        }
        Fusion::Interleave => {
            let owned: Vec<std::borrow::Cow<'_, [u8]>> =
                p.sources.iter().map(|&s| member(s)).collect();
            let parts: Vec<&[u8]> = owned.iter().map(|m| m.as_ref()).collect();
            let rows = info.n_rows().max(1) as usize;
            let row = parts[0].len() / rows;
            mixed = (0..rows)
                .flat_map(|r| {
                    parts
                        .iter()
                        .flat_map(move |m| m[r * row..(r + 1) * row].iter().copied())
                })
                .collect();
            &mixed
        }
    };
    let unsupported = || Error::UnsupportedType {
        tensor: info.name.clone(),
        ty: info.ty.name(),
    };
    let out = if info.shape.len() == 1 {
        let values = dequantize(info.ty, raw).ok_or_else(unsupported)?;
        bytemuck::cast_slice::<f32, u8>(&values).to_vec()
    } else {
        let rows = p.entry.shape[1..].iter().product::<u64>().max(1);
        let row_raw = raw.len() as u64 / rows;
        let (first, n) = match p.entry.part {
            Some(part) => (part.first_row, part.rows),
            None => (0, rows),
        };
        let slice = &raw[(first * row_raw) as usize..((first + n) * row_raw) as usize];
        let words = repack_for_gpu(ty, slice, info.shape[0] as usize).ok_or_else(unsupported)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::gguf_write::GgufWriter;
    use crate::format::quant::dequantize_gpu;

    /// One layer's Q and K in `qk`, V and gate/up in the other types given,
    /// random blocks: the GGUF's bytes.
    fn layer(qk: GgmlType, v: GgmlType, gate: GgmlType, up: GgmlType) -> Vec<u8> {
        let (dim, kv, ff) = (256u64, 32u64, 96u64);
        let mut w = GgufWriter::new();
        let n = |s: &str| format!("blk.0.{s}.weight");
        w.add_tensor(n("attn_q"), qk, &[dim, dim]).unwrap();
        w.add_tensor(n("attn_k"), qk, &[dim, kv]).unwrap();
        w.add_tensor(n("attn_v"), v, &[dim, kv]).unwrap();
        w.add_tensor(n("ffn_gate"), gate, &[dim, ff]).unwrap();
        w.add_tensor(n("ffn_up"), up, &[dim, ff]).unwrap();
        let mut state = 0x9e37_79b9u32;
        let mut out = Vec::new();
        w.write_random(&mut out, 1.0, || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        })
        .unwrap();
        out
    }

    /// Q5_0 and Q8_0 members (Gemma 3 Q4_K_M's Q, K and V) fuse into one
    /// Q8_0 tensor holding exactly their values, rows concatenated or
    /// interleaved; Q4_K with Q8_0 do not fuse, and like types keep theirs.
    #[test]
    fn q5_0_and_q8_0_fuse_as_q8_0_with_the_same_values() {
        let file = layer(
            GgmlType::Q5_0,
            GgmlType::Q8_0,
            GgmlType::Q8_0,
            GgmlType::Q5_0,
        );
        let g = Gguf::parse(&file).unwrap();
        let planned = plan(&g, u64::MAX).unwrap();
        let names: Vec<&str> = planned.iter().map(|p| p.entry.name.as_str()).collect();
        assert_eq!(names, ["blk.0.attn_qkv.weight", "blk.0.ffn_gate_up.weight"]);
        let values = |name: &str| {
            let t = g.tensor(&format!("blk.0.{name}.weight")).unwrap();
            dequantize(t.ty, &file[g.tensor_range(t)]).unwrap()
        };
        for p in &planned {
            assert_eq!(p.entry.ty, "Q8_0", "{}", p.entry.name);
            let want: Vec<f32> = match p.fusion {
                Fusion::Concat => [values("attn_q"), values("attn_k"), values("attn_v")].concat(),
                _ => {
                    let (gate, up) = (values("ffn_gate"), values("ffn_up"));
                    gate.chunks(256)
                        .zip(up.chunks(256))
                        .flat_map(|(a, b)| [a, b].concat())
                        .collect()
                }
            };
            let bytes = tensor_bytes(&g, &file, p).unwrap();
            let got = dequantize_gpu(GgmlType::Q8_0, &bytes, want.len(), 256).unwrap();
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same && got.len() == want.len(), "{}", p.entry.name);
        }
        let file = layer(
            GgmlType::Q4_K,
            GgmlType::Q8_0,
            GgmlType::Q5_0,
            GgmlType::Q5_0,
        );
        let g = Gguf::parse(&file).unwrap();
        let planned = plan(&g, u64::MAX).unwrap();
        let entries: Vec<(&str, &str)> = planned
            .iter()
            .map(|p| (p.entry.name.as_str(), p.entry.ty.as_str()))
            .collect();
        assert_eq!(
            entries,
            [
                ("blk.0.attn_q.weight", "Q4_K"),
                ("blk.0.attn_k.weight", "Q4_K"),
                ("blk.0.attn_v.weight", "Q8_0"),
                ("blk.0.ffn_gate_up.weight", "Q5_0"),
            ]
        );
    }
}
