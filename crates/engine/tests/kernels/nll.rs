//! `nll.wgsl` against logsumexp(logits[t]) − logits[t, target[t]] in f64.
//!
//! Tolerance: |gpu − ref| ≤ 1e-5 · |ref| + 1e-4: an f32 sum of 999 exps, a
//! log, and the cancellation of logits up to ±90 (an ulp there is 8e-6).

use anyhow::Result;
use locum_engine::{ops, Gpu};
use rand::Rng;

use crate::harness::{self, gpu_tests, Tol};

gpu_tests!(rows_with_large_logits);

fn nll_ref(logits: &[f32], target: u32, vocab: usize) -> f64 {
    let m = logits.iter().fold(f64::MIN, |m, &v| m.max(v as f64));
    let lse = m + logits
        .iter()
        .map(|&v| (v as f64 - m).exp())
        .sum::<f64>()
        .ln();
    lse - logits[(target as usize).min(vocab - 1)] as f64
}

/// 6 rows of 999 logits in [-4, 4) shifted per row by up to +80, where e^x
/// overflows f32 without the max pass; one target past the vocabulary
/// (clamped by the kernel to the last id) and one at the row's argmax.
async fn rows_with_large_logits(gpu: &Gpu) -> Result<()> {
    let (n_tokens, vocab) = (6usize, 999usize);
    let mut rng = harness::rng(61);
    let mut logits = harness::uniform(&mut rng, n_tokens * vocab, -4.0, 4.0);
    for (t, row) in logits.chunks_mut(vocab).enumerate() {
        let shift = [0.0, 80.0, -30.0, 5.0, 80.0, 0.0][t];
        row.iter_mut().for_each(|v| *v += shift);
    }
    let mut targets: Vec<u32> = (0..n_tokens)
        .map(|_| rng.gen_range(0..vocab as u32))
        .collect();
    targets[2] = vocab as u32 + 7;
    let row3 = &logits[3 * vocab..4 * vocab];
    targets[3] = (0..vocab).fold(0, |b, i| if row3[i] > row3[b] { i } else { b }) as u32;

    let step = harness::step_buffer(gpu);
    let (lb, tb) = (
        harness::upload_f32(gpu, &logits),
        harness::upload_u32(gpu, &targets),
    );
    let out = gpu.storage("nll", (n_tokens * 4) as u64);
    let d = ops::nll(gpu, &step, vocab as u32, &lb, &tb, &out);
    harness::submit(gpu, &step, harness::step(n_tokens as u32, 0), &[&d]);
    let got = harness::read_f32(gpu, &out, n_tokens).await?;
    let reference: Vec<f64> = (0..n_tokens)
        .map(|t| nll_ref(&logits[t * vocab..(t + 1) * vocab], targets[t], vocab))
        .collect();
    harness::assert_close(
        "nll (6, 999)",
        &got,
        &reference,
        Tol {
            abs: 1e-4,
            rel: 1e-5,
        },
    )
}
