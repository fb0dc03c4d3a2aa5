//! `silu_mul.wgsl` against g = g / (1 + e^−g) · u in f64, and its GELU
//! form (Gemma), g = 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))) · u.
//!
//! Tolerance: |gpu − ref| ≤ 1e-5 · |ref| + 1e-6: one exp and a division,
//! each within a few ulps.

use anyhow::Result;
use locum_engine::{ops, Gpu};

use crate::harness::{self, gpu_tests, Tol};

gpu_tests!(gate_with_saturation, gelu_gate_with_saturation);

/// 7 tokens of 333 (2,331 values: 9 full workgroups of 256 and a partial
/// one), g in [-8, 8) plus a few values where e^−g overflows f32; an 8th row
/// past the batch must stay as it was.
async fn gate_with_saturation(gpu: &Gpu) -> Result<()> {
    run(gpu, false).await
}

/// The same inputs through the GELU gate: tanh saturates both ways.
async fn gelu_gate_with_saturation(gpu: &Gpu) -> Result<()> {
    run(gpu, true).await
}

async fn run(gpu: &Gpu, gelu: bool) -> Result<()> {
    let (n_tokens, n_ff) = (7usize, 333usize);
    let n = n_tokens * n_ff;
    let mut rng = harness::rng(51);
    let mut g = harness::uniform(&mut rng, n + n_ff, -8.0, 8.0);
    g[..5].copy_from_slice(&[-100.0, -30.0, 0.0, 30.0, 100.0]);
    let u = harness::uniform(&mut rng, n + n_ff, -2.0, 2.0);

    let step = harness::step_buffer(gpu);
    let (gb, ub) = (harness::upload_f32(gpu, &g), harness::upload_f32(gpu, &u));
    let d = ops::silu_mul(gpu, &step, &gb, &ub, n_ff as u32, gelu);
    harness::submit(gpu, &step, harness::step(n_tokens as u32, 0), &[&d]);
    let got = harness::read_f32(gpu, &gb, n + n_ff).await?;

    let reference: Vec<f64> = g
        .iter()
        .zip(&u)
        .enumerate()
        .map(|(i, (&a, &u))| {
            let a = a as f64;
            if i >= n {
                a
            } else if gelu {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * a * (1.0 + (c * (a + 0.044715 * a.powi(3))).tanh()) * u as f64
            } else {
                a / (1.0 + (-a).exp()) * u as f64
            }
        })
        .collect();
    harness::assert_close(
        if gelu {
            "gelu gate (7, 333)"
        } else {
            "silu_mul (7, 333)"
        },
        &got[..n],
        &reference[..n],
        Tol {
            abs: 1e-6,
            rel: 1e-5,
        },
    )?;
    harness::assert_close(
        "silu_mul row past the batch",
        &got[n..],
        &reference[n..],
        Tol::EXACT,
    )
}
