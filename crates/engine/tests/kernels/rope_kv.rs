//! `rope_kv.wgsl` against rotary embedding in f64: Q rotated in place, K
//! rotated and V copied into the caches at rows pos…pos+n_tokens, and every
//! other cache row left alone.
//!
//! Tolerance on rotated values (inputs in [-1, 1]): |gpu − ref| ≤ 5e-4 +
//! 2e-7 · position. WGSL promises sin and cos only to 2⁻¹¹ ≈ 4.9e-4
//! absolute, and SwiftShader uses that room: it is off by about 2e-4 at any
//! position, where lavapipe is off by 3e-7 at position 3. The kernel also
//! forms the angle pos · base^(−2i/d) in f32 (as llama.cpp does), an error
//! that grows with the position: lavapipe shows 6e-5 at position 1000.
//! A wrong pairing, angle or position is off by O(1). Copies (V, dims past
//! rope_dim, untouched rows) must be exact.
//!
//! The fused twins are held to the same reference: `rope_split` (a batch's
//! fused Q|K|V rows split and rotated) and, for one token, `qkv_matvec`
//! (the decode product over a fused matrix, rotating and caching as it
//! writes), fed an identity matrix so its product is exact; where the
//! adapter takes the f16 cache's mirror in storage textures (lavapipe),
//! `qkv_matvec` writing it too, whose mirror must then equal the caches
//! bit for bit.
//!
//! Prefill's int8 tile with the rotation fused into its stores
//! (`ops::matmul_tile_q8_rope`) is held to its twin, the same normed
//! product into a row then `rope_split`, on every value of q and both
//! caches.
//!
//! The kernels that take the query and key norms as they rotate
//! (`rope_split_normed`, `rope_kv_normed`) are held to their twins, two
//! `head_norm` launches and then `rope_split` or `rope_kv`, on the same
//! inputs.
//!
//! Where the device has `shader-f16`, all three run again writing an f16 KV
//! cache: copies must then equal the value rounded to f16, and rotated
//! values may be off by half an f16 step more (2⁻¹¹ relative).

use anyhow::Result;
use locum_engine::ops::{self, RopeParams};
use locum_engine::Gpu;

use crate::harness::{self, gpu_tests, Tol};

gpu_tests!(
    int8_tile_rotates_as_rope_split,
    llama_prefill_after_pos,
    neox_partial_rotation,
    decode_far_position,
    decode_short_workgroup,
    decode_smollm2_shapes,
    neox_partial_decode,
    normed_as_head_norm_then_rope,
);

struct Case {
    seed: u64,
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    rope_dim: u32,
    base: f32,
    neox: bool,
    pos: u32,
    n_tokens: u32,
    ctx: u32,
}

/// Rotates one head at position `pos`, in f64.
fn rotate(head: &[f32], pos: u32, c: &Case) -> Vec<f64> {
    let mut out: Vec<f64> = harness::widen(head);
    let half = (c.rope_dim / 2) as usize;
    for i in 0..half {
        let (a, b) = if c.neox {
            (i, i + half)
        } else {
            (2 * i, 2 * i + 1)
        };
        let theta = pos as f64 * (c.base as f64).powf(-2.0 * i as f64 / c.rope_dim as f64);
        let (s, co) = theta.sin_cos();
        let (x, y) = (head[a] as f64, head[b] as f64);
        out[a] = x * co - y * s;
        out[b] = x * s + y * co;
    }
    out
}

async fn run(gpu: &Gpu, c: Case) -> Result<()> {
    for (gpu, kv16) in harness::kv_gpus(gpu) {
        run_on(&gpu, &c, kv16).await?;
    }
    Ok(())
}

