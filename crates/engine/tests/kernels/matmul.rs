//! `matmul.wgsl` against W·x in f64 on the CPU, W being `dequantize` of the
//! same random file-layout blocks the GPU gets repacked, for every weight type.
//!
//! Tolerance: |gpu − ref| ≤ 1e-5 · Σᵢ|Wᵣᵢ·xᵢ| + 1e-6 per output. The kernel
//! sums n_in f32 products in its own order (16 lanes, then a tree); f32
//! rounding of such a sum is bounded by about n_in · 2⁻²⁴ · Σ|terms|, and in
//! practice √n_in of that, so for n_in ≤ 544 the bound leaves a margin of
//! about 10× over what lavapipe and SwiftShader show.

use anyhow::{Context, Result};
use locum_engine::{ops, GgmlType, Gpu};

use crate::harness::{self, gpu_tests, Store, Tol};

gpu_tests!(
    f32_weights,
    f16_weights,
    q4_0,
    q4_1,
    q8_0,
    q5_0,
    q4_k,
    q6_k,
    q4_1_accumulate,
    q8_0_one_row,
    q4_0_decode,
    q4_0_rows_past_one_grid_dimension,
    matvec_every_type,
    matvec_accumulate,
    matvec_silu_gate,
    tile_every_type,
    tile_accumulate_and_silu_gate,
    tile_group_every_type,
    tile_group_epilogues,
    generic_silu_gate,
    gelu_gate_every_kernel,
    parts_write_their_rows,
    weights_in_buffers_and_textures,
    matvec_fused_norm,
    matvec_int8_and_f32_twins,
    int8_exact_for_integer_x,
    tile_int8_and_f32_twins,
    tile_int8_exact_for_integer_x,
);

/// The weight types the GPU kernels take, each tested in every kernel.
const EVERY_TYPE: [GgmlType; 8] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q8_0,
    GgmlType::Q5_0,
    GgmlType::Q4_K,
    GgmlType::Q6_K,
];

/// Tokens the grouped tile kernel is built for in [`run_batch`]: more than
/// the 13 it runs, as the model builds for its largest batch.
const GROUP_TOKENS: u32 = 24;

/// One matmul launch and its check.
struct Case {
    ty: GgmlType,
    seed: u64,
    n_out: u32,
    n_in: u32,
    /// The batch in the step uniform.
    n_tokens: u32,
    one_row: bool,
    accumulate: bool,
}

/// y (n_tokens, n_out) = W (n_out, n_in) · x (n_tokens, n_in) in f64, and the
/// per-output Σ|W·x| the tolerance scales with.
fn matmul_ref(
    w: &[f32],
    x: &[f32],
    n_out: usize,
    n_in: usize,
    rows: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0; rows * n_out];
    let mut mag = vec![0.0; rows * n_out];
    for t in 0..rows {
        for r in 0..n_out {
            let (mut s, mut m) = (0.0f64, 0.0f64);
            for i in 0..n_in {
                let p = w[r * n_in + i] as f64 * x[t * n_in + i] as f64;
                s += p;
                m += p.abs();
            }
            y[t * n_out + r] = s;
            mag[t * n_out + r] = m;
        }
    }
    (y, mag)
}

/// The gate's activation in f64: SiLU, or GELU in its tanh form.
fn act(e: ops::Epilogue, g: f64) -> f64 {
    match e {
        ops::Epilogue::GeluGate => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * g * (1.0 + (c * (g + 0.044715 * g.powi(3))).tanh())
        }
        _ => g / (1.0 + (-g).exp()),
    }
}

async fn run(gpu: &Gpu, c: Case) -> Result<()> {
    let mut rng = harness::rng(c.seed);
    let file = harness::random_weight_bytes(&mut rng, c.ty, c.n_out, c.n_in);
    let (w, w_cpu) = harness::upload_weight(gpu, c.ty, &file, c.n_out, c.n_in)?;
    let (n_out, n_in, nt) = (c.n_out as usize, c.n_in as usize, c.n_tokens as usize);
    let x = harness::uniform(&mut rng, nt * n_in, -1.0, 1.0);
    // y starts random: the addend with `accumulate`, and otherwise values
    // the kernel must overwrite (or, past the rows it computes, leave).
    let y0 = harness::uniform(&mut rng, nt * n_out, -1.0, 1.0);

    let step = harness::step_buffer(gpu);
    let (xb, yb) = (harness::upload_f32(gpu, &x), harness::upload_f32(gpu, &y0));
    let d = ops::matmul(gpu, &step, &w, &xb, &yb, c.one_row, c.accumulate);
    harness::submit(gpu, &step, harness::step(c.n_tokens, 0), &[&d]);
    let y = harness::read_f32(gpu, &yb, nt * n_out).await?;

    let rows = if c.one_row { 1 } else { nt };
    let (mut reference, mut mag) = matmul_ref(&w_cpu, &x, n_out, n_in, rows);
    if c.accumulate {
        for (r, &y0) in reference.iter_mut().zip(&y0) {
            *r += y0 as f64;
        }
    }
    // Rows the launch does not compute keep their contents exactly.
    reference.extend(y0[rows * n_out..].iter().map(|&v| v as f64));
    mag.resize(reference.len(), 0.0);
    let what = format!(
        "matmul {} W ({n_out}, {n_in}) x ({nt}, {n_in}) one_row={} accumulate={}",
        c.ty.name(),
        c.one_row,
        c.accumulate
    );
    harness::assert_close_each(&what, &y, &reference, |i| {
        if i < rows * n_out {
            Tol {
                abs: 1e-5 * mag[i] + 1e-6,
                rel: 0.0,
            }
        } else {
            Tol::EXACT
        }
    })
}

/// A prefill batch: 37 rows (not a multiple of the 4 per workgroup), 17
/// blocks per row (one more than the 16 lanes), 13 tokens (a full tile of 8
/// and a partial one).
fn batch(ty: GgmlType, seed: u64) -> Case {
    Case {
        ty,
        seed,
        n_out: 37,
        n_in: n_in_for(ty),
        n_tokens: 13,
        one_row: false,
        accumulate: false,
    }
}

