//! `rms_norm.wgsl` against y = x / √(mean(x²) + eps) · w in f64.
//!
//! Tolerance: |gpu − ref| ≤ 1e-5 · |ref| + 1e-6: an f32 sum of 300 squares
//! and a square root, both within a few ulps.

use anyhow::{ensure, Result};
use locum_engine::ops::{self, Dispatch};
use locum_engine::Gpu;

use crate::harness::{self, gpu_tests, Tol};

gpu_tests!(
    every_row,
    last_row_only,
    add_into_residual,
    head_norm_in_place,
    compiled_together
);

const EPS: f32 = 1e-5;
const TOL: Tol = Tol {
    abs: 1e-6,
    rel: 1e-5,
};

/// Row `t` of x (·, dim) normed and weighted, in f64.
fn rms_norm_ref(x: &[f32], w: &[f32], t: usize, dim: usize) -> Vec<f64> {
    let row = &x[t * dim..(t + 1) * dim];
    let ms = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / dim as f64;
    let inv = 1.0 / (ms + EPS as f64).sqrt();
    row.iter()
        .zip(w)
        .map(|(&v, &w)| v as f64 * inv * w as f64)
        .collect()
}

/// x (n_tokens, dim) with each row at its own scale, from 0.01 to 10, so
/// that eps matters for the small ones; weights around 1.
fn inputs(seed: u64, n_tokens: usize, dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = harness::rng(seed);
    let mut x = harness::uniform(&mut rng, n_tokens * dim, -1.0, 1.0);
    for (t, row) in x.chunks_mut(dim).enumerate() {
        let s = 0.01 * 10f32.powi(t as i32 % 4);
        row.iter_mut().for_each(|v| *v *= s);
    }
    (x, harness::uniform(&mut rng, dim, 0.5, 1.5))
}

/// Rows of x and the norm's weights on the GPU, with y to write: what
/// `every_row` and the pipeline tests launch `rms_norm` on.
struct Rows {
    n_tokens: usize,
    dim: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    step: wgpu::Buffer,
    xb: wgpu::Buffer,
    wb: wgpu::Buffer,
    y: wgpu::Buffer,
}

impl Rows {
    fn new(gpu: &Gpu, seed: u64, n_tokens: usize, dim: usize) -> Rows {
        let (x, w) = inputs(seed, n_tokens, dim);
        let (xb, wb) = (harness::upload_f32(gpu, &x), harness::upload_f32(gpu, &w));
        Rows {
            n_tokens,
            dim,
            step: harness::step_buffer(gpu),
            y: gpu.storage("y", (n_tokens * dim * 4) as u64),
            x,
            w,
            xb,
            wb,
        }
    }

    /// Every row normed into y.
    fn launch(&self, gpu: &Gpu) -> Dispatch {
        let dim = self.dim as u32;
        ops::rms_norm(
            gpu, &self.step, &self.xb, &self.wb, &self.y, dim, EPS, false,
        )
    }

    /// Runs `d` and holds y to the reference.
    async fn check(&self, gpu: &Gpu, d: &Dispatch, what: &str) -> Result<()> {
        harness::submit(
            gpu,
            &self.step,
            harness::step(self.n_tokens as u32, 0),
            &[d],
        );
        let got = harness::read_f32(gpu, &self.y, self.n_tokens * self.dim).await?;
        let reference: Vec<f64> = (0..self.n_tokens)
            .flat_map(|t| rms_norm_ref(&self.x, &self.w, t, self.dim))
            .collect();
        harness::assert_close(what, &got, &reference, TOL)
    }
}

/// 5 rows of 300 values (more than the 256 threads, not a multiple).
async fn every_row(gpu: &Gpu) -> Result<()> {
    let rows = Rows::new(gpu, 21, 5, 300);
    rows.check(gpu, &rows.launch(gpu), "rms_norm (5, 300)")
        .await
}

/// `last_only`: the last of 7 rows, into y's row 0; y's row 1 untouched.
async fn last_row_only(gpu: &Gpu) -> Result<()> {
    let (n_tokens, dim) = (7usize, 300usize);
    let (x, w) = inputs(22, n_tokens, dim);
    let sentinel = harness::uniform(&mut harness::rng(23), 2 * dim, -1.0, 1.0);
    let step = harness::step_buffer(gpu);
    let (xb, wb) = (harness::upload_f32(gpu, &x), harness::upload_f32(gpu, &w));
    let y = harness::upload_f32(gpu, &sentinel);
    let d = ops::rms_norm(gpu, &step, &xb, &wb, &y, dim as u32, EPS, true);
    harness::submit(gpu, &step, harness::step(n_tokens as u32, 0), &[&d]);
    let got = harness::read_f32(gpu, &y, 2 * dim).await?;
    let mut reference = rms_norm_ref(&x, &w, n_tokens - 1, dim);
    reference.extend(harness::widen(&sentinel[dim..]));
    harness::assert_close(
        "rms_norm last_only (7, 300)",
        &got[..dim],
        &reference[..dim],
        TOL,
    )?;
    harness::assert_close(
        "rms_norm last_only, row 1 untouched",
        &got[dim..],
        &reference[dim..],
        Tol::EXACT,
    )
}