/// The three kernels on `gpu`, whose KV cache is f16 (`kv16`) or f32.
async fn run_on(gpu: &Gpu, c: &Case, kv16: bool) -> Result<()> {
    let (nt, hd) = (c.n_tokens as usize, c.head_dim as usize);
    let q_len = nt * (c.n_head as usize) * hd;
    let kv_row = (c.n_kv as usize) * hd;
    let mut rng = harness::rng(c.seed);
    let q = harness::uniform(&mut rng, q_len, -1.0, 1.0);
    let k = harness::uniform(&mut rng, nt * kv_row, -1.0, 1.0);
    let v = harness::uniform(&mut rng, nt * kv_row, -1.0, 1.0);
    // The caches start with values of another range, which every row outside
    // pos…pos+n_tokens must keep.
    let cache_len = c.ctx as usize * kv_row;
    let k_cache0 = harness::uniform(&mut rng, cache_len, 5.0, 6.0);
    let v_cache0 = harness::uniform(&mut rng, cache_len, 5.0, 6.0);

    let step = harness::step_buffer(gpu);
    let [qb, kb, vb] = [&q, &k, &v].map(|d| harness::upload_f32(gpu, d));
    let [kcb, vcb] = [&k_cache0, &v_cache0].map(|d| harness::upload_kv(gpu, d, kv16));
    let params = RopeParams {
        n_head: c.n_head,
        n_kv: c.n_kv,
        head_dim: c.head_dim,
        rope_dim: c.rope_dim,
        base: c.base,
        neox: c.neox as u32,
        norm_eps: 0.0,
        _pad1: 0,
    };
    let d = ops::rope_kv(gpu, &step, params, [&qb, &kb, &vb, &kcb, &vcb]);
    harness::submit(gpu, &step, harness::step(c.n_tokens, c.pos), &[&d]);
    let mut outputs = vec![(
        "rope_kv",
        harness::read_f32(gpu, &qb, q_len).await?,
        harness::read_kv(gpu, &kcb, cache_len, kv16).await?,
        harness::read_kv(gpu, &vcb, cache_len, kv16).await?,
    )];

    // The fused twins read each token's Q|K|V as one row.
    let qkv: Vec<f32> = (0..nt)
        .flat_map(|t| {
            let qh = c.n_head as usize * hd;
            [
                &q[t * qh..(t + 1) * qh],
                &k[t * kv_row..(t + 1) * kv_row],
                &v[t * kv_row..(t + 1) * kv_row],
            ]
            .concat()
        })
        .collect();
    let width = qkv.len() / nt;
    // rope_split: from the fused rows of a batch.
    let qkvb = harness::upload_f32(gpu, &qkv);
    let [kcb, vcb] = [&k_cache0, &v_cache0].map(|d| harness::upload_kv(gpu, d, kv16));
    let qb = gpu.storage("q", (q_len * 4) as u64);
    let d = ops::rope_split(gpu, &step, params, &qkvb, &qb, &kcb, &vcb);
    harness::submit(gpu, &step, harness::step(c.n_tokens, c.pos), &[&d]);
    outputs.push((
        "rope_split",
        harness::read_f32(gpu, &qb, q_len).await?,
        harness::read_kv(gpu, &kcb, cache_len, kv16).await?,
        harness::read_kv(gpu, &vcb, cache_len, kv16).await?,
    ));
    // qkv_matvec (one token): the product of an identity matrix (F32, exact)
    // with the token's row, rotated and cached by the kernel's end.
    if nt == 1 && width.is_multiple_of(32) {
        let mut eye = vec![0.0f32; width * width];
        (0..width).for_each(|i| eye[i * width + i] = 1.0);
        // In the GPU layout: F32 matrices are tiled as the block types are.
        let words = locum_engine::format::quant::repack_for_gpu(
            locum_engine::GgmlType::F32,
            bytemuck::cast_slice(&eye),
            width,
        )
        .expect("F32 repacks");
        let w = ops::Weight::upload(
            gpu,
            "identity",
            bytemuck::cast_slice(&words),
            locum_engine::GgmlType::F32,
            width as u32,
            width as u32,
        );
        let xb = gpu.activation("x", (width * 4) as u64);
        gpu.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&qkv));
        let [kcb, vcb] = [&k_cache0, &v_cache0].map(|d| harness::upload_kv(gpu, d, kv16));
        let qb = gpu.storage("q", (q_len * 4) as u64);
        let d = ops::qkv_matvec(gpu, &step, &w, &xb, None, params, &qb, &kcb, &vcb, None)
            .ok_or_else(|| anyhow::anyhow!("the row fits the uniform view"))?;
        harness::submit(gpu, &step, harness::step(1, c.pos), &[&d]);
        outputs.push((
            "qkv_matvec",
            harness::read_f32(gpu, &qb, q_len).await?,
            harness::read_kv(gpu, &kcb, cache_len, kv16).await?,
            harness::read_kv(gpu, &vcb, cache_len, kv16).await?,
        ));
        // Writing the KV mirror too, where the adapter and the shape take
        // one: the mirror, filled from the caches before, must then hold
        // exactly what the caches do, and the caches what they did.
        let mirrors = kv16
            && gpu.clone().with_kv_mirror(true).kv_mirror()
            && ops::KvMirror::fits(c.head_dim, c.rope_dim)
            && ops::qkv_matvec_mirrors(gpu, &w, &xb);
        if mirrors {
            let m = ops::KvMirror::new(gpu, "mirror", c.ctx, c.n_kv, c.head_dim)
                .ok_or_else(|| anyhow::anyhow!("no mirror for ctx {}", c.ctx))?;
            let [kcb, vcb] = [&k_cache0, &v_cache0].map(|d| harness::upload_kv(gpu, d, kv16));
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            m.copy_rows(&mut enc, &kcb, &vcb, 0, c.ctx);
            gpu.queue.submit([enc.finish()]);
            let qb = gpu.storage("q", (q_len * 4) as u64);
            let d = ops::qkv_matvec(gpu, &step, &w, &xb, None, params, &qb, &kcb, &vcb, Some(&m))
                .ok_or_else(|| anyhow::anyhow!("qkv_matvec refused the mirror"))?;
            harness::submit(gpu, &step, harness::step(1, c.pos), &[&d]);
            let [km, vm] = ["k back", "v back"].map(|l| gpu.storage(l, m.bytes()));
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            m.copy_back(&mut enc, &km, &vm);
            gpu.queue.submit([enc.finish()]);
            let k_gpu = harness::read_kv(gpu, &kcb, cache_len, kv16).await?;
            let v_gpu = harness::read_kv(gpu, &vcb, cache_len, kv16).await?;
            let k_mirror = harness::read_kv(gpu, &km, cache_len, kv16).await?;
            let v_mirror = harness::read_kv(gpu, &vm, cache_len, kv16).await?;
            let what = |x: &str| {
                format!(
                    "qkv_matvec's mirror of {x}: hd {hd}, neox {}, pos {}",
                    c.neox, c.pos
                )
            };
            let wide = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
            harness::assert_close(&what("k"), &k_mirror, &wide(&k_gpu), Tol::EXACT)?;
            harness::assert_close(&what("v"), &v_mirror, &wide(&v_gpu), Tol::EXACT)?;
            outputs.push((
                "qkv_matvec with a mirror",
                harness::read_f32(gpu, &qb, q_len).await?,
                k_gpu,
                v_gpu,
            ));
        }
    }

    let q_ref: Vec<f64> = q
        .chunks(hd)
        .enumerate()
        .flat_map(|(j, head)| rotate(head, c.pos + (j / c.n_head as usize) as u32, c))
        .collect();
    let mut k_ref = harness::widen(&k_cache0);
    let mut v_ref = harness::widen(&v_cache0);
    let first = c.pos as usize * kv_row;
    for (j, head) in k.chunks(hd).enumerate() {
        let rotated = rotate(head, c.pos + (j / c.n_kv as usize) as u32, c);
        k_ref[first + j * hd..first + (j + 1) * hd].copy_from_slice(&rotated);
    }
    v_ref[first..first + nt * kv_row].copy_from_slice(&harness::widen(&v));

    let max_pos = (c.pos + c.n_tokens - 1) as f64;
    let rotated = Tol {
        abs: 5e-4 + 2e-7 * max_pos,
        rel: 0.0,
    };
    let (rd, neox) = (c.rope_dim, c.neox);
    // Rotated values get the angle tolerance, dims past rope_dim must be as they were.
    let in_rope = |i: usize| i % hd < rd as usize;
    let last = first + nt * kv_row;
    // An f16 cache holds each copied value rounded, and each rotated one
    // rounded from the kernel's f32 (half a step, 2⁻¹¹ relative, more).
    let round = |x: &mut f64| *x = f64::from(half::f16::from_f64(*x).to_f32());
    let k_rotated = match kv16 {
        true => {
            for (i, x) in k_ref.iter_mut().enumerate() {
                if !((first..last).contains(&i) && in_rope(i)) {
                    round(x);
                }
            }
            v_ref.iter_mut().for_each(round);
            Tol {
                rel: 1.0 / 2048.0,
                ..rotated
            }
        }
        false => rotated,
    };
    let cache = if kv16 { "f16" } else { "f32" };
    for (kernel, q_gpu, k_gpu, v_gpu) in outputs {
        let what = |x: &str| {
            format!(
                "{kernel} {x} ({cache} cache): hd {hd}, rope_dim {rd}, neox {neox}, pos {}+{nt}",
                c.pos
            )
        };
        harness::assert_close_each(&what("q"), &q_gpu, &q_ref, |i| {
            if in_rope(i) {
                rotated
            } else {
                Tol::EXACT
            }
        })?;
        harness::assert_close_each(&what("k_cache"), &k_gpu, &k_ref, |i| {
            if (first..last).contains(&i) && in_rope(i) {
                k_rotated
            } else {
                Tol::EXACT
            }
        })?;
        harness::assert_close(&what("v_cache"), &v_gpu, &v_ref, Tol::EXACT)?;
    }
    Ok(())
}