async fn f32_weights(gpu: &Gpu) -> Result<()> {
    run(gpu, batch(GgmlType::F32, 1)).await
}

async fn f16_weights(gpu: &Gpu) -> Result<()> {
    run(gpu, batch(GgmlType::F16, 2)).await
}

async fn q4_0(gpu: &Gpu) -> Result<()> {
    run(gpu, batch(GgmlType::Q4_0, 3)).await
}

async fn q4_1(gpu: &Gpu) -> Result<()> {
    run(gpu, batch(GgmlType::Q4_1, 4)).await
}

async fn q8_0(gpu: &Gpu) -> Result<()> {
    run(gpu, batch(GgmlType::Q8_0, 5)).await
}

/// y += W·x (the fused residual add), 3 token tiles (21 = 8 + 8 + 5).
/// Q5_0 runs the Q8_0 kernels on its lossless Q8_0 repacking.
async fn q5_0(gpu: &Gpu) -> Result<()> {
    run(gpu, batch(GgmlType::Q5_0, 10)).await
}

/// The K-quants: rows of whole 256-value super-blocks (see `n_in_for`).
async fn q4_k(gpu: &Gpu) -> Result<()> {
    run(gpu, batch(GgmlType::Q4_K, 11)).await
}

async fn q6_k(gpu: &Gpu) -> Result<()> {
    run(gpu, batch(GgmlType::Q6_K, 12)).await
}

/// The odd row length the tests use: 17 blocks (a group of four cut short),
/// or for the K-quants, whose rows are whole 256-value super-blocks, 3 of
/// them.
fn n_in_for(ty: GgmlType) -> u32 {
    if ty.block_len() == 256 {
        768
    } else {
        544
    }
}

async fn q4_1_accumulate(gpu: &Gpu) -> Result<()> {
    let c = Case {
        n_out: 21,
        n_in: 96,
        n_tokens: 21,
        accumulate: true,
        ..batch(GgmlType::Q4_1, 6)
    };
    run(gpu, c).await
}

/// `one_row`: the output head after a prefill of 13 tokens reads only x's
/// row 0 and writes only y's row 0.
async fn q8_0_one_row(gpu: &Gpu) -> Result<()> {
    let c = Case {
        one_row: true,
        ..batch(GgmlType::Q8_0, 7)
    };
    run(gpu, c).await
}

/// Decode: one token, 45 rows.
async fn q4_0_decode(gpu: &Gpu) -> Result<()> {
    let c = Case {
        n_out: 45,
        n_in: 256,
        n_tokens: 1,
        ..batch(GgmlType::Q4_0, 8)
    };
    run(gpu, c).await
}

/// More than 32,768 row groups (an output head of 131,077 rows, as Qwen's
/// 151,936-token vocabulary needs): the grid folds rows into x·y.
async fn q4_0_rows_past_one_grid_dimension(gpu: &Gpu) -> Result<()> {
    let c = Case {
        n_out: 131_077,
        n_in: 32,
        n_tokens: 1,
        ..batch(GgmlType::Q4_0, 9)
    };
    run(gpu, c).await
}

// ------------------------------------------------------------ matvec.wgsl

/// `matvec.wgsl` (decode: sixteen rows per invocation, x as a uniform) with
/// `epilogue`, against W·x in f64. 301 rows (300 for gate/up pairs): two
/// workgroups of 128 rows and a third cut short, whose last invocation has
/// 13 rows (12: six pairs); 17 blocks per row (a group of four blocks cut
/// short).
async fn run_matvec(gpu: &Gpu, ty: GgmlType, seed: u64, epilogue: ops::Epilogue) -> Result<()> {
    run_matvec_in(gpu, Store::Adapter, ty, seed, epilogue).await
}

/// [`run_matvec`] with the weights in `store`.
async fn run_matvec_in(
    gpu: &Gpu,
    store: Store,
    ty: GgmlType,
    seed: u64,
    epilogue: ops::Epilogue,
) -> Result<()> {
    run_matvec_with(gpu, store, ty, seed, epilogue, false).await
}

