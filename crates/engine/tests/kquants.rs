//! The CPU dequantizer for Q5_0, Q5_1 and the K-quants (Q4_K, Q5_K, Q6_K,
//! Q8_K) against candle's, written independently from llama.cpp's: seeded
//! random blocks, every quant bit random and the scales finite, must
//! dequantize to the same f32 bits. A byte length that is not whole blocks
//! drops the partial block, as for the older types.
//!
//! Native only: candle is a native dev-dependency.
#![cfg(not(target_arch = "wasm32"))]

use candle_core::quantized::k_quants::{
    BlockQ4K, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8K,
};
use candle_core::quantized::GgmlType as CandleBlock;
use half::f16;
use locum_engine::format::quant::dequantize;
use locum_engine::GgmlType;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

/// Odd block counts, so that nothing pairs blocks up by accident.
const BLOCK_COUNTS: [usize; 3] = [1, 3, 7];

/// A random finite scale of either sign, its magnitude log-uniform over
/// 1e-5..1: small ones are f16 subnormals.
fn random_scale(rng: &mut SmallRng) -> f32 {
    let magnitude = 10f32.powf(rng.gen_range(-5.0..0.0));
    if rng.gen::<bool>() {
        magnitude
    } else {
        -magnitude
    }
}

/// `n_blocks` blocks of `ty`: random bytes, then each block's f16 scales
/// (`d`, and `m` or `dmin`) or Q8_K's f32 `d` overwritten with finite ones.
/// Q8_K's block sums stay random: dequantization ignores them.
fn random_blocks(ty: GgmlType, n_blocks: usize, rng: &mut SmallRng) -> Vec<u8> {
    let mut bytes = vec![0u8; n_blocks * ty.block_bytes()];
    rng.fill_bytes(&mut bytes);
    let f16_offsets: &[usize] = match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 => &[0],
        GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q6_K => &[208],
        GgmlType::Q8_K => &[],
        _ => unreachable!("{} is not tested here", ty.name()),
    };
    for blk in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &at in f16_offsets {
            let d = f16::from_f32(random_scale(rng)).to_le_bytes();
            blk[at..at + 2].copy_from_slice(&d);
        }
        if ty == GgmlType::Q8_K {
            blk[0..4].copy_from_slice(&random_scale(rng).to_le_bytes());
        }
    }
    bytes
}

/// candle's dequantization of file-layout `bytes` as blocks of `B`.
fn candle_values<B: CandleBlock>(bytes: &[u8]) -> Vec<f32> {
    let size = std::mem::size_of::<B>();
    assert_eq!(bytes.len() % size, 0, "not whole blocks of {:?}", B::DTYPE);
    let blocks: Vec<B> = bytes
        .chunks_exact(size)
        // SAFETY: candle's blocks are `#[repr(C)]` structs of f16, f32 and
        // integer arrays without padding (candle asserts their sizes), so
        // any `size` bytes are a valid block; the read is unaligned.
        .map(|c| unsafe { std::ptr::read_unaligned(c.as_ptr().cast::<B>()) })
        .collect();
    let mut values = vec![0f32; blocks.len() * B::BLCK_SIZE];
    B::to_float(&blocks, &mut values);
    values
}

/// Dequantizes seeded random blocks of `ty` with Locum and with candle's
/// block type `B`, and asserts the values are the same bits: both follow
/// llama.cpp's order of operations, signed zeros included.
fn assert_matches_candle<B: CandleBlock>(ty: GgmlType, seed: u64) {
    assert_eq!(std::mem::size_of::<B>(), ty.block_bytes(), "{}", ty.name());
    assert_eq!(B::BLCK_SIZE, ty.block_len(), "{}", ty.name());
    let mut rng = SmallRng::seed_from_u64(seed);
    for n_blocks in BLOCK_COUNTS {
        let bytes = random_blocks(ty, n_blocks, &mut rng);
        let ours = dequantize(ty, &bytes).expect("a type the dequantizer reads");
        let theirs = candle_values::<B>(&bytes);
        assert_eq!(ours.len(), n_blocks * ty.block_len(), "{}", ty.name());
        assert_eq!(ours.len(), theirs.len(), "{}", ty.name());
        for (i, (&a, &b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                a.to_bits() == b.to_bits(),
                "{} ({n_blocks} blocks): index {i}: ours {a} vs candle {b}",
                ty.name()
            );
        }
        // Random quants must not all land on one value.
        let distinct = theirs.iter().filter(|&&v| v != theirs[0]).count();
        assert!(
            distinct > ours.len() / 2,
            "{}: degenerate blocks",
            ty.name()
        );
    }
}

