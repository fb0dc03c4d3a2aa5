//! GGML tensor types: their block layouts in the file, their dequantization on
//! the CPU (the reference every GPU kernel is tested against), and their
//! repacking into the GPU layout the WGSL kernels read.
//!
//! File layouts follow llama.cpp's `ggml/src/ggml-common.h`; values within a
//! block run along `ne[0]`. The CPU dequantizer reads more types than the
//! kernels do (also Q5_1, Q5_K and Q8_K), so that tests and tools can check
//! a GGUF of those types against a reference.
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
//! | Q5_0 | 22  | 36 (+ row padding) | as Q8_0: each value's 5 bits, centred (q − 16), as a signed byte |
//! | Q4_K | 4.5 (144 per 256) | 24 (+ row padding) | as Q4_0, per 32-value block; two f32 scale planes |
//! | Q6_K | 6.56 (210 per 256) | 40 (+ row padding) | q − 32 as a signed byte; two f32 scale planes |
//!
//! The K-quants keep their blocks' factors exact in two scale planes, each
//! laid out as the other types' one plane (one word a block): Q4_K's value
//! is a·q − b with a = d·scale and b = dmin·min, Q6_K's a·q for the block's
//! first 16 values and b·q for the last 16 (a and b: d times the 16-value
//! group's scale). The products are exact in f32, so the GPU layout holds
//! the very values llama.cpp computes; it costs 6 bits a value for Q4_K and
//! 10 for Q6_K, against the file's 4.5 and 6.56. Rows must be whole
//! 256-value super-blocks.
//!
//! Q5_0 is stored as Q8_0, losslessly: its values are (q − 16)·d with
//! q < 32, which a signed byte and the same `d` hold exactly, so the Q8_0
//! kernels read it and compute the same products. It costs 8.5 bits a
//! value instead of 5.5; it is most of Gemma 3's Q4_K_M matrices, whose
//! 640-wide rows are not whole K-quant super-blocks.
//!
//! A row of `nb` blocks pads its scales to a multiple of 4 words: for
//! SmolLM2's 576-wide rows (18 blocks) that is 2 words per row, 0.5%.
//!
//! ## Tiles
//!
//! Within each region (the quants, each scale plane) the rows go in tiles of
//! [`TILE_ROWS`] (128; a matrix's last tile may be shorter), each tile
//! whole before the next. A tile holds its rows' blocks 0..3 (their scale
//! vec4 0, in a plane), then their blocks 4..7 (vec4 1), and so on, each
//! row's four blocks together (fewer in a row's last group: nothing is
//! padded, so the sizes above stand). Within a tile the rows are in the
//! order the decode products' lanes read them: lane l owns rows 16l ..
//! 16l + 15 ([`LANE_ROWS`]), and row 16l + k is placed at 8k + l, so that
//! the lanes' k-th rows lie side by side (the rows past a tile's last whole
//! sixteen keep their order). Types whose blocks take 32 bytes or more
//! (Q8_0 and Q5_0 as Q8_0, Q6_K, the floats, a block being 32 values) go
//! block by block within a group instead: the tile's rows' first blocks, in
//! that order, then their second ones (on lavapipe SmolLM2's Q8_0 head took
//! 3.8–5.0 ms that way against 7.1–8.3 row by row, four lab runs); the
//! 16-byte blocks (Q4_0, Q4_1, Q4_K) keep a row's four together, one
//! 64-byte stretch, as a GPU's lanes reading a row (`matmul.wgsl`) want
//! them.
//!
//! ```text
//!   tile 0: rows (0, 16, 32, …, 112, 1, 17, …)  blocks 0..3 | same rows, blocks 4..7 | …
//!   tile 1: rows 128 …
//! ```
//!
//! Why: a decode product's workgroup covers one tile, and each of its
//! steps reads four blocks of every row. With the rows one after another
//! those were 128 short stretches 288 bytes apart (SmolLM2's 576-wide
//! rows), which the CPU's prefetchers did not follow: on lavapipe the
//! products waited on memory (most of `perf`'s samples on the instruction
//! after the weight loads). Tiled, a workgroup reads one stretch in order.
//! `quant.wgsl`'s `quant_slot` and `scale_slot` are the same mapping.

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