/// [`run_matvec_in`], with `norm` the RMS norm of x fused in front
/// (`ops::matvec_normed`): the reference multiplies x / rms(x) · g.
async fn run_matvec_with(
    gpu: &Gpu,
    store: Store,
    ty: GgmlType,
    seed: u64,
    epilogue: ops::Epilogue,
    norm: bool,
) -> Result<()> {
    // An odd row count leaves the last invocation a part of its rows.
    let n_out = if epilogue.gated() { 300 } else { 301 };
    let n_in = n_in_for(ty) as usize;
    let mut rng = harness::rng(seed);
    let file = harness::random_weight_bytes(&mut rng, ty, n_out as u32, n_in as u32);
    let (w, w_cpu) = harness::upload_weight_in(gpu, store, ty, &file, n_out as u32, n_in as u32)?;
    // x sits in an activation buffer, after which come values that must not
    // be read (the rest of a prefill batch).
    let mut x = harness::uniform(&mut rng, n_in * 3, -1.0, 1.0);
    x[n_in..].iter_mut().for_each(|v| *v = 1e4);
    let xb = gpu.activation("x", (x.len() * 4) as u64);
    gpu.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x));
    let y0 = harness::uniform(&mut rng, n_out, -1.0, 1.0);
    let yb = harness::upload_f32(gpu, &y0);
    let step = harness::step_buffer(gpu);
    // The norm's weights, and the normed x the reference multiplies.
    let eps = 1e-5f32;
    let g = harness::uniform(&mut rng, n_in, 0.5, 1.5);
    let gb = gpu.activation("g", (n_in * 4) as u64);
    gpu.queue.write_buffer(&gb, 0, bytemuck::cast_slice(&g));
    let ms = x[..n_in].iter().map(|&v| v as f64 * v as f64).sum::<f64>() / n_in as f64;
    let inv = 1.0 / (ms + eps as f64).sqrt();
    let x_in: Vec<f32> = match norm {
        true => (0..n_in)
            .map(|i| (x[i] as f64 * inv * g[i] as f64) as f32)
            .collect(),
        false => x[..n_in].to_vec(),
    };
    let d = match norm {
        true => match ops::matvec_normed(gpu, &step, &w, &xb, &gb, eps, &yb, epilogue) {
            Some(d) => d,
            None => {
                // No fused norm where decode neither shares x by subgroups
                // nor quantizes it.
                anyhow::ensure!(
                    !gpu.x_subgroup() && !w.x_q8(gpu),
                    "matvec_normed refused a fused norm"
                );
                return Ok(());
            }
        },
        false => ops::matvec_rows(gpu, &step, &w, &xb, &yb, epilogue)
            .context("x fits the uniform view")?,
    };
    harness::submit(gpu, &step, harness::step(1, 0), &[&d]);
    let y = harness::read_f32(gpu, &yb, n_out).await?;

    let (wx, mag) = matmul_ref(&w_cpu, &x_in, n_out, n_in, 1);
    // Each row's error bound: f32 rounding, 1e-5 of Σ|W·x| (see the top),
    // and with x in int8 (matvec_q8.wgsl) the quantization's (`q8_error`).
    let q8 = w.x_q8(gpu);
    let err: Vec<f64> = (0..n_out)
        .map(|r| {
            let quant = match q8 {
                false => 0.0,
                true => q8_error(&w_cpu[r * n_in..(r + 1) * n_in], &x_in),
            };
            1e-5 * mag[r] + quant
        })
        .collect();
    let (reference, tol): (Vec<f64>, Vec<f64>) = match epilogue {
        ops::Epilogue::Store => (wx.clone(), err.clone()),
        ops::Epilogue::Accumulate => (
            wx.iter().zip(&y0).map(|(a, &b)| a + b as f64).collect(),
            err.clone(),
        ),
        ops::Epilogue::SiluGate | ops::Epilogue::GeluGate => {
            // Rows 2i, 2i+1 are gate_i, up_i; outputs past n_out / 2 keep y0.
            let mut r: Vec<f64> = (0..n_out / 2)
                .map(|i| {
                    let (g, u) = (wx[2 * i], wx[2 * i + 1]);
                    act(epilogue, g) * u
                })
                .collect();
            // The gate's error times |up| (the activations' slopes are
            // below 1.13) and the up's times |act(gate)| ≤ max(|gate|, 1).
            let mut t: Vec<f64> = (0..n_out / 2)
                .map(|i| {
                    1.13 * err[2 * i] * wx[2 * i + 1].abs().max(1.0)
                        + err[2 * i + 1] * wx[2 * i].abs().max(1.0)
                })
                .collect();
            r.extend(y0[n_out / 2..].iter().map(|&v| v as f64));
            t.resize(n_out, 0.0);
            (r, t)
        }
    };
    let what = format!(
        "matvec {} W ({n_out}, {n_in}) in {store:?} {epilogue:?}, norm fused: {norm}, x in int8: {q8}",
        ty.name()
    );
    let outputs = match epilogue {
        e if e.gated() => n_out / 2,
        _ => n_out,
    };
    harness::assert_close_each(&what, &y, &reference, |i| {
        if i < outputs {
            Tol {
                abs: tol[i] + 1e-6,
                rel: 0.0,
            }
        } else {
            Tol::EXACT
        }
    })
}

/// How far x quantized to int8 (`matvec_q8.wgsl`) can move a row's dot
/// with x: a value of block b is off by at most d_b / 2, d_b = max|x_b| /
/// 127, so the dot by Σ_b d_b / 2 · Σ_{i in b} |w_i| (1% more for the
/// rounding of d and of the products).
fn q8_error(w_row: &[f32], x: &[f32]) -> f64 {
    let quant: f64 = x
        .chunks(32)
        .zip(w_row.chunks(32))
        .map(|(xb, wb)| {
            let d = xb.iter().fold(0f64, |m, &v| m.max(v.abs() as f64)) / 127.0;
            d / 2.0 * wb.iter().map(|&v| v.abs() as f64).sum::<f64>()
        })
        .sum();
    1.01 * quant
}

async fn matvec_every_type(gpu: &Gpu) -> Result<()> {
    for (i, ty) in EVERY_TYPE.into_iter().enumerate() {
        run_matvec(gpu, ty, 20 + i as u64, ops::Epilogue::Store).await?;
    }
    Ok(())
}

async fn matvec_accumulate(gpu: &Gpu) -> Result<()> {
    run_matvec(gpu, GgmlType::Q4_1, 30, ops::Epilogue::Accumulate).await?;
    run_matvec(gpu, GgmlType::Q8_0, 31, ops::Epilogue::Accumulate).await
}

async fn matvec_silu_gate(gpu: &Gpu) -> Result<()> {
    run_matvec(gpu, GgmlType::Q4_1, 32, ops::Epilogue::SiluGate).await?;
    run_matvec(gpu, GgmlType::Q4_0, 33, ops::Epilogue::SiluGate).await
}

// -------------------------------------------------------- matmul_tile.wgsl

/// The batch kernels [`run_batch`] checks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Batch {
    /// `matmul_tile.wgsl`: x from storage, one launch.
    Tile,
    /// `matmul_tile_group.wgsl`: x as a uniform, a launch per 8 tokens,
    /// built for more tokens ([`GROUP_TOKENS`]) than the batch runs.
    Group,
    /// `matmul.wgsl`, the GPU kernel.
    Generic,
    /// `quantize_x8.wgsl` then `matmul_tile_q8.wgsl`: x in int8, a launch
    /// per 8 tokens, built for [`GROUP_TOKENS`] as the grouped tile.
    Int8,
    /// [`Batch::Int8`] of x's RMS norm, taken as x is quantized
    /// (`quantize_x8_normed`): W·(x / rms(x) · g), held to the f64 norm
    /// and product within the quantization's bound.
    Int8Normed,
}