/// NeoX pairing on the first 32 of 64 dims, one token at position 77:
/// the fused decode kernel with Qwen's layout.
async fn neox_partial_decode(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 34,
        n_head: 4,
        n_kv: 2,
        head_dim: 64,
        rope_dim: 32,
        base: 1_000_000.0,
        neox: true,
        pos: 77,
        n_tokens: 1,
        ctx: 80,
    };
    run(gpu, c).await
}

/// Llama pairing, GQA (6 query heads, 2 KV heads), a prefill batch of 11
/// starting at position 37, rows 48… of the cache untouched.
async fn llama_prefill_after_pos(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 31,
        n_head: 6,
        n_kv: 2,
        head_dim: 64,
        rope_dim: 64,
        base: 10_000.0,
        neox: false,
        pos: 37,
        n_tokens: 11,
        ctx: 56,
    };
    run(gpu, c).await
}

/// NeoX pairing (halves) on the first 32 of 48 dims; the rest pass through.
async fn neox_partial_rotation(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 32,
        n_head: 5,
        n_kv: 1,
        head_dim: 48,
        rope_dim: 32,
        base: 1_000_000.0,
        neox: true,
        pos: 3,
        n_tokens: 9,
        ctx: 16,
    };
    run(gpu, c).await
}

/// One token, 6 query heads and 1 KV head of 36 dims: 144 rotation pairs,
/// so qkv_matvec's last workgroup (8 invocations of eight pairs) is cut
/// short.
async fn decode_short_workgroup(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 35,
        n_head: 6,
        n_kv: 1,
        head_dim: 36,
        rope_dim: 36,
        base: 10_000.0,
        neox: false,
        pos: 5,
        n_tokens: 1,
        ctx: 8,
    };
    run(gpu, c).await
}

