//! The GPU layout of the block types, which the WGSL kernels read, and the
//! repacking into it (and back, for the tests and the CPU twin).
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

use super::*;

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