const NORM_EPS: f32 = 1e-5;

/// `matmul_tile.wgsl` (prefill: tiles of 8 rows × 8 tokens) with
/// `epilogue`, against W·X in f64: 293 rows (294 for gate/up pairs), two
/// workgroups of 128 rows and a third whose last tile is cut short; 17
/// blocks per row, 13 tokens (a full token tile and a partial one).
async fn run_tile(gpu: &Gpu, ty: GgmlType, seed: u64, epilogue: ops::Epilogue) -> Result<()> {
    run_batch(gpu, ty, seed, epilogue, Batch::Tile).await
}

/// [`run_tile`] on any of the batch kernels, with the same epilogue.
async fn run_batch(
    gpu: &Gpu,
    ty: GgmlType,
    seed: u64,
    epilogue: ops::Epilogue,
    kernel: Batch,
) -> Result<()> {
    run_batch_in(gpu, Store::Adapter, ty, seed, epilogue, kernel).await
}

/// [`run_batch`] with the weights in `store`.
async fn run_batch_in(
    gpu: &Gpu,
    store: Store,
    ty: GgmlType,
    seed: u64,
    epilogue: ops::Epilogue,
    kernel: Batch,
) -> Result<()> {
    run_batch_shaped(gpu, store, ty, seed, epilogue, kernel, n_in_for(ty), 13).await
}

/// [`run_batch_in`] over `nt` tokens (at most [`GROUP_TOKENS`]) of rows of
/// `n_in` values.
#[allow(clippy::too_many_arguments)]
async fn run_batch_shaped(
    gpu: &Gpu,
    store: Store,
    ty: GgmlType,
    seed: u64,
    epilogue: ops::Epilogue,
    kernel: Batch,
    n_in: u32,
    nt: usize,
) -> Result<()> {
    let n_out = if epilogue.gated() { 294 } else { 293 };
    run_batch_sized(gpu, store, ty, seed, epilogue, kernel, n_out, n_in, nt).await
}

/// [`run_batch_shaped`] with `n_out` rows.
#[allow(clippy::too_many_arguments)]
async fn run_batch_sized(
    gpu: &Gpu,
    store: Store,
    ty: GgmlType,
    seed: u64,
    epilogue: ops::Epilogue,
    kernel: Batch,
    n_out: usize,
    n_in: u32,
    nt: usize,
) -> Result<()> {
    let n_in = n_in as usize;
    let mut rng = harness::rng(seed);
    let file = harness::random_weight_bytes(&mut rng, ty, n_out as u32, n_in as u32);
    let (w, w_cpu) = harness::upload_weight_in(gpu, store, ty, &file, n_out as u32, n_in as u32)?;
    let x = harness::uniform(&mut rng, nt * n_in, -1.0, 1.0);
    let y0 = harness::uniform(&mut rng, nt * n_out, -1.0, 1.0);
    let yb = harness::upload_f32(gpu, &y0);
    // The norm's weights, and x as the product sees it (normed in f64,
    // each token's row at its own scale so that eps matters for one).
    let (x, g) = match kernel {
        Batch::Int8Normed => {
            let mut x = x;
            for (t, row) in x.chunks_mut(n_in).enumerate() {
                let s = [1.0, 1e-3, 30.0][t % 3];
                row.iter_mut().for_each(|v| *v *= s);
            }
            (x, harness::uniform(&mut rng, n_in, 0.5, 1.5))
        }
        _ => (x, Vec::new()),
    };
    let gb = harness::upload_f32(gpu, &g);
    let xn: Vec<f32> = match kernel {
        Batch::Int8Normed => x
            .chunks(n_in)
            .flat_map(|row| {
                let ms = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n_in as f64;
                let inv = 1.0 / (ms + NORM_EPS as f64).sqrt();
                row.iter()
                    .zip(&g)
                    .map(move |(&v, &g)| (v as f64 * inv * g as f64) as f32)
            })
            .collect(),
        _ => x.clone(),
    };
    let xb = match kernel {
        Batch::Group | Batch::Int8 | Batch::Int8Normed => {
            let xb = gpu.activation("x", (GROUP_TOKENS as usize * n_in * 4) as u64);
            gpu.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x));
            xb
        }
        _ => harness::upload_f32(gpu, &x),
    };
    let step = harness::step_buffer(gpu);
    let x8 = ops::x8_scratch(gpu, n_in as u32, GROUP_TOKENS);
    let ds = match kernel {
        Batch::Generic => vec![ops::matmul_with(gpu, &step, &w, &xb, &yb, false, epilogue)],
        Batch::Tile => vec![ops::matmul_tile(gpu, &step, &w, &xb, &yb, epilogue)],
        Batch::Group => {
            vec![
                ops::matmul_tile_group(gpu, &step, &w, &xb, &yb, epilogue, GROUP_TOKENS)
                    .context("x fits the grouped kernel's uniform view")?,
            ]
        }
        Batch::Int8 => ops::matmul_tile_q8(gpu, &step, &w, &xb, &x8, &yb, epilogue, GROUP_TOKENS)
            .context("the int8 tile took a 4-bit type")?
            .into(),
        Batch::Int8Normed => {
            let norm = (&gb, NORM_EPS);
            let ds = ops::matmul_tile_q8_normed(
                gpu,
                &step,
                &w,
                &xb,
                norm,
                &x8,
                &yb,
                epilogue,
                GROUP_TOKENS,
            )
            .context("the int8 tile took a 4-bit type")?;
            anyhow::ensure!(ds[0].label == "quantize_x8_normed", "{}", ds[0].label);
            ds.into()
        }
    };
    // A launch a group for the f32 tile; the int8 tile takes as many groups
    // a launch as its uniform view holds.
    let groups = (nt as u32).div_ceil(8);
    let per = match kernel {
        Batch::Int8 | Batch::Int8Normed => {
            let view = locum_engine::gpu::UNIFORM_VIEW / ops::x8_group_bytes(gpu, n_in as u32);
            (view as u32).clamp(1, GROUP_TOKENS / 8)
        }
        _ => 1,
    };
    if matches!(kernel, Batch::Group | Batch::Int8 | Batch::Int8Normed) {
        let tiles = ds.last().expect("a dispatch");
        let want = groups.div_ceil(per);
        let got = tiles.launches(nt as u32);
        anyhow::ensure!(got == want, "{nt} tokens: {got} launches, not {want}");
    }
    harness::submit(
        gpu,
        &step,
        harness::step(nt as u32, 0),
        &ds.iter().collect::<Vec<_>>(),
    );
    let y = harness::read_f32(gpu, &yb, nt * n_out).await?;

    let (wx, mag) = matmul_ref(&w_cpu, &xn, n_out, n_in, nt);
    // With x in int8, each output's error grows by the quantization's bound
    // for its token and row (`q8_error`).
    let mag: Vec<f64> = match kernel {
        Batch::Int8 | Batch::Int8Normed => (0..nt * n_out)
            .map(|i| {
                let (t, r) = (i / n_out, i % n_out);
                let row = &w_cpu[r * n_in..(r + 1) * n_in];
                mag[i] + 1e5 * q8_error(row, &xn[t * n_in..(t + 1) * n_in])
            })
            .collect(),
        _ => mag,
    };
    let (reference, tol, outputs): (Vec<f64>, Vec<f64>, usize) = match epilogue {
        ops::Epilogue::Store => (wx, mag, nt * n_out),
        ops::Epilogue::Accumulate => (
            wx.iter().zip(&y0).map(|(a, &b)| a + b as f64).collect(),
            mag,
            nt * n_out,
        ),
        ops::Epilogue::SiluGate | ops::Epilogue::GeluGate => {
            // y is (nt, n_out / 2); the rest of the buffer keeps y0.
            let half = n_out / 2;
            let mut r = Vec::new();
            let mut t = Vec::new();
            for tok in 0..nt {
                for i in 0..half {
                    let (g, u) = (wx[tok * n_out + 2 * i], wx[tok * n_out + 2 * i + 1]);
                    r.push(act(epilogue, g) * u);
                    t.push(
                        mag[tok * n_out + 2 * i] * u.abs().max(1.0)
                            + mag[tok * n_out + 2 * i + 1] * g.abs().max(1.0),
                    );
                }
            }
            r.extend(y0[nt * half..].iter().map(|&v| v as f64));
            t.resize(r.len(), 0.0);
            (r, t, nt * half)
        }
    };
    let what = format!(
        "{kernel:?} {} W ({n_out}, {n_in}) in {store:?} x {nt} {epilogue:?}",
        ty.name()
    );
    harness::assert_close_each(&what, &y, &reference, |i| {
        if i < outputs {
            Tol {
                abs: 1e-5 * tol[i] + 1e-6,
                rel: 0.0,
            }
        } else {
            Tol::EXACT
        }
    })
}

