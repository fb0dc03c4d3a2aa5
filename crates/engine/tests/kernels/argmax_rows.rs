//! `argmax_rows.wgsl` against a scan on the CPU: each row's largest logit,
//! the lowest id of equal ones (the greedy sampler's choice).

use anyhow::{ensure, Result};
use locum_engine::{ops, Gpu};
use rand::Rng;

use crate::harness::{self, gpu_tests};

gpu_tests!(rows_with_ties);

fn argmax_ref(row: &[f32]) -> u32 {
    (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b }) as u32
}

/// 8 rows of 1,003 logits (a row not a multiple of the 256 lanes): values
/// from a coarse grid, so that most rows hold ties for their largest (one
/// row's in lanes far apart, one's at the last id), a row of all-equal
/// values, and one all below -1e30. Two more rows are in the buffer than
/// the step's six tokens: they are left as they were.
async fn rows_with_ties(gpu: &Gpu) -> Result<()> {
    let (rows, n_tokens, vocab) = (8usize, 6usize, 1003usize);
    let mut rng = harness::rng(67);
    let mut logits: Vec<f32> = (0..rows * vocab)
        .map(|_| rng.gen_range(0..40) as f32 * 0.25 - 5.0)
        .collect();
    let row = |t: usize| t * vocab..(t + 1) * vocab;
    // Row 1: the maximum twice, at ids 3 and 900 (other lanes' strides).
    logits[row(1)].iter_mut().for_each(|v| *v = v.min(4.0));
    logits[vocab + 900] = 7.5;
    logits[vocab + 3] = 7.5;
    // Row 2: all equal; row 3: only the last id is largest.
    logits[row(2)].iter_mut().for_each(|v| *v = 1.0);
    logits[3 * vocab + vocab - 1] = 60.0;
    // Row 4: all far below zero.
    logits[row(4)].iter_mut().for_each(|v| *v = *v * 1e3 - 1e31);
    let step = harness::step_buffer(gpu);
    let lb = harness::upload_f32(gpu, &logits);
    let out = harness::upload_u32(gpu, &[u32::MAX; 8]);
    let d = ops::argmax_rows(gpu, &step, vocab as u32, &lb, &out);
    harness::submit(gpu, &step, harness::step(n_tokens as u32, 0), &[&d]);
    let got = harness::read_u32(gpu, &out, rows).await?;
    let mut want: Vec<u32> = (0..n_tokens).map(|t| argmax_ref(&logits[row(t)])).collect();
    want.extend([u32::MAX; 2]);
    ensure!(
        want[1] == 3 && want[2] == 0,
        "the test's ties are not where meant"
    );
    ensure!(got == want, "argmax rows: gpu {got:?}, reference {want:?}");
    Ok(())
}