/// One token of SmolLM2's shape (9 + 2·3 heads of 64, whose KV mirror
/// holds two positions to a texture row) at an odd and an even position,
/// in both pairings: where the adapter takes the mirror, the decode
/// product's texels must land on the right position, head and dims.
async fn decode_smollm2_shapes(gpu: &Gpu) -> Result<()> {
    for (seed, neox, pos) in [(36, false, 40), (37, true, 77), (38, false, 9)] {
        let c = Case {
            seed,
            n_head: 9,
            n_kv: 3,
            head_dim: 64,
            rope_dim: 64,
            base: 100_000.0,
            neox,
            pos,
            n_tokens: 1,
            ctx: 91,
        };
        run(gpu, c).await?;
    }
    Ok(())
}

/// One token at position 1000, where the f32 angle is least precise.
async fn decode_far_position(gpu: &Gpu) -> Result<()> {
    let c = Case {
        seed: 33,
        n_head: 4,
        n_kv: 2,
        head_dim: 64,
        rope_dim: 64,
        base: 10_000.0,
        neox: false,
        pos: 1000,
        n_tokens: 1,
        ctx: 1003,
    };
    run(gpu, c).await
}

/// `matmul_tile_q8_rope` (the normed fused Q|K|V product rotating and
/// caching in its stores) against its twin on the same inputs:
/// `matmul_tile_q8_normed` into a row, then `rope_split`. Both quantize x
/// alike and turn each pair by the same function, so they must agree to
/// f32 rounding: a pair stored to the wrong head, position or dims, or a
/// lane's rows past its own, is off by O(1). SmolLM2's shape (9 + 2·3
/// heads of 64: 12 rows a lane) and one of 16 rows a lane (4 + 2·2), 21
/// tokens from position 37 over caches of 64 rows whose other rows must
/// keep their values; both cache types. The neox layout is refused.
async fn int8_tile_rotates_as_rope_split(gpu: &Gpu) -> Result<()> {
    use locum_engine::GgmlType;
    let (n_in, nt, pos, ctx, max_tokens) = (576usize, 21usize, 37u32, 64usize, 64u32);
    for (gpu, kv16) in harness::kv_gpus(&gpu.clone().with_tile_rows12(true)) {
        for (seed, n_head, n_kv) in [(40u64, 9u32, 3u32), (41, 4, 2)] {
            let hd = 64u32;
            let rope = RopeParams {
                n_head,
                n_kv,
                head_dim: hd,
                rope_dim: hd,
                base: 10_000.0,
                neox: 0,
                norm_eps: 0.0,
                _pad1: 0,
            };
            let n_out = (n_head + 2 * n_kv) * hd;
            let mut rng = harness::rng(seed);
            let ty = GgmlType::Q4_1;
            let file = harness::random_weight_bytes(&mut rng, ty, n_out, n_in as u32);
            let (w, _) = harness::upload_weight(&gpu, ty, &file, n_out, n_in as u32)?;
            let x = harness::uniform(&mut rng, nt * n_in, -2.0, 2.0);
            let g = harness::uniform(&mut rng, n_in, 0.5, 1.5);
            let xb = gpu.activation("x", max_tokens as u64 * n_in as u64 * 4);
            gpu.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x));
            let gb = harness::upload_f32(&gpu, &g);
            let kv_row = (n_kv * hd) as usize;
            let cache0 = harness::uniform(&mut rng, ctx * kv_row, 5.0, 6.0);
            let q_len = nt * (n_head * hd) as usize;
            let step = harness::step_buffer(&gpu);
            let norm = (&gb, 1e-5f32);
            let mut outputs = Vec::new();
            for fused in [false, true] {
                let x8 = ops::x8_scratch(&gpu, n_in as u32, max_tokens);
                let qb = gpu.storage("q", (q_len * 4) as u64);
                let [kcb, vcb] = [&cache0, &cache0].map(|d| harness::upload_kv(&gpu, d, kv16));
                let ds: Vec<ops::Dispatch> = match fused {
                    true => ops::matmul_tile_q8_rope(
                        &gpu,
                        &step,
                        &w,
                        &xb,
                        norm,
                        &x8,
                        rope,
                        [&qb, &kcb, &vcb],
                        max_tokens,
                    )
                    .ok_or_else(|| anyhow::anyhow!("the rope tile took llama's layout"))?
                    .into(),
                    false => {
                        let qkv = gpu.storage("qkv", max_tokens as u64 * n_out as u64 * 4);
                        let e = ops::Epilogue::Store;
                        let mut ds: Vec<ops::Dispatch> = ops::matmul_tile_q8_normed(
                            &gpu, &step, &w, &xb, norm, &x8, &qkv, e, max_tokens,
                        )
                        .ok_or_else(|| anyhow::anyhow!("the int8 tile took Q4_1"))?
                        .into();
                        ds.push(ops::rope_split(&gpu, &step, rope, &qkv, &qb, &kcb, &vcb));
                        ds
                    }
                };
                harness::submit(
                    &gpu,
                    &step,
                    harness::step(nt as u32, pos),
                    &ds.iter().collect::<Vec<_>>(),
                );
                outputs.push((
                    harness::read_f32(&gpu, &qb, q_len).await?,
                    harness::read_kv(&gpu, &kcb, ctx * kv_row, kv16).await?,
                    harness::read_kv(&gpu, &vcb, ctx * kv_row, kv16).await?,
                ));
            }
            let (split, tile) = (&outputs[0], &outputs[1]);
            let what = |x: &str| format!("rope tile {x}: {n_head} + 2·{n_kv} heads, kv16 {kv16}");
            let tol = Tol {
                abs: 1e-5,
                rel: 1e-5,
            };
            harness::assert_close(&what("q"), &tile.0, &harness::widen(&split.0), tol)?;
            harness::assert_close(&what("k_cache"), &tile.1, &harness::widen(&split.1), tol)?;
            harness::assert_close(&what("v_cache"), &tile.2, &harness::widen(&split.2), tol)?;
            // The rows outside the batch's positions kept their values.
            let rows = pos as usize * kv_row..(pos as usize + nt) * kv_row;
            let kept = (0..ctx * kv_row).filter(|i| !rows.contains(i));
            for i in kept {
                anyhow::ensure!(
                    tile.2[i] >= 5.0 && tile.1[i] >= 5.0,
                    "cache value {i} outside the batch's rows changed"
                );
            }
        }
        let neox = RopeParams {
            n_head: 4,
            n_kv: 2,
            head_dim: 64,
            rope_dim: 64,
            base: 10_000.0,
            neox: 1,
            norm_eps: 0.0,
            _pad1: 0,
        };
        let file = harness::random_weight_bytes(&mut harness::rng(3), GgmlType::Q4_1, 512, 576);
        let (w, _) = harness::upload_weight(&gpu, GgmlType::Q4_1, &file, 512, 576)?;
        let (xb, gb) = (gpu.activation("x", 64 * 576 * 4), gpu.storage("g", 576 * 4));
        let x8 = ops::x8_scratch(&gpu, 576, 64);
        let (qb, kcb) = (gpu.storage("q", 4096), gpu.storage("k", 4096));
        let step = harness::step_buffer(&gpu);
        let caches = [&qb, &kcb, &kcb];
        let refused =
            ops::matmul_tile_q8_rope(&gpu, &step, &w, &xb, (&gb, 1e-5), &x8, neox, caches, 64);
        anyhow::ensure!(refused.is_none(), "the rope tile took the neox layout");
    }
    Ok(())
}