async fn tile_every_type(gpu: &Gpu) -> Result<()> {
    for (i, ty) in EVERY_TYPE.into_iter().enumerate() {
        run_tile(gpu, ty, 40 + i as u64, ops::Epilogue::Store).await?;
    }
    Ok(())
}

async fn tile_accumulate_and_silu_gate(gpu: &Gpu) -> Result<()> {
    run_tile(gpu, GgmlType::Q4_1, 50, ops::Epilogue::Accumulate).await?;
    run_tile(gpu, GgmlType::Q8_0, 51, ops::Epilogue::SiluGate).await?;
    run_tile(gpu, GgmlType::Q4_0, 52, ops::Epilogue::SiluGate).await
}

/// Prefill's grouped tile kernel (x read as a uniform per 8 tokens) for
/// every weight type, with each token's x shared by subgroups where the
/// adapter has them and loaded by every lane.
async fn tile_group_every_type(gpu: &Gpu) -> Result<()> {
    for gpu in [gpu.clone(), gpu.clone().without_x_subgroup()] {
        for (i, ty) in EVERY_TYPE.into_iter().enumerate() {
            run_batch(&gpu, ty, 70 + i as u64, ops::Epilogue::Store, Batch::Group).await?;
        }
    }
    Ok(())
}

/// The grouped tile kernel's residual add and gated pairs, both ways x
/// reaches its lanes.
async fn tile_group_epilogues(gpu: &Gpu) -> Result<()> {
    let g = Batch::Group;
    for gpu in [gpu.clone(), gpu.clone().without_x_subgroup()] {
        run_batch(&gpu, GgmlType::Q4_1, 80, ops::Epilogue::Accumulate, g).await?;
        run_batch(&gpu, GgmlType::Q4_1, 81, ops::Epilogue::SiluGate, g).await?;
        run_batch(&gpu, GgmlType::Q4_K, 82, ops::Epilogue::GeluGate, g).await?;
    }
    Ok(())
}

/// The GPU kernel's SiLU-gated epilogue (gate/up pairs reduced in one
/// workgroup).
async fn generic_silu_gate(gpu: &Gpu) -> Result<()> {
    let g = Batch::Generic;
    run_batch(gpu, GgmlType::Q4_1, 53, ops::Epilogue::SiluGate, g).await?;
    run_batch(gpu, GgmlType::F16, 54, ops::Epilogue::SiluGate, g).await
}

/// Gemma's GELU-gated pairs through the decode, tile and GPU kernels.
async fn gelu_gate_every_kernel(gpu: &Gpu) -> Result<()> {
    let e = ops::Epilogue::GeluGate;
    run_matvec(gpu, GgmlType::Q8_0, 60, e).await?;
    run_matvec(gpu, GgmlType::Q5_0, 61, e).await?;
    run_tile(gpu, GgmlType::Q8_0, 62, e).await?;
    run_tile(gpu, GgmlType::Q4_K, 63, e).await?;
    run_batch(gpu, GgmlType::Q5_0, 64, e, Batch::Generic).await
}