#[test]
fn q5_0_matches_candle() {
    assert_matches_candle::<BlockQ5_0>(GgmlType::Q5_0, 50);
}

#[test]
fn q5_1_matches_candle() {
    assert_matches_candle::<BlockQ5_1>(GgmlType::Q5_1, 51);
}

#[test]
fn q4_k_matches_candle() {
    assert_matches_candle::<BlockQ4K>(GgmlType::Q4_K, 12);
}

#[test]
fn q5_k_matches_candle() {
    assert_matches_candle::<BlockQ5K>(GgmlType::Q5_K, 13);
}

#[test]
fn q6_k_matches_candle() {
    assert_matches_candle::<BlockQ6K>(GgmlType::Q6_K, 14);
}

#[test]
fn q8_k_matches_candle() {
    assert_matches_candle::<BlockQ8K>(GgmlType::Q8_K, 15);
}

/// A length that is not whole blocks yields the whole blocks' values and
/// drops the rest, as Q4_0 (and every older type) does; no bytes, no values.
#[test]
fn partial_trailing_block_is_dropped() {
    let mut rng = SmallRng::seed_from_u64(7);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::Q8_K,
    ] {
        let bb = ty.block_bytes();
        let bytes = random_blocks(ty, 3, &mut rng);
        let two = dequantize(ty, &bytes[..2 * bb]).expect("a type the dequantizer reads");
        for cut in [1, bb / 2, bb - 1] {
            let short = dequantize(ty, &bytes[..3 * bb - cut]);
            assert_eq!(short.as_ref(), Some(&two), "{}: cut {cut}", ty.name());
        }
        assert_eq!(
            dequantize(ty, &bytes[..bb - 1]),
            Some(vec![]),
            "{}",
            ty.name()
        );
        assert_eq!(dequantize(ty, &[]), Some(vec![]), "{}", ty.name());
    }
}

/// The GPU stores Q5_0 as Q8_0: the rewrite keeps every value bit for bit,
/// and the GPU layout reads back as the file's values.
#[test]
fn q5_0_is_stored_as_q8_0_without_loss() {
    use locum_engine::format::quant::{dequantize_gpu, q5_0_as_q8_0, repack_for_gpu};
    let mut rng = SmallRng::seed_from_u64(55);
    let (rows, row_len) = (5, 7 * 32);
    let file = random_blocks(GgmlType::Q5_0, rows * row_len / 32, &mut rng);
    let want = dequantize(GgmlType::Q5_0, &file).unwrap();
    let as_q8 = dequantize(GgmlType::Q8_0, &q5_0_as_q8_0(&file)).unwrap();
    assert_eq!(bits(&as_q8), bits(&want));
    let words = repack_for_gpu(GgmlType::Q5_0, &file, row_len).unwrap();
    assert_eq!(
        words.len() as u64 * 4,
        rows as u64 * GgmlType::Q5_0.gpu_row_bytes(row_len as u64).unwrap()
    );
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let back = dequantize_gpu(GgmlType::Q5_0, &bytes, rows * row_len, row_len).unwrap();
    assert_eq!(bits(&back), bits(&want));
    assert_eq!(GgmlType::Q5_0.gpu_code(), GgmlType::Q8_0.gpu_code());
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Q4_K and Q6_K in the GPU layout (quants, then two f32 scale planes) read
/// back bit for bit as the file's values, and take the bytes
/// `gpu_row_bytes` says.
#[test]
fn k_quants_in_the_gpu_layout_keep_every_value() {
    use locum_engine::format::quant::{dequantize_gpu, repack_for_gpu};
    for (ty, seed) in [(GgmlType::Q4_K, 60), (GgmlType::Q6_K, 61)] {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (rows, row_len) = (3, 3 * 256);
        let file = random_blocks(ty, rows * row_len / 256, &mut rng);
        let want = dequantize(ty, &file).unwrap();
        let words = repack_for_gpu(ty, &file, row_len).unwrap();
        assert_eq!(
            words.len() as u64 * 4,
            rows as u64 * ty.gpu_row_bytes(row_len as u64).unwrap(),
            "{}",
            ty.name()
        );
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let back = dequantize_gpu(ty, &bytes, rows * row_len, row_len).unwrap();
        assert_eq!(bits(&back), bits(&want), "{}", ty.name());
        // A row that is not whole super-blocks has no GPU layout.
        assert!(repack_for_gpu(ty, &file, 32 * 9).is_none());
        assert_eq!(ty.gpu_row_bytes(32 * 9), None);
    }
}