/// Bytes of quants per block in the GPU layout of a block type.
fn gpu_quant_bytes(ty: GgmlType) -> Option<usize> {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q4_1 => Some(16),
        GgmlType::Q8_0 | GgmlType::Q5_0 => Some(32),
        _ => None,
    }
}

/// Repacks file-layout bytes of `ty`, rows of `row_len` values, into the
/// GPU layout (see module docs): split blocks, in tiles. Float rows that
/// are not whole 32-value blocks stay in row order (no kernel reads them
/// as a matrix).
pub fn repack_for_gpu(ty: GgmlType, bytes: &[u8], row_len: usize) -> Option<Vec<u32>> {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0 => {
            return repack_into_tiles(ty, bytes, row_len)
        }
        GgmlType::Q5_0 => return repack_into_tiles(GgmlType::Q8_0, &q5_0_as_q8_0(bytes), row_len),
        _ => {}
    }
    let words = repack_rows(ty, bytes, row_len)?;
    if row_len == 0 || !row_len.is_multiple_of(32) {
        return Some(words);
    }
    retile(ty, &words, row_len, true)
}

/// The split-block layout with the rows one after another, before tiling.
fn repack_rows(ty: GgmlType, bytes: &[u8], row_len: usize) -> Option<Vec<u32>> {
    match ty {
        GgmlType::Q4_K | GgmlType::Q6_K => return repack_k(ty, bytes, row_len),
        GgmlType::Q5_0 => return repack_rows(GgmlType::Q8_0, &q5_0_as_q8_0(bytes), row_len),
        GgmlType::F32 => return Some(bytes.chunks_exact(4).map(le_word).collect()),
        GgmlType::F16 => {
            // An odd count leaves half a word: pad it with zero.
            let mut v: Vec<u32> = bytes.chunks_exact(4).map(le_word).collect();
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
        scales[r * ns + b] = scale_word(ty, blk);
        quants.extend(blk[bb - qbytes..].chunks_exact(4).map(le_word));
    }
    quants.extend(scales);
    Some(quants)
}

/// A self-scaled block's scale word (Q4_0, Q4_1, Q8_0): d (and m for
/// Q4_1) are the block's first 2 (4) bytes.
fn scale_word(ty: GgmlType, blk: &[u8]) -> u32 {
    match ty {
        GgmlType::Q4_1 => le_word(blk),
        _ => u16::from_le_bytes([blk[0], blk[1]]) as u32,
    }
}

/// The little-endian word in the first four bytes of `b`.
fn le_word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Whether a type whose blocks' quants take `quant_bytes` bytes goes block
/// by block within a tile's group (`quant.wgsl`'s `block_major`: 32 bytes
/// or more) rather than each row's blocks together.
fn block_major(quant_bytes: usize) -> bool {
    quant_bytes >= 32
}

/// [`repack_rows`] then [`retile`] in one pass, for the types whose blocks
/// carry their own scale (Q4_0, Q4_1, Q8_0): each block read from the file
/// and written to its place in the tiles, with no matrix in between (the
/// native load repacks every matrix, SmolLM2's 100 MB: a second pass cost
/// about 1 ms a MB). `tests::one_pass_equals_rows_then_tiles` holds it to
/// the two.
fn repack_into_tiles(ty: GgmlType, bytes: &[u8], row_len: usize) -> Option<Vec<u32>> {
    let qbytes = gpu_quant_bytes(ty)?;
    if row_len == 0 || !row_len.is_multiple_of(32) {
        return None;
    }
    let (bb, qw) = (ty.block_bytes(), qbytes / 4);
    let nb = row_len / 32;
    let ng = nb.div_ceil(4);
    let rows = bytes.len() / (nb * bb);
    let mut out = vec![0u32; rows * nb * qw + rows * ng * 4];
    let (quants, scales) = out.split_at_mut(rows * nb * qw);
    let major = block_major(qbytes);
    for t in 0..rows.div_ceil(TILE_ROWS) {
        let n = TILE_ROWS.min(rows - t * TILE_ROWS);
        for g in 0..ng {
            let w = 4.min(nb - 4 * g);
            let q_start = t * TILE_ROWS * nb + n * 4 * g;
            let s_start = t * TILE_ROWS * ng + n * g;
            for rt in 0..n {
                let at = tile_row(n, rt);
                let r = t * TILE_ROWS + rt;
                for j in 0..w {
                    let blk = &bytes[(r * nb + 4 * g + j) * bb..][..bb];
                    let slot = q_start + if major { j * n + at } else { at * w + j };
                    for (k, c) in blk[bb - qbytes..].chunks_exact(4).enumerate() {
                        quants[slot * qw + k] = le_word(c);
                    }
                    scales[(s_start + at) * 4 + j] = scale_word(ty, blk);
                }
            }
        }
    }
    Some(out)
}

/// Rows per tile of the GPU layout (`quant.wgsl`'s `TILE_ROWS`): the rows a
/// workgroup of the decode products covers (8 lanes × [`LANE_ROWS`]).
pub const TILE_ROWS: usize = 128;

/// Rows each lane of the decode products owns (`quant.wgsl`'s `LANE_ROWS`).
pub const LANE_ROWS: usize = 16;

/// Row `r`'s place in a tile of `n` rows (`quant.wgsl`'s `tile_row`): row
/// 16l + k at 8k + l among the whole sixteens, the rest in order.
fn tile_row(n: usize, r: usize) -> usize {
    let m = n - n % LANE_ROWS;
    if r >= m {
        return r;
    }
    (r % LANE_ROWS) * (m / LANE_ROWS) + r / LANE_ROWS
}

/// Where item `i` of row `r` goes in a tiled region of `rows` rows of
/// `per_row` items, `group` items of a row to a group (`quant.wgsl`'s
/// `quant_slot` with 4 blocks a group, `scale_slot` with one vec4): within
/// a tile's group, each row's items together, or with `block_major` the
/// rows' first items, then their second ones. The mapping item by item,
/// which the tests hold `retile` and `repack_into_tiles` (tile by tile) to.
#[cfg(test)]
fn tiled_index(
    rows: usize,
    per_row: usize,
    group: usize,
    block_major: bool,
    r: usize,
    i: usize,
) -> usize {
    let t = r / TILE_ROWS;
    let n = TILE_ROWS.min(rows - t * TILE_ROWS);
    let g = i / group;
    let start = t * TILE_ROWS * per_row + n * group * g;
    if block_major {
        return start + (i % group) * n + tile_row(n, r % TILE_ROWS);
    }
    let w = group.min(per_row - group * g);
    start + tile_row(n, r % TILE_ROWS) * w + i % group
}

/// Moves a matrix's GPU-layout words between rows one after another and the
/// tiled layout (module docs, "Tiles"): into tiles with `to_tiles`, else
/// back. `None` for a type without a GPU layout, or rows not whole blocks.
fn retile(ty: GgmlType, words: &[u32], row_len: usize, to_tiles: bool) -> Option<Vec<u32>> {
    if row_len == 0 || !row_len.is_multiple_of(32) {
        return None;
    }
    // Words a block's quants take, and how many scale planes follow.
    let (block_words, planes) = match ty {
        GgmlType::F32 => (32, 0),
        GgmlType::F16 => (16, 0),
        GgmlType::Q4_0 | GgmlType::Q4_1 => (4, 1),
        GgmlType::Q8_0 | GgmlType::Q5_0 => (8, 1),
        GgmlType::Q4_K => (4, 2),
        GgmlType::Q6_K => (8, 2),
        _ => return None,
    };
    let nb = row_len / 32;
    let ng = nb.div_ceil(4);
    let row_words = nb * block_words + planes * ng * 4;
    if !words.len().is_multiple_of(row_words) {
        return None;
    }
    let rows = words.len() / row_words;
    let mut out = vec![0u32; words.len()];
    let mut region = |base: usize, per_row: usize, group: usize, item: usize| {
        // Tile by tile and group by group, each row's run of the group's
        // items moved at once (block by block: each item): the places
        // `tiled_index` gives, without its divisions for every item.
        let major = block_major(4 * block_words) && group > 1;
        let mut moved = |plain: usize, tiled: usize, len: usize| {
            let (from, to) = if to_tiles {
                (plain, tiled)
            } else {
                (tiled, plain)
            };
            out[to..to + len].copy_from_slice(&words[from..from + len]);
        };
        for t in 0..rows.div_ceil(TILE_ROWS) {
            let n = TILE_ROWS.min(rows - t * TILE_ROWS);
            for g in 0..per_row.div_ceil(group) {
                let w = group.min(per_row - group * g);
                let start = base + (t * TILE_ROWS * per_row + n * group * g) * item;
                for rt in 0..n {
                    let plain = base + ((t * TILE_ROWS + rt) * per_row + group * g) * item;
                    let at = tile_row(n, rt);
                    if major {
                        for j in 0..w {
                            moved(plain + j * item, start + (j * n + at) * item, item);
                        }
                    } else {
                        moved(plain, start + at * w * item, w * item);
                    }
                }
            }
        }
    };
    region(0, nb, 4, block_words);
    for k in 0..planes {
        region(rows * nb * block_words + k * rows * ng * 4, ng, 1, 4);
    }
    Some(out)
}

/// Dequantizes GPU-layout bytes of `ty` (as [`repack_for_gpu`] wrote them,
/// rows of `row_len` values) into `n` f32 values: the inverse of the
/// repacking, for tests that check what a shard holds against the GGUF it
/// came from.
pub fn dequantize_gpu(ty: GgmlType, bytes: &[u8], n: usize, row_len: usize) -> Option<Vec<f32>> {
    if row_len == 0 || !row_len.is_multiple_of(32) {
        return dequantize_rows(ty, bytes, n, row_len);
    }
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let words: Vec<u32> = bytes.chunks_exact(4).map(le_word).collect();
    let rows: Vec<u8> = retile(ty, &words, row_len, false)?
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    dequantize_rows(ty, &rows, n, row_len)
}

/// [`dequantize_gpu`] of the split-block layout with the rows in order.
fn dequantize_rows(ty: GgmlType, bytes: &[u8], n: usize, row_len: usize) -> Option<Vec<f32>> {
    if ty == GgmlType::Q5_0 {
        // Stored as Q8_0.
        return dequantize_rows(GgmlType::Q8_0, bytes, n, row_len);
    }
    if matches!(ty, GgmlType::Q4_K | GgmlType::Q6_K) {
        return dequantize_gpu_k(ty, bytes, n, row_len);
    }
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

/// A Q4_K or Q6_K super-block as integers and factors: its 256 quants (Q4_K:
/// the 4-bit q, 0..16; Q6_K: the 6-bit q − 32), and for each of its eight
/// 32-value blocks the pair (a, b) that gives the values exactly as
/// [`dequantize`] computes them: Q4_K a·q − b (a = d·scale, b = dmin·min);
/// Q6_K a·q for the block's first 16 values and b·q for the last 16 (each
/// d times that group's scale).
fn k_super_block(ty: GgmlType, blk: &[u8]) -> ([i8; QK_K], [(f32, f32); 8]) {
    let mut q = [0i8; QK_K];
    let mut f = [(0.0, 0.0); 8];
    if ty == GgmlType::Q4_K {
        let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
        let qs = &blk[16..144];
        for (s, fs) in f.iter_mut().enumerate() {
            let (scale, min) = k4_scale_min(s, &blk[4..16]);
            *fs = (d * scale as f32, dmin * min as f32);
            for l in 0..32 {
                let b = qs[32 * (s / 2) + l];
                q[32 * s + l] = (if s % 2 == 0 { b & 0x0f } else { b >> 4 }) as i8;
            }
        }
    } else {
        let d = f16_at(blk, 208);
        for half in 0..2 {
            let ql = &blk[64 * half..64 * half + 64];
            let qh = &blk[128 + 32 * half..128 + 32 * half + 32];
            for k in 0..4 {
                for l in 0..32 {
                    let b = ql[l + 32 * (k % 2)];
                    let low = if k < 2 { b & 0x0f } else { b >> 4 };
                    q[128 * half + 32 * k + l] =
                        ((low | ((qh[l] >> (2 * k)) & 3) << 4) as i32 - 32) as i8;
                }
            }
        }
        for (b, fb) in f.iter_mut().enumerate() {
            let scale = |g: usize| d * blk[192 + g] as i8 as f32;
            *fb = (scale(2 * b), scale(2 * b + 1));
        }
    }
    (q, f)
}

/// The GPU layout of Q4_K and Q6_K: each 32-value block's quants (Q4_K: 16
/// bytes of nibbles in Q4_0's order; Q6_K: 32 signed bytes), then two scale
/// planes laid out as the other types' one: every block's a (f32 bits),
/// then every block's b.
fn repack_k(ty: GgmlType, bytes: &[u8], row_len: usize) -> Option<Vec<u32>> {
    if row_len == 0 || !row_len.is_multiple_of(QK_K) {
        return None;
    }
    let (bb, per_row, nb) = (ty.block_bytes(), row_len / QK_K, row_len / 32);
    let rows = bytes.len() / (per_row * bb);
    let ns = nb.div_ceil(4) * 4;
    let mut quants = Vec::new();
    let (mut a, mut b) = (vec![0u32; rows * ns], vec![0u32; rows * ns]);
    for (i, blk) in bytes.chunks_exact(bb).take(rows * per_row).enumerate() {
        let (r, sb) = (i / per_row, i % per_row);
        let (q, f) = k_super_block(ty, blk);
        for (s, &(fa, fb)) in f.iter().enumerate() {
            a[r * ns + 8 * sb + s] = fa.to_bits();
            b[r * ns + 8 * sb + s] = fb.to_bits();
            let v = &q[32 * s..32 * s + 32];
            let packed: Vec<u8> = if ty == GgmlType::Q4_K {
                (0..16)
                    .map(|j| v[j] as u8 | (v[j + 16] as u8) << 4)
                    .collect()
            } else {
                v.iter().map(|&x| x as u8).collect()
            };
            quants.extend(
                packed
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
        }
    }
    quants.extend(a);
    quants.extend(b);
    Some(quants)
}

/// [`dequantize_gpu`] for Q4_K and Q6_K: the values from the GPU layout.
fn dequantize_gpu_k(ty: GgmlType, bytes: &[u8], n: usize, row_len: usize) -> Option<Vec<f32>> {
    if row_len == 0 || !row_len.is_multiple_of(QK_K) {
        return None;
    }
    let nb = row_len / 32;
    let rows = n / row_len;
    let ns = nb.div_ceil(4) * 4;
    let qbytes = if ty == GgmlType::Q4_K { 16 } else { 32 };
    let plane = rows * nb * qbytes;
    let f32_at = |at: usize| -> Option<f32> {
        Some(f32::from_bits(u32::from_le_bytes(
            bytes.get(at..at + 4)?.try_into().ok()?,
        )))
    };
    let mut out = Vec::with_capacity(rows * row_len);
    for i in 0..rows * nb {
        let (r, blk) = (i / nb, i % nb);
        let a = f32_at(plane + 4 * (r * ns + blk))?;
        let b = f32_at(plane + 4 * (rows * ns + r * ns + blk))?;
        let qs = bytes.get(i * qbytes..(i + 1) * qbytes)?;
        for j in 0..32 {
            out.push(if ty == GgmlType::Q4_K {
                let q = if j < 16 {
                    qs[j] & 0x0f
                } else {
                    qs[j - 16] >> 4
                };
                a * q as f32 - b
            } else {
                (if j < 16 { a } else { b }) * qs[j] as i8 as f32
            });
        }
    }
    out.truncate(n);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item of every row lands on its own place, all places are used,
    /// and tiles never mix: for short and long, whole and partial tiles.
    #[test]
    fn tiling_is_a_permutation_tile_by_tile() {
        for rows in [1, 5, 16, 17, 100, 127, 128, 129, 200, 256, 960] {
            for per_row in 1..=9 {
                for (group, block_major) in [(1, false), (4, false), (4, true)] {
                    let mut seen = vec![false; rows * per_row];
                    for r in 0..rows {
                        for i in 0..per_row {
                            let at = tiled_index(rows, per_row, group, block_major, r, i);
                            assert!(!seen[at], "rows {rows} per_row {per_row}: {r},{i} twice");
                            seen[at] = true;
                            let t = r / TILE_ROWS;
                            let tile =
                                t * TILE_ROWS * per_row..((t + 1) * TILE_ROWS).min(rows) * per_row;
                            assert!(tile.contains(&at), "row {r} left its tile");
                        }
                    }
                }
            }
        }
    }

    /// In a whole tile, the lanes' k-th rows (row 16l + k of lane l) are
    /// side by side, each with its four blocks together.
    #[test]
    fn a_tile_puts_the_lanes_kth_rows_side_by_side() {
        let (rows, nb) = (256, 18);
        for k in 0..LANE_ROWS {
            for l in 0..8 {
                let r = TILE_ROWS + LANE_ROWS * l + k;
                for b in 0..4 {
                    let at = tiled_index(rows, nb, 4, false, r, 4 + b);
                    let expect = TILE_ROWS * nb + TILE_ROWS * 4 + (8 * k + l) * 4 + b;
                    assert_eq!(at, expect, "row {r} block {}", 4 + b);
                    // Block by block: the tile's rows' block 4 + b together.
                    let at = tiled_index(rows, nb, 4, true, r, 4 + b);
                    let expect = TILE_ROWS * nb + TILE_ROWS * 4 + b * TILE_ROWS + 8 * k + l;
                    assert_eq!(at, expect, "row {r} block {}, block by block", 4 + b);
                }
            }
        }
        // A row's last group (blocks 16, 17) holds two blocks a row.
        assert_eq!(
            tiled_index(rows, nb, 4, false, 1, 17),
            TILE_ROWS * 4 * 4 + 8 * 2 + 1
        );
        assert_eq!(
            tiled_index(rows, nb, 4, true, 1, 17),
            TILE_ROWS * 4 * 4 + TILE_ROWS + 8
        );
    }

    /// `retile` moves every item where `tiled_index` (the shader's
    /// `quant_slot` and `scale_slot`) says, for both kinds of group.
    #[test]
    fn retile_puts_each_item_where_tiled_index_says() {
        let (row_len, rows) = (32 * 9, 131);
        let (nb, ng) = (9, 3);
        for (ty, block_words) in [(GgmlType::Q4_1, 4), (GgmlType::Q8_0, 8)] {
            let row_words = nb * block_words + ng * 4;
            let words: Vec<u32> = (0..(rows * row_words) as u32).collect();
            let tiled = retile(ty, &words, row_len, true).unwrap();
            for r in 0..rows {
                for b in 0..nb {
                    let at = tiled_index(rows, nb, 4, block_words >= 8, r, b) * block_words;
                    let from = (r * nb + b) * block_words;
                    assert_eq!(tiled[at..at + block_words], words[from..from + block_words]);
                }
                for g in 0..ng {
                    let base = rows * nb * block_words;
                    let at = base + tiled_index(rows, ng, 1, false, r, g) * 4;
                    let from = base + (r * ng + g) * 4;
                    assert_eq!(
                        tiled[at..at + 4],
                        words[from..from + 4],
                        "{ty:?} row {r} scales {g}"
                    );
                }
            }
            assert_eq!(retile(ty, &tiled, row_len, false).unwrap(), words);
        }
    }

    /// The one-pass repacking of the self-scaled block types gives what the
    /// rows one after another, then tiled, give.
    #[test]
    fn one_pass_equals_rows_then_tiles() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for ty in [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q8_0,
            GgmlType::Q5_0,
        ] {
            for (rows, nb) in [(1, 1), (3, 9), (128, 18), (131, 9), (300, 4)] {
                let file: Vec<u8> = (0..rows * nb * ty.block_bytes())
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        (state >> 33) as u8
                    })
                    .collect();
                let rows_words = repack_rows(ty, &file, 32 * nb).unwrap();
                let two = retile(ty, &rows_words, 32 * nb, true).unwrap();
                assert_eq!(
                    repack_for_gpu(ty, &file, 32 * nb).unwrap(),
                    two,
                    "{ty:?} {rows}x{nb}"
                );
            }
        }
    }

    /// Repacking then reading back gives the file's values for every block
    /// type, whole and partial tiles.
    #[test]
    fn the_tiled_layout_reads_back_as_the_file() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut byte = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        };
        for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
            for rows in [3, 128, 131] {
                let row_len = 32 * 9;
                let mut file: Vec<u8> = (0..rows * 9 * ty.block_bytes()).map(|_| byte()).collect();
                // Finite scales: each block's f16 factors set to 0.5.
                for blk in file.chunks_exact_mut(ty.block_bytes()) {
                    blk[0..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
                    if ty == GgmlType::Q4_1 {
                        blk[2..4].copy_from_slice(&f16::from_f32(-0.25).to_le_bytes());
                    }
                }
                let words = repack_for_gpu(ty, &file, row_len).unwrap();
                let rows_words = repack_rows(ty, &file, row_len).unwrap();
                assert_eq!(words.len(), rows_words.len());
                if rows > 1 {
                    assert_ne!(words, rows_words, "{ty:?}: nothing moved");
                }
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                let back = dequantize_gpu(ty, &bytes, rows * row_len, row_len).unwrap();
                assert_eq!(back, dequantize(ty, &file).unwrap(), "{ty:?}, {rows} rows");
            }
        }
    }
}