/// The weight-reading kernels with their matrix in a storage buffer, a
/// sampled texture and a storage texture, whichever the adapter would pick,
/// for every weight type: the three preludes (`weights_buffer.wgsl`,
/// `weights_texture.wgsl`, `weights_storage.wgsl`) must give the same
/// products.
async fn weights_in_buffers_and_textures(gpu: &Gpu) -> Result<()> {
    let e = ops::Epilogue::Store;
    for store in [Store::Buffer, Store::Texture, Store::StorageTexture] {
        for (i, ty) in EVERY_TYPE.into_iter().enumerate() {
            let seed = 90 + i as u64;
            run_matvec_in(gpu, store, ty, seed, e).await?;
            run_batch_in(gpu, store, ty, seed, e, Batch::Group).await?;
        }
        run_matvec_in(gpu, store, GgmlType::Q4_1, 98, ops::Epilogue::SiluGate).await?;
        run_batch_in(gpu, store, GgmlType::Q4_K, 99, e, Batch::Tile).await?;
        run_batch_in(gpu, store, GgmlType::Q6_K, 99, e, Batch::Generic).await?;
    }
    Ok(())
}

/// The RMS norm fused into the decode kernel (`x_subgroup.wgsl` with NORM
/// = 1), for plain, accumulating and gated epilogues and three weight
/// types. Where decode does not share x through subgroups (the browser)
/// there is no fused kernel, and `matvec_normed` must say so.
async fn matvec_fused_norm(gpu: &Gpu) -> Result<()> {
    use ops::Epilogue as E;
    for (i, (ty, e)) in [
        (GgmlType::Q4_1, E::Store),
        (GgmlType::Q8_0, E::Accumulate),
        (GgmlType::Q4_K, E::SiluGate),
        (GgmlType::F32, E::GeluGate),
    ]
    .into_iter()
    .enumerate()
    {
        run_matvec_with(gpu, Store::Adapter, ty, 110 + i as u64, e, true).await?;
    }
    Ok(())
}

/// The int8 decode kernel (`matvec_q8.wgsl`) and its f32 twin
/// (`matvec_row.wgsl`) on one adapter, whichever of the two it runs by
/// default: every epilogue, with and without the fused norm, for the
/// types the int8 kernel takes (Q4_0, Q4_1, and Q8_0 through
/// `dot4I8Packed` where that is asked for, as on SwiftShader), and for a
/// type it does not (Q4_K, which must stay on the f32 kernel). The int8 results are held to W·x within
/// the quantization's bound; a wrong nibble or byte order, scale or Σx is far
/// outside it.
async fn matvec_int8_and_f32_twins(gpu: &Gpu) -> Result<()> {
    use ops::Epilogue as E;
    let int8 = gpu.clone().with_int8_dot(true).with_int8_q8_0(true);
    let f32 = gpu.clone().with_int8_dot(false);
    let cases = [
        (GgmlType::Q4_1, E::Store),
        (GgmlType::Q4_0, E::Accumulate),
        (GgmlType::Q4_0, E::SiluGate),
        (GgmlType::Q4_1, E::GeluGate),
        (GgmlType::Q8_0, E::Store),
        (GgmlType::Q8_0, E::Accumulate),
    ];
    for (i, (ty, e)) in cases.into_iter().enumerate() {
        for norm in [false, true] {
            let seed = 130 + 2 * i as u64 + norm as u64;
            run_matvec_with(&int8, Store::Adapter, ty, seed, e, norm).await?;
            run_matvec_with(&f32, Store::Adapter, ty, seed, e, norm).await?;
        }
    }
    // The int8 kernel takes the Q4 types where it is on, Q8_0 only where
    // that is asked for too; never Q4_K.
    let probe = |gpu: &Gpu, ty| {
        let file = harness::random_weight_bytes(&mut harness::rng(1), ty, 4, 256);
        harness::upload_weight(gpu, ty, &file, 4, 256).map(|(w, _)| w.x_q8(gpu))
    };
    let no_q8_0 = gpu.clone().with_int8_dot(true).with_int8_q8_0(false);
    anyhow::ensure!(
        !probe(&int8, GgmlType::Q4_K)?,
        "Q4_K went to the int8 kernel"
    );
    anyhow::ensure!(
        probe(&int8, GgmlType::Q4_1)?,
        "Q4_1 did not go to the int8 kernel"
    );
    anyhow::ensure!(
        probe(&int8, GgmlType::Q8_0)?,
        "Q8_0 did not go to the int8 kernel"
    );
    anyhow::ensure!(
        !probe(&no_q8_0, GgmlType::Q8_0)?,
        "Q8_0 went to the int8 kernel unasked"
    );
    anyhow::ensure!(
        probe(&no_q8_0, GgmlType::Q4_0)?,
        "Q4_0 left the int8 kernel"
    );
    run_matvec_with(&int8, Store::Adapter, GgmlType::Q4_K, 139, E::Store, true).await
}

