//! GGML tensor types: their block layouts in the file, their dequantization on
//! the CPU (the reference every GPU kernel is tested against), and their
//! repacking into the GPU layout the WGSL kernels read.
//!
//! File layouts follow llama.cpp's `ggml/src/ggml-common.h`; values within a
//! block run along `ne[0]`. The CPU dequantizer reads more types than the
//! kernels do (also Q5_1, Q5_K and Q8_K), so that tests and tools can check
//! a GGUF of those types against a reference.
//!
//! The GPU layout ("split blocks" in tiles of 128 rows) and the repacking
//! into it are in `quant/layout.rs`.

use half::f16;

mod layout;

pub use layout::*;

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
/// Q5_0: `d` (f16), `qh` (32 bits, little-endian), then 16 bytes of
/// nibbles laid out as Q4_0's; bit j of `qh` is the fifth bit of value j.
/// Value = (q − 16)·d. 22 bytes per 32 values.
#[repr(C)]
pub struct BlockQ5_0 {
    pub d: u16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}
/// Q5_1: `d`, `m` (f16), then `qh` and nibbles as Q5_0; value = q·d + m.
#[repr(C)]
pub struct BlockQ5_1 {
    pub d: u16,
    pub m: u16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

/// Values per K-quant super-block (llama.cpp's `QK_K`).
pub const QK_K: usize = 256;

/// Q4_K: a super-block of 8 sub-blocks of 32 values. `d` and `dmin` (f16)
/// scale the sub-blocks' 6-bit scales and mins, packed in `scales` (see
/// `k4_scale_min`). Each 32 bytes of `qs` hold two sub-blocks: the low
/// nibbles the even one, the high nibbles the odd one. Value of sub-block s
/// = (d·scale_s)·q − dmin·min_s. 144 bytes per 256 values.
#[repr(C)]
pub struct BlockQ4K {
    pub d: u16,
    pub dmin: u16,
    pub scales: [u8; 12],
    pub qs: [u8; QK_K / 2],
}
/// Q5_K: Q4_K plus `qh`: bit s of `qh[l]` is the fifth bit of value l of
/// sub-block s. 176 bytes per 256 values.
#[repr(C)]
pub struct BlockQ5K {
    pub d: u16,
    pub dmin: u16,
    pub scales: [u8; 12],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}
/// Q6_K: two halves of 128 values, each with 64 bytes of `ql` (the low 4
/// bits, two values a byte), 32 of `qh` (the high 2 bits, four values a
/// byte) and 8 of `scales`, one signed scale per 16 values; `d` (f16) last. Value = (d·scale)·(q − 32).
/// 210 bytes per 256 values; see `q6_k_block` for which bits go where.
#[repr(C)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: u16,
}
/// Q8_K: `d` (f32), 256 signed quants, then the sums of each 16 quants
/// (i16, for dot products; dequantization ignores them). Value = d·q.
/// Only llama.cpp's matmuls write it, but a GGUF may hold it.
#[repr(C)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    pub bsums: [i16; QK_K / 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24);
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);
const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);

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

    /// Whether the type's quants are 4-bit values laid out as Q4_0's (16
    /// bytes a 32-value block, values 0..15 in the low nibbles, 16..31 in
    /// the high), the layout the int8 products (`int8_pairs.wgsl`) unpack.
    pub fn nibble_quants(self) -> bool {
        matches!(self, Self::Q4_0 | Self::Q4_1 | Self::Q4_K)
    }

    /// The `QTYPE` override constant the WGSL kernels switch on.
    pub fn gpu_code(self) -> Option<u32> {
        Some(match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            // Stored as Q8_0 (see the module docs).
            Self::Q8_0 | Self::Q5_0 => 8,
            Self::Q4_K => 12,
            Self::Q6_K => 14,
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
            Self::Q8_0 | Self::Q5_0 => (32, true),
            Self::Q4_K | Self::Q6_K => {
                // Whole super-blocks; two scale planes (see the module docs).
                if !row_len.is_multiple_of(QK_K as u64) {
                    return None;
                }
                let nb = row_len / 32;
                let qbytes = if self == Self::Q4_K { 16 } else { 32 };
                return Some(nb * qbytes + 2 * nb.div_ceil(4) * 16);
            }
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
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            for blk in bytes.chunks_exact(bb) {
                q5_block(ty, blk, &mut out);
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            for blk in bytes.chunks_exact(bb) {
                q45_k_block(ty, blk, &mut out);
            }
        }
        GgmlType::Q6_K => {
            for blk in bytes.chunks_exact(bb) {
                q6_k_block(blk, &mut out);
            }
        }
        GgmlType::Q8_K => {
            for blk in bytes.chunks_exact(bb) {
                let d = f32::from_le_bytes([blk[0], blk[1], blk[2], blk[3]]);
                out.extend(blk[4..4 + QK_K].iter().map(|&q| d * q as i8 as f32));
            }
        }
        _ => return None,
    }
    Some(out)
}