/// `rope_split_normed` and `rope_kv_normed` (the query and key norms taken
/// in the rotation's launch) against their twins: `head_norm` on the query
/// heads and on the key heads, then `rope_split` or `rope_kv`. Both compute
/// each head's norm in f32 and turn each pair by the same function, so they
/// agree to f32 rounding: a head normed by the other's weights or sum, a
/// value head normed, or a dim past rope_dim left unnormed is off by O(1).
/// Gemma 3's shape (4 query heads and 1 key head of 256, neox, every dim
/// rotated) over a batch of 5 and one token, and one with a partial
/// rotation (3 + 2·2 heads of 48, 32 rotated, llama's pairing), over
/// caches whose other rows must keep their values; both cache types.
async fn normed_as_head_norm_then_rope(gpu: &Gpu) -> Result<()> {
    use locum_engine::ops::HeadNormParams;
    let shapes = [
        (50u64, 4u32, 1u32, 256u32, 256u32, true, 5u32, 7u32),
        (51, 4, 1, 256, 256, true, 1, 30),
        (52, 3, 2, 48, 32, false, 4, 2),
    ];
    for (gpu, kv16) in harness::kv_gpus(gpu) {
        for (seed, nh, nkv, hd, rd, neox, nt, pos) in shapes {
            let ctx = (pos + nt + 3) as usize;
            let rope = RopeParams {
                n_head: nh,
                n_kv: nkv,
                head_dim: hd,
                rope_dim: rd,
                base: 10_000.0,
                neox: neox as u32,
                norm_eps: 1e-6,
                _pad1: 0,
            };
            let mut rng = harness::rng(seed);
            let (nt_, hd_) = (nt as usize, hd as usize);
            let width = ((nh + 2 * nkv) * hd) as usize;
            let kv_row = (nkv * hd) as usize;
            let q_len = nt_ * (nh * hd) as usize;
            // Each head at its own scale, so that a head normed by another's
            // sum is far off.
            let mut qkv = harness::uniform(&mut rng, nt_ * width, -1.0, 1.0);
            for (i, head) in qkv.chunks_mut(hd_).enumerate() {
                let s = 0.05 * (1 + i % 7) as f32;
                head.iter_mut().for_each(|v| *v *= s);
            }
            let q_w = harness::uniform(&mut rng, hd_, 0.5, 1.5);
            let k_w = harness::uniform(&mut rng, hd_, -1.5, -0.5);
            let cache0 = harness::uniform(&mut rng, ctx * kv_row, 5.0, 6.0);
            let step = harness::step_buffer(&gpu);
            let [qwb, kwb] = [&q_w, &k_w].map(|d| harness::upload_f32(&gpu, d));
            let norm =
                |w: &wgpu::Buffer, y: &wgpu::Buffer, stride: u32, offset: u32, n_heads: u32| {
                    let params = HeadNormParams {
                        stride,
                        offset,
                        n_heads,
                        head_dim: hd,
                        eps: 1e-6,
                        _pad0: 0,
                        _pad1: 0,
                        _pad2: 0,
                    };
                    ops::head_norm(&gpu, &step, w, y, params)
                };
            // The same rows apart: q (nt, nh·hd), k and v (nt, nkv·hd).
            let part = |from: usize, len: usize| -> Vec<f32> {
                (0..nt_)
                    .flat_map(|t| qkv[t * width + from..t * width + from + len].to_vec())
                    .collect()
            };
            let qh = (nh * hd) as usize;
            let (q, k, v) = (part(0, qh), part(qh, kv_row), part(qh + kv_row, kv_row));
            let mut outputs = Vec::new();
            for layout in ["split", "apart"] {
                for fused in [false, true] {
                    let [kcb, vcb] = [&cache0, &cache0].map(|d| harness::upload_kv(&gpu, d, kv16));
                    let (qb, ds) = match layout {
                        "split" => {
                            let qkvb = harness::upload_f32(&gpu, &qkv);
                            let qb = gpu.storage("q", (q_len * 4) as u64);
                            let ds = match fused {
                                true => vec![ops::rope_split_normed(
                                    &gpu, &step, rope, &qkvb, &qb, &kcb, &vcb, &qwb, &kwb,
                                )
                                .ok_or_else(|| anyhow::anyhow!("rope_split_normed refused"))?],
                                false => {
                                    let w = width as u32;
                                    vec![
                                        norm(&qwb, &qkvb, w, 0, nh),
                                        norm(&kwb, &qkvb, w, nh * hd, nkv),
                                        ops::rope_split(&gpu, &step, rope, &qkvb, &qb, &kcb, &vcb),
                                    ]
                                }
                            };
                            (qb, ds)
                        }
                        _ => {
                            let [qb, kb, vb] = [&q, &k, &v].map(|d| harness::upload_f32(&gpu, d));
                            let bufs = [&qb, &kb, &vb, &kcb, &vcb];
                            let ds =
                                match fused {
                                    true => vec![ops::rope_kv_normed(
                                        &gpu, &step, rope, bufs, &qwb, &kwb,
                                    )
                                    .ok_or_else(|| anyhow::anyhow!("rope_kv_normed refused"))?],
                                    false => vec![
                                        norm(&qwb, &qb, nh * hd, 0, nh),
                                        norm(&kwb, &kb, nkv * hd, 0, nkv),
                                        ops::rope_kv(&gpu, &step, rope, bufs),
                                    ],
                                };
                            (qb, ds)
                        }
                    };
                    harness::submit(
                        &gpu,
                        &step,
                        harness::step(nt, pos),
                        &ds.iter().collect::<Vec<_>>(),
                    );
                    outputs.push((
                        layout,
                        fused,
                        harness::read_f32(&gpu, &qb, q_len).await?,
                        harness::read_kv(&gpu, &kcb, ctx * kv_row, kv16).await?,
                        harness::read_kv(&gpu, &vcb, ctx * kv_row, kv16).await?,
                    ));
                }
            }
            let tol = Tol {
                abs: 1e-5,
                rel: 1e-5,
            };
            for pair in outputs.chunks(2) {
                let (twin, one) = (&pair[0], &pair[1]);
                let what = |x: &str| {
                    format!(
                        "rope {} normed, {x}: {nh} + 2·{nkv} heads of {hd} ({rd} rotated), {nt} at {pos}, kv16 {kv16}",
                        one.0
                    )
                };
                harness::assert_close(&what("q"), &one.2, &harness::widen(&twin.2), tol)?;
                harness::assert_close(&what("k_cache"), &one.3, &harness::widen(&twin.3), tol)?;
                harness::assert_close(
                    &what("v_cache"),
                    &one.4,
                    &harness::widen(&twin.4),
                    Tol::EXACT,
                )?;
            }
        }
    }
    Ok(())
}