/// The int8 kernel's integer products exactly: x of whole numbers in
/// [-127, 127], each block holding ±127, quantizes with d = 1 and no error,
/// so W·x must come out as the f64 reference within f32 rounding (2e-7 of
/// Σ|W·x|, where the quantization's bound would allow hundreds of times
/// more). A product pair summed or split wrongly in the 32-bit words
/// (`pair_sum`'s rounding, a byte taken as unsigned; for Q8_0 a word of
/// `dot4I8Packed` paired with the wrong x word) is off by whole units of d_w
/// in its block.
async fn int8_exact_for_integer_x(gpu: &Gpu) -> Result<()> {
    let int8 = gpu.clone().with_int8_dot(true).with_int8_q8_0(true);
    let types = [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0];
    for (i, ty) in types.into_iter().enumerate() {
        let (n_out, n_in) = (301usize, n_in_for(ty) as usize);
        let mut rng = harness::rng(150 + i as u64);
        let file = harness::random_weight_bytes(&mut rng, ty, n_out as u32, n_in as u32);
        let (w, w_cpu) = harness::upload_weight(&int8, ty, &file, n_out as u32, n_in as u32)?;
        anyhow::ensure!(w.x_q8(&int8), "{} did not go to the int8 kernel", ty.name());
        let mut x: Vec<f32> = harness::uniform(&mut rng, n_in, -127.49, 127.49)
            .into_iter()
            .map(f32::round)
            .collect();
        for (b, block) in x.chunks_mut(32).enumerate() {
            block[b % 32] = if b % 2 == 0 { 127.0 } else { -127.0 };
        }
        let xb = int8.activation("x", (n_in * 4) as u64);
        int8.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x));
        let yb = harness::upload_f32(&int8, &vec![0.0; n_out]);
        let step = harness::step_buffer(&int8);
        let d = ops::matvec_rows(&int8, &step, &w, &xb, &yb, ops::Epilogue::Store)
            .context("x fits the uniform view")?;
        harness::submit(&int8, &step, harness::step(1, 0), &[&d]);
        let y = harness::read_f32(&int8, &yb, n_out).await?;
        let (wx, mag) = matmul_ref(&w_cpu, &x, n_out, n_in, 1);
        let what = format!("int8 matvec {} on integer x", ty.name());
        harness::assert_close_each(&what, &y, &wx, |r| Tol {
            abs: 2e-7 * mag[r] + 1e-6,
            rel: 0.0,
        })?;
    }
    Ok(())
}

/// Prefill's int8 tile (`quantize_x8.wgsl`, `matmul_tile_q8.wgsl`) against
/// W·X, within the quantization's bound, for the three types it takes
/// (Q4_0, Q4_1, and Q4_K with its f32 scale planes) and
/// every epilogue, with x shared by subgroups where the adapter has them and
/// loaded by every lane, and over launches of one group and of several;
/// beside it its f32 twin, the grouped tile, on the same cases. Types it does not take are refused, not run wrong.
async fn tile_int8_and_f32_twins(gpu: &Gpu) -> Result<()> {
    use ops::Epilogue as E;
    let cases = [
        (GgmlType::Q4_1, E::Store),
        (GgmlType::Q4_0, E::Accumulate),
        (GgmlType::Q4_0, E::SiluGate),
        (GgmlType::Q4_1, E::GeluGate),
        (GgmlType::Q4_K, E::Store),
        (GgmlType::Q4_K, E::SiluGate),
    ];
    for gpu in [gpu.clone(), gpu.clone().without_x_subgroup()] {
        for (i, (ty, e)) in cases.into_iter().enumerate() {
            let seed = 160 + i as u64;
            run_batch(&gpu, ty, seed, e, Batch::Int8).await?;
            run_batch(&gpu, ty, seed, e, Batch::Int8Normed).await?;
            run_batch(&gpu, ty, seed, e, Batch::Group).await?;
        }
        // Products whose rows fill workgroups of 96 and not of 128 take 12
        // rows a lane (`ops::tile_q8_rows`): SmolLM2's 576 and 960, and 288
        // (three workgroups); 672 is neither, and keeps 16 (the last
        // workgroup cut short). Run with the 12-row form allowed whatever
        // the adapter's choice, and refused.
        for twelve in [true, false] {
            let gpu = gpu.clone().with_tile_rows12(twelve);
            for (i, n_out) in [288usize, 576, 960, 672].into_iter().enumerate() {
                let fills = n_out % 128 != 0 && n_out % 96 == 0;
                let want = if fills && twelve { 12 } else { 16 };
                let got = ops::tile_q8_rows(&gpu, n_out as u32, E::Store);
                anyhow::ensure!(got == want, "{n_out} rows: {got} a lane");
                let (e, ty) = match i % 2 {
                    0 => (E::Store, GgmlType::Q4_1),
                    _ => (E::Accumulate, GgmlType::Q4_0),
                };
                let seed = 180 + i as u64;
                run_batch_sized(
                    &gpu,
                    Store::Adapter,
                    ty,
                    seed,
                    e,
                    Batch::Int8,
                    n_out,
                    576,
                    21,
                )
                .await?;
            }
            let gated = ops::tile_q8_rows(&gpu, 576, E::SiluGate);
            anyhow::ensure!(gated == 16, "gated pairs took {gated} rows");
        }
        // The norm fused over SmolLM2's rows of 576 (18 blocks, for 8
        // lanes a token) and three 8-token groups.
        run_batch_shaped(
            &gpu,
            Store::Adapter,
            GgmlType::Q4_1,
            171,
            E::Store,
            Batch::Int8Normed,
            576,
            21,
        )
        .await?;
        // Rows of 1,536 values (SmolLM2's down product): two 8-token groups
        // a launch, so 21 tokens are a launch of two groups and one of one.
        run_batch_shaped(
            &gpu,
            Store::Adapter,
            GgmlType::Q4_1,
            170,
            E::Accumulate,
            Batch::Int8,
            1536,
            21,
        )
        .await?;
    }
    for ty in [GgmlType::Q8_0, GgmlType::Q6_K, GgmlType::F16] {
        let (n_out, n_in) = (16u32, n_in_for(ty));
        let file = harness::random_weight_bytes(&mut harness::rng(2), ty, n_out, n_in);
        let (w, _) = harness::upload_weight(gpu, ty, &file, n_out, n_in)?;
        let xb = gpu.activation("x", (GROUP_TOKENS * n_in * 4) as u64);
        let (yb, step) = (gpu.storage("y", 4096), harness::step_buffer(gpu));
        let x8 = ops::x8_scratch(gpu, n_in, GROUP_TOKENS);
        let d = ops::matmul_tile_q8(gpu, &step, &w, &xb, &x8, &yb, E::Store, GROUP_TOKENS);
        anyhow::ensure!(d.is_none(), "the int8 tile took {}", ty.name());
        anyhow::ensure!(!gpu.tile_q8(ty), "prefill would take {} in int8", ty.name());
    }
    Ok(())
}

