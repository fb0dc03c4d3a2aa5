//! GGML tensor types: their block layouts in the file, their dequantization on
//! the CPU (the reference every GPU kernel is tested against), and their
//! repacking into the GPU layout the WGSL kernels read.
//!
//! File layouts follow llama.cpp's `ggml/src/ggml-common.h`; values within a
//! block run along `ne[0]`.
//!
//! ## GPU layout ("split blocks")
//!
//! WGSL storage has no `u8` or `f16` arrays without extensions, and on CPU
//! adapters every storage load costs the same whether it fetches one word or
//! four, so the kernels read weights as `array<vec4<u32>>`: sixteen bytes per
//! load, each load aligned. The float types keep the file layout (rows whose
//! length is a multiple of 8 values are then whole vec4s). The block types
//! are split in two regions, so that a block's quants are whole vec4s:
//!
//! ```text
//!   quants: row 0 block 0, row 0 block 1, …, row 1 block 0, …   (16 B per block, 32 B for Q8_0)
//!   scales: row 0: ceil(nb / 4) vec4s, one word per block, zero-padded; row 1: …
//! ```
//!
//! A scale word holds the block's `d` in its low half (f16) and, for Q4_1,
//! `m` in its high half: a value is q·d + m (Q4_0: m = −8d; Q8_0: m = 0).
//!
//! | type | file bytes / 32 values | GPU bytes / 32 values | quants |
//! |------|------------------------|-----------------------|--------|
//! | F32  | 128 | 128 | the values' bits |
//! | F16  | 64  | 64  | two halves per word, low half first |
//! | Q4_0 | 18  | 20 (+ row padding) | 16 bytes of nibbles: value j < 16 low nibble of byte j, j + 16 its high nibble |
//! | Q4_1 | 20  | 20 (+ row padding) | as Q4_0 |
//! | Q8_0 | 34  | 36 (+ row padding) | 32 signed bytes |
//!
//! A row of `nb` blocks pads its scales to a multiple of 4 words: for
//! SmolLM2's 576-wide rows (18 blocks) that is 2 words per row, 0.5%.

use half::f16;

/// A GGML tensor type, by its id in the GGUF tensor directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    BF16,
}

/// Q4_0: `d` (f16) then 16 bytes; value j<16 is `(lo nibble of byte j) - 8`,
/// value j+16 the high nibble. 18 bytes per 32 values.
#[repr(C)]
pub struct BlockQ4_0 {
    pub d: u16,
    pub qs: [u8; 16],
}
/// Q4_1: `d`, `m` (f16) then 16 bytes of nibbles; value = q·d + m.
#[repr(C)]
pub struct BlockQ4_1 {
    pub d: u16,
    pub m: u16,
    pub qs: [u8; 16],
}
/// Q8_0: `d` (f16) then 32 signed bytes; value = q·d.
#[repr(C)]
pub struct BlockQ8_0 {
    pub d: u16,
    pub qs: [i8; 32],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);

impl GgmlType {
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            9 => Self::Q8_1,
            10 => Self::Q2_K,
            11 => Self::Q3_K,
            12 => Self::Q4_K,
            13 => Self::Q5_K,
            14 => Self::Q6_K,
            15 => Self::Q8_K,
            30 => Self::BF16,
            _ => return None,
        })
    }

    /// Values per block.
    pub fn block_len(self) -> usize {
        match self {
            Self::F32 | Self::F16 | Self::BF16 => 1,
            Self::Q4_0 | Self::Q4_1 | Self::Q5_0 | Self::Q5_1 | Self::Q8_0 | Self::Q8_1 => 32,
            Self::Q2_K | Self::Q3_K | Self::Q4_K | Self::Q5_K | Self::Q6_K | Self::Q8_K => 256,
        }
    }

    /// Bytes per block in the file.
    pub fn block_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q8_0 => 34,
            Self::Q8_1 => 36,
            Self::Q2_K => 84,
            Self::Q3_K => 110,
            Self::Q4_K => 144,
            Self::Q5_K => 176,
            Self::Q6_K => 210,
            Self::Q8_K => 292,
        }
    }

    /// Whether the engine's kernels read this type.
    pub fn gpu_supported(self) -> bool {
        self.gpu_code().is_some()
    }

    /// The `QTYPE` override constant the WGSL kernels switch on.
    pub fn gpu_code(self) -> Option<u32> {
        Some(match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q8_0 => 8,
            _ => return None,
        })
    }

    /// Bytes of one row of `row_len` values in the GPU layout (see module
    /// docs), or `None` for a type the kernels do not read or a row that is
    /// not whole blocks.
    pub fn gpu_row_bytes(self, row_len: u64) -> Option<u64> {
        let (qbytes, scaled) = match self {
            Self::F32 => return row_len.checked_mul(4),
            Self::F16 => return row_len.checked_mul(2),
            Self::Q4_0 | Self::Q4_1 => (16, true),
            Self::Q8_0 => (32, true),
            _ => return None,
        };
        if !row_len.is_multiple_of(32) || !scaled {
            return None;
        }
        let nb = row_len / 32;
        Some(nb * qbytes + nb.div_ceil(4) * 16)
    }

    /// The type named `name` ("Q4_1"), as [`GgmlType::name`] spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        (0..=30)
            .filter_map(Self::from_id)
            .find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q8_1 => "Q8_1",
            Self::Q2_K => "Q2_K",
            Self::Q3_K => "Q3_K",
            Self::Q4_K => "Q4_K",
            Self::Q5_K => "Q5_K",
            Self::Q6_K => "Q6_K",
            Self::Q8_K => "Q8_K",
            Self::BF16 => "BF16",
        }
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}