/// Q5_0 blocks rewritten as Q8_0 blocks with the same values: the same `d`,
/// and each 5-bit q as the signed byte q − 16. A trailing partial block is
/// dropped, as [`dequantize`] drops it.
pub fn q5_0_as_q8_0(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 22 * 34);
    for blk in bytes.chunks_exact(22) {
        out.extend_from_slice(&blk[0..2]);
        let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
        let qs = &blk[6..22];
        out.extend((0..32).map(|j| {
            let nibble = if j < 16 {
                qs[j] & 0x0f
            } else {
                qs[j - 16] >> 4
            };
            let q = nibble as i32 | (((qh >> j) & 1) << 4) as i32;
            (q - 16) as i8 as u8
        }));
    }
    out
}

/// Appends the 32 values of one Q5_0 or Q5_1 block.
fn q5_block(ty: GgmlType, blk: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(blk, 0);
    let (m, rest) = match ty {
        GgmlType::Q5_1 => (Some(f16_at(blk, 2)), &blk[4..]),
        _ => (None, &blk[2..]),
    };
    let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let qs = &rest[4..20];
    // Value j < 16 is the low nibble of byte j, j + 16 its high nibble.
    out.extend((0..32).map(|j| {
        let nibble = if j < 16 {
            qs[j] & 0x0f
        } else {
            qs[j - 16] >> 4
        };
        let q = nibble as u32 | ((qh >> j) & 1) << 4;
        // Q5_0 centres in integers, (q − 16)·d, as llama.cpp does: q·d − 16d
        // is the same value (both products are exact) but +0 where d < 0
        // and llama.cpp gives −0.
        match m {
            Some(m) => q as f32 * d + m,
            None => (q as i32 - 16) as f32 * d,
        }
    }));
}

/// The 6-bit scale and min of sub-block `j` (0..8) of a Q4_K or Q5_K
/// super-block, from its 12 `scales` bytes: bytes 0..4 hold the scales of
/// sub-blocks 0..4 in their low 6 bits, bytes 4..8 their mins; bytes 8..12
/// hold the low 4 bits of sub-blocks 4..8's scale (low nibble) and min (high
/// nibble), whose top 2 bits are the spare top bits of bytes 0..4 (scale)
/// and 4..8 (min).
fn k4_scale_min(j: usize, scales: &[u8]) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        let scale = (scales[j + 4] & 0x0f) | (scales[j - 4] >> 6) << 4;
        let min = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4;
        (scale, min)
    }
}

/// Appends the 256 values of one Q4_K or Q5_K super-block.
fn q45_k_block(ty: GgmlType, blk: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
    let scales = &blk[4..16];
    let (qh, qs) = match ty {
        GgmlType::Q5_K => (Some(&blk[16..48]), &blk[48..176]),
        _ => (None, &blk[16..144]),
    };
    for s in 0..8 {
        let (scale, min) = k4_scale_min(s, scales);
        // Rounded once per sub-block, as llama.cpp does.
        let (ds, ms) = (d * scale as f32, dmin * min as f32);
        let bytes = &qs[32 * (s / 2)..32 * (s / 2) + 32];
        out.extend(bytes.iter().enumerate().map(|(l, &b)| {
            let nibble = if s % 2 == 0 { b & 0x0f } else { b >> 4 };
            let high = qh.map_or(0, |qh| (qh[l] >> s) & 1);
            ds * (nibble | high << 4) as f32 - ms
        }));
    }
}

/// Appends the 256 values of one Q6_K super-block. Each half (128 values)
/// is four quarters of 32: value l of quarter k takes its low nibble from
/// `ql[l + 32·(k % 2)]` (low nibbles for k < 2, high for k ≥ 2), its top
/// two bits from bits 2k..2k+2 of `qh[l]`, and scale `scales[l / 16 + 2k]`.
fn q6_k_block(blk: &[u8], out: &mut Vec<f32>) {
    let d = f16_at(blk, 208);
    for half in 0..2 {
        let ql = &blk[64 * half..64 * half + 64];
        let qh = &blk[128 + 32 * half..128 + 32 * half + 32];
        let scales = &blk[192 + 8 * half..192 + 8 * half + 8];
        for k in 0..4 {
            out.extend((0..32).map(|l| {
                let b = ql[l + 32 * (k % 2)];
                let low = if k < 2 { b & 0x0f } else { b >> 4 };
                let q = (low | ((qh[l] >> (2 * k)) & 3) << 4) as i32 - 32;
                d * scales[l / 16 + 2 * k] as i8 as f32 * q as f32
            }));
        }
    }
}