/// `rms_norm_add`: y (5, 300) += each row of x normed (Gemma's post-norms).
async fn add_into_residual(gpu: &Gpu) -> Result<()> {
    let (n_tokens, dim) = (5usize, 300usize);
    let (x, w) = inputs(24, n_tokens, dim);
    let y0 = harness::uniform(&mut harness::rng(25), n_tokens * dim, -3.0, 3.0);
    let step = harness::step_buffer(gpu);
    let (xb, wb) = (harness::upload_f32(gpu, &x), harness::upload_f32(gpu, &w));
    let y = harness::upload_f32(gpu, &y0);
    let d = ops::rms_norm_add(gpu, &step, &xb, &wb, &y, dim as u32, EPS);
    harness::submit(gpu, &step, harness::step(n_tokens as u32, 0), &[&d]);
    let got = harness::read_f32(gpu, &y, n_tokens * dim).await?;
    let reference: Vec<f64> = (0..n_tokens)
        .flat_map(|t| rms_norm_ref(&x, &w, t, dim))
        .zip(&y0)
        .map(|(n, &r)| n + r as f64)
        .collect();
    harness::assert_close("rms_norm_add (5, 300)", &got, &reference, TOL)
}

/// `head_norm.wgsl`: 3 tokens of fused rows (4 q heads, 1 k head, 1 v head
/// of 72); the k head normed by its own weights at offset 4·72; q heads and
/// v left alone by that launch.
async fn head_norm_in_place(gpu: &Gpu) -> Result<()> {
    let (n_tokens, hd, heads) = (3usize, 72usize, 6usize);
    let stride = heads * hd;
    let (y0, w) = inputs(26, n_tokens * heads, hd);
    let step = harness::step_buffer(gpu);
    let (yb, wb) = (harness::upload_f32(gpu, &y0), harness::upload_f32(gpu, &w));
    let params = ops::HeadNormParams {
        stride: stride as u32,
        offset: (4 * hd) as u32,
        n_heads: 1,
        head_dim: hd as u32,
        eps: EPS,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    let d = ops::head_norm(gpu, &step, &wb, &yb, params);
    harness::submit(gpu, &step, harness::step(n_tokens as u32, 0), &[&d]);
    let got = harness::read_f32(gpu, &yb, y0.len()).await?;
    let mut reference = harness::widen(&y0);
    for t in 0..n_tokens {
        let row = t * heads + 4; // head 4 of token t, as a row of hd
        let normed = rms_norm_ref(&y0, &w, row, hd);
        reference[row * hd..(row + 1) * hd].copy_from_slice(&normed);
    }
    harness::assert_close_each(
        "head_norm k head (3 tokens, 6 × 72)",
        &got,
        &reference,
        |i| match (i / hd) % heads == 4 {
            true => TOL,
            false => Tol::EXACT,
        },
    )
}

/// A launch built inside `Gpu::pipelines_together` (as a model's are) waits
/// for its pipeline until the end, then runs as one built outside.
async fn compiled_together(gpu: &Gpu) -> Result<()> {
    let rows = Rows::new(gpu, 27, 3, 300);
    let (d, waited) = gpu.pipelines_together(|| {
        let d = rows.launch(gpu);
        let waited = !d.ready();
        (d, waited)
    });
    // Natively each test opens its own GPU, so the pipeline is new; in the
    // browser the tests share one, which may have compiled it already.
    #[cfg(not(target_arch = "wasm32"))]
    ensure!(
        waited,
        "the pipeline was compiled inside pipelines_together"
    );
    #[cfg(target_arch = "wasm32")]
    let _ = waited;
    ensure!(
        d.ready(),
        "the launch is not ready after pipelines_together"
    );
    rows.check(gpu, &d, "rms_norm built together (3, 300)")
        .await
}

/// A build that panics inside `Gpu::pipelines_together` (caught) leaves no
/// pipeline waiting: the same kernel built afterwards runs. Natively only
/// (a panic in the browser's wasm is not caught).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn after_a_build_that_panicked() -> Result<()> {
    pollster::block_on(async {
        let gpu = harness::test_gpu().await?;
        let rows = Rows::new(&gpu, 28, 2, 300);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gpu.pipelines_together(|| {
                let _d = rows.launch(&gpu);
                panic!("a model's build failing half-way");
            })
        }));
        ensure!(panicked.is_err(), "the build did not panic");
        let d = rows.launch(&gpu);
        ensure!(
            d.ready(),
            "the pipeline still waits after the build panicked"
        );
        rows.check(&gpu, &d, "rms_norm after a panicked build")
            .await
    })
}
