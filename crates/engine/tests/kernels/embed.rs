//! `embed.wgsl` against a row lookup in the CPU dequantization of the same
//! random file-layout table, for every weight type.
//!
//! Tolerance: |gpu − ref| ≤ 1e-6 · |ref| + 1e-7. Each value is one decode
//! (q·d + m) and one multiply by the scale; a GPU may fuse them into an FMA
//! where the CPU rounds twice, a difference of an ulp or two.

use anyhow::Result;
use locum_engine::{ops, GgmlType, Gpu};
use rand::Rng;

use crate::harness::{self, gpu_tests, Tol};

gpu_tests!(
    f32_table,
    f16_table,
    q4_0_table,
    q4_1_table,
    q8_0_table,
    table_in_parts
);

async fn run(gpu: &Gpu, ty: GgmlType, seed: u64) -> Result<()> {
    // 29 rows of 160 values (5 blocks, fewer than the 64 threads); 11 tokens.
    let (vocab, dim, n_tokens) = (29u32, 160u32, 11usize);
    let scale = 0.7f32;
    let mut rng = harness::rng(seed);
    let file = harness::random_weight_bytes(&mut rng, ty, vocab, dim);
    let (table, table_cpu) = harness::upload_weight(gpu, ty, &file, vocab, dim)?;
    let mut tokens: Vec<u32> = (0..n_tokens).map(|_| rng.gen_range(0..vocab)).collect();
    // A repeated token, the last row, and an id past the table, which the
    // kernel clamps to the last row.
    tokens[3] = tokens[1];
    tokens[5] = vocab - 1;
    tokens[8] = vocab + 1000;

    let step = harness::step_buffer(gpu);
    let tb = harness::upload_u32(gpu, &tokens);
    let x = gpu.storage("x", (n_tokens * dim as usize * 4) as u64);
    let d = ops::embed(gpu, &step, &table, &tb, &x, scale);
    harness::submit(gpu, &step, harness::step(n_tokens as u32, 0), &[&d]);
    let got = harness::read_f32(gpu, &x, n_tokens * dim as usize).await?;

    let dim = dim as usize;
    let reference: Vec<f64> = tokens
        .iter()
        .flat_map(|&t| {
            let row = t.min(vocab - 1) as usize;
            table_cpu[row * dim..(row + 1) * dim]
                .iter()
                .map(|&v| v as f64 * scale as f64)
        })
        .collect();
    let what = format!(
        "embed {} table ({vocab}, {dim}), {n_tokens} tokens",
        ty.name()
    );
    harness::assert_close(
        &what,
        &got,
        &reference,
        Tol {
            abs: 1e-7,
            rel: 1e-6,
        },
    )
}

async fn f32_table(gpu: &Gpu) -> Result<()> {
    run(gpu, GgmlType::F32, 11).await
}

async fn f16_table(gpu: &Gpu) -> Result<()> {
    run(gpu, GgmlType::F16, 12).await
}

async fn q4_0_table(gpu: &Gpu) -> Result<()> {
    run(gpu, GgmlType::Q4_0, 13).await
}

async fn q4_1_table(gpu: &Gpu) -> Result<()> {
    run(gpu, GgmlType::Q4_1, 14).await
}

async fn q8_0_table(gpu: &Gpu) -> Result<()> {
    run(gpu, GgmlType::Q8_0, 15).await
}

/// A table split by rows into parts of 16 and 13 (Gemma's 262,144-row
/// table is larger than one binding): one launch per part, each writing
/// the tokens whose row it holds; ids past the table clamp in the last.
async fn table_in_parts(gpu: &Gpu) -> Result<()> {
    let ty = GgmlType::Q8_0;
    let (rows, dim, n_tokens) = ([16u32, 13], 160u32, 11usize);
    let vocab = rows[0] + rows[1];
    let scale = 1.3f32;
    let mut rng = harness::rng(67);
    let mut parts = Vec::new();
    for &r in &rows {
        let file = harness::random_weight_bytes(&mut rng, ty, r, dim);
        parts.push(harness::upload_weight(gpu, ty, &file, r, dim)?);
    }
    let table_cpu: Vec<f32> = parts.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let mut tokens: Vec<u32> = (0..n_tokens).map(|_| rng.gen_range(0..vocab)).collect();
    tokens[0] = 15; // last row of part 0
    tokens[1] = 16; // first row of part 1
    tokens[2] = vocab + 7; // past the table
    let step = harness::step_buffer(gpu);
    let tb = harness::upload_u32(gpu, &tokens);
    let x = gpu.storage("x", (n_tokens * dim as usize * 4) as u64);
    let d0 = ops::embed_part(gpu, &step, &parts[0].0, 0, false, &tb, &x, scale);
    let d1 = ops::embed_part(gpu, &step, &parts[1].0, rows[0], true, &tb, &x, scale);
    harness::submit(gpu, &step, harness::step(n_tokens as u32, 0), &[&d0, &d1]);
    let got = harness::read_f32(gpu, &x, n_tokens * dim as usize).await?;
    let dim = dim as usize;
    let reference: Vec<f64> = tokens
        .iter()
        .flat_map(|&t| {
            let row = t.min(vocab - 1) as usize;
            table_cpu[row * dim..(row + 1) * dim]
                .iter()
                .map(|&v| v as f64 * scale as f64)
        })
        .collect();
    harness::assert_close(
        "embed Q8_0 in parts of 16 and 13 rows",
        &got,
        &reference,
        Tol {
            abs: 1e-7,
            rel: 1e-6,
        },
    )
}