/// Dequantizes file-layout bytes of `ty` into f32 values (the CPU reference).
/// Returns `None` for a type the engine does not read.
pub fn dequantize(ty: GgmlType, bytes: &[u8]) -> Option<Vec<f32>> {
    let bb = ty.block_bytes();
    let n_blocks = bytes.len() / bb;
    let mut out = Vec::with_capacity(n_blocks * ty.block_len());
    match ty {
        GgmlType::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        GgmlType::F16 => out.extend((0..n_blocks).map(|i| f16_at(bytes, 2 * i))),
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            for blk in bytes.chunks_exact(bb) {
                let d = f16_at(blk, 0);
                let (m, qs) = if ty == GgmlType::Q4_1 {
                    (f16_at(blk, 2), &blk[4..20])
                } else {
                    (-8.0 * d, &blk[2..18])
                };
                let start = out.len();
                out.resize(start + 32, 0.0);
                for (j, &q) in qs.iter().enumerate() {
                    out[start + j] = (q & 0x0f) as f32 * d + m;
                    out[start + j + 16] = (q >> 4) as f32 * d + m;
                }
            }
        }
        GgmlType::Q8_0 => {
            for blk in bytes.chunks_exact(bb) {
                let d = f16_at(blk, 0);
                out.extend(blk[2..34].iter().map(|&q| q as i8 as f32 * d));
            }
        }
        _ => return None,
    }
    Some(out)
}

/// Bytes of quants per block in the GPU layout of a block type.
fn gpu_quant_bytes(ty: GgmlType) -> Option<usize> {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q4_1 => Some(16),
        GgmlType::Q8_0 => Some(32),
        _ => None,
    }
}

/// Repacks file-layout bytes of `ty`, rows of `row_len` values, into the
/// GPU layout (see module docs).
pub fn repack_for_gpu(ty: GgmlType, bytes: &[u8], row_len: usize) -> Option<Vec<u32>> {
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    match ty {
        GgmlType::F32 => return Some(bytes.chunks_exact(4).map(word).collect()),
        GgmlType::F16 => {
            // An odd count leaves half a word: pad it with zero.
            let mut v: Vec<u32> = bytes.chunks_exact(4).map(word).collect();
            if bytes.len() % 4 == 2 {
                let n = bytes.len();
                v.push(u16::from_le_bytes([bytes[n - 2], bytes[n - 1]]) as u32);
            }
            return Some(v);
        }
        _ => {}
    }
    let qbytes = gpu_quant_bytes(ty)?;
    if row_len == 0 || !row_len.is_multiple_of(32) {
        return None;
    }
    let bb = ty.block_bytes();
    let nb = row_len / 32;
    let rows = bytes.len() / (nb * bb);
    let ns = nb.div_ceil(4) * 4;
    let mut quants = Vec::with_capacity(rows * nb * qbytes / 4);
    let mut scales = vec![0u32; rows * ns];
    for (i, blk) in bytes.chunks_exact(bb).enumerate() {
        let (r, b) = (i / nb, i % nb);
        // d (and m for Q4_1) are the block's first 2 (4) bytes.
        scales[r * ns + b] = match ty {
            GgmlType::Q4_1 => word(&blk[0..4]),
            _ => u16::from_le_bytes([blk[0], blk[1]]) as u32,
        };
        quants.extend(blk[bb - qbytes..].chunks_exact(4).map(word));
    }
    quants.extend(scales);
    Some(quants)
}

/// Dequantizes GPU-layout bytes of `ty` (as [`repack_for_gpu`] wrote them,
/// rows of `row_len` values) into `n` f32 values: the inverse of the
/// repacking, for tests that check what a shard holds against the GGUF it
/// came from.
pub fn dequantize_gpu(ty: GgmlType, bytes: &[u8], n: usize, row_len: usize) -> Option<Vec<f32>> {
    let file: Vec<u8> = match ty {
        GgmlType::F32 => bytes.to_vec(),
        GgmlType::F16 => bytes[..(2 * n).min(bytes.len())].to_vec(),
        _ => {
            let qbytes = gpu_quant_bytes(ty)?;
            if row_len == 0 || !row_len.is_multiple_of(32) {
                return None;
            }
            let nb = row_len / 32;
            let rows = n / row_len;
            let ns = nb.div_ceil(4) * 4;
            let (quants, scales) = bytes.split_at_checked(rows * nb * qbytes)?;
            let mut v = Vec::with_capacity(rows * nb * ty.block_bytes());
            for i in 0..rows * nb {
                let (r, b) = (i / nb, i % nb);
                let s = scales.get((r * ns + b) * 4..(r * ns + b) * 4 + 4)?;
                let scale_len = ty.block_bytes() - qbytes;
                v.extend_from_slice(&s[..scale_len]);
                v.extend_from_slice(&quants[i * qbytes..(i + 1) * qbytes]);
            }
            v
        }
    };
    let mut out = dequantize(ty, &file)?;
    out.truncate(n);
    Some(out)
}