/// The int8 tile's integer products exactly, as [`int8_exact_for_integer_x`]
/// holds decode's: 13 tokens of whole-number x in [-127, 127], each block
/// holding ±127, so d = 1 and the quantization is exact; W·X must come out
/// within f32 rounding (2e-7 of Σ|W·x|). Both ways x reaches the lanes.
async fn tile_int8_exact_for_integer_x(gpu: &Gpu) -> Result<()> {
    for gpu in [gpu.clone(), gpu.clone().without_x_subgroup()] {
        let types = [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q4_K];
        for (i, ty) in types.into_iter().enumerate() {
            let (n_out, n_in, nt) = (293usize, n_in_for(ty) as usize, 13usize);
            let mut rng = harness::rng(170 + i as u64);
            let file = harness::random_weight_bytes(&mut rng, ty, n_out as u32, n_in as u32);
            let (w, w_cpu) = harness::upload_weight(&gpu, ty, &file, n_out as u32, n_in as u32)?;
            let mut x: Vec<f32> = harness::uniform(&mut rng, nt * n_in, -127.49, 127.49)
                .into_iter()
                .map(f32::round)
                .collect();
            for (b, block) in x.chunks_mut(32).enumerate() {
                block[b % 32] = if b % 2 == 0 { 127.0 } else { -127.0 };
            }
            let xb = gpu.activation("x", (GROUP_TOKENS as usize * n_in * 4) as u64);
            gpu.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x));
            let yb = harness::upload_f32(&gpu, &vec![0.0; nt * n_out]);
            let step = harness::step_buffer(&gpu);
            let x8 = ops::x8_scratch(&gpu, n_in as u32, GROUP_TOKENS);
            let e = ops::Epilogue::Store;
            let ds = ops::matmul_tile_q8(&gpu, &step, &w, &xb, &x8, &yb, e, GROUP_TOKENS)
                .context("the int8 tile took a 4-bit type")?;
            harness::submit(&gpu, &step, harness::step(nt as u32, 0), &[&ds[0], &ds[1]]);
            let y = harness::read_f32(&gpu, &yb, nt * n_out).await?;
            let (wx, mag) = matmul_ref(&w_cpu, &x, n_out, n_in, nt);
            let what = format!("int8 tile {} on integer x", ty.name());
            harness::assert_close_each(&what, &y, &wx, |i| Tol {
                abs: 2e-7 * mag[i] + 1e-6,
                rel: 0.0,
            })?;
        }
    }
    Ok(())
}

/// A matrix split by rows (the embedding table as the output head): each
/// part writes its rows of a wider y, at its first row, for every token.
/// Parts of 37 and 33 rows, 13 tokens; y's other values must not change.
async fn parts_write_their_rows(gpu: &Gpu) -> Result<()> {
    let ty = GgmlType::Q8_0;
    let (rows, n_in, nt) = ([37usize, 33], n_in_for(ty) as usize, 13usize);
    let vocab = rows[0] + rows[1];
    let mut rng = harness::rng(65);
    let mut parts = Vec::new();
    for &r in &rows {
        let file = harness::random_weight_bytes(&mut rng, ty, r as u32, n_in as u32);
        parts.push(harness::upload_weight(
            gpu,
            ty,
            &file,
            r as u32,
            n_in as u32,
        )?);
    }
    let w_all: Vec<f32> = parts
        .iter()
        .flat_map(|(_, cpu)| cpu.iter().copied())
        .collect();
    let x = harness::uniform(&mut rng, nt * n_in, -1.0, 1.0);
    let (wx, mag) = matmul_ref(&w_all, &x, vocab, n_in, nt);
    let step = harness::step_buffer(gpu);
    let first = [0u32, rows[0] as u32];
    for kernel in ["matmul_batch", "matmul_tile_group", "matmul", "matvec"] {
        let y0 = harness::uniform(&mut rng, nt * vocab + 5, -1.0, 1.0);
        let yb = harness::upload_f32(gpu, &y0);
        let (xb, one_row) = match kernel {
            "matvec" | "matmul_tile_group" => {
                let xb = gpu.activation("x", (x.len() * 4) as u64);
                gpu.queue.write_buffer(&xb, 0, bytemuck::cast_slice(&x));
                (xb, kernel == "matvec")
            }
            _ => (harness::upload_f32(gpu, &x), false),
        };
        let e = ops::Epilogue::Store;
        let ds: Vec<ops::Dispatch> = parts
            .iter()
            .zip(first)
            .map(|((w, _), f)| {
                let p = ops::MatmulParams::new(w, one_row, e).at(f, vocab as u32);
                match kernel {
                    // On CPU adapters x in storage takes the tile kernel,
                    // x in an activation buffer the grouped one.
                    "matmul_batch" | "matmul_tile_group" => {
                        ops::matmul_batch_params(gpu, &step, w, &xb, &yb, e, p, nt as u32)
                    }
                    "matmul" => ops::matmul_params(gpu, &step, w, &xb, &yb, e, p),
                    _ => ops::matvec_params(gpu, &step, w, &xb, &yb, e, p),
                }
            })
            .collect();
        let refs: Vec<&ops::Dispatch> = ds.iter().collect();
        harness::submit(gpu, &step, harness::step(nt as u32, 0), &refs);
        let y = harness::read_f32(gpu, &yb, y0.len()).await?;
        let tokens = if one_row { 1 } else { nt };
        let mut reference = harness::widen(&y0);
        reference[..tokens * vocab].copy_from_slice(&wx[..tokens * vocab]);
        let what = format!("{kernel} in two parts ({rows:?} rows, {n_in}) x {tokens}");
        // The decode kernel may take x in int8 (both parts alike).
        let q8 = kernel == "matvec" && parts[0].0.x_q8(gpu);
        let quant = |r: usize| match q8 {
            true => q8_error(&w_all[r * n_in..(r + 1) * n_in], &x[..n_in]),
            false => 0.0,
        };
        harness::assert_close_each(&what, &y, &reference, |i| match i < tokens * vocab {
            true => Tol {
                abs: 1e-5 * mag[i] + quant(i % vocab) + 1e-6,
                rel: 0.0,
            },
            false => Tol::EXACT,
        })?;
    }
    Ok(())
}
