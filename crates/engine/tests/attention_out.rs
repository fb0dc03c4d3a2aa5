//! Short-context decode with each layer's attention and output product in
//! one launch (`ops::attention_out`: a partial sum a KV head, added by the
//! feed-forward's launch and the next layer's Q|K|V product, the stream
//! moving between two buffers) against the same model with them apart, on
//! the real model: one launch a layer fewer, and at every step, fed the
//! same tokens, the same logits up to the int8 products' rounding. The sums
//! come in another order, which moves an activation across an int8
//! rounding step here and there: the two differ from each other about as
//! each differs from f32 candle (about 3% of the spread a step, see
//! `smollm2_vs_candle.rs`), where a lost head or a stream left in the wrong
//! buffer moves the logits by the whole spread. The kernels' own twin test
//! (`tests/kernels/attention_out.rs`) holds the launch to the two it
//! replaces value by value. Lavapipe takes it; other adapters are skipped.
//!
//! Needs the default model (`cargo xtask setup`, or LOCUM_TEST_MODEL).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use anyhow::{ensure, Result};
use locum_engine::{GgufModel, Gpu, Model, Tokenizer};

use common::model_bytes;

/// Decode steps compared, each fed the greedy token of the model apart.
const STEPS: usize = 24;

/// The largest logit difference a step may show, and the mean over the
/// steps, as fractions of the logits' spread: smollm2_vs_candle.rs's bounds
/// for the int8 decode products.
const MOST: f32 = 0.1;
const MEAN: f32 = 0.05;

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |m, (i, &x)| if x > v[m] { i } else { m })
}

#[test]
fn attention_with_its_output_product_gives_the_logits_of_the_launches_apart() -> Result<()> {
    let bytes = model_bytes()?;
    let file = GgufModel::parse(&bytes)?;
    let prompt =
        Tokenizer::from_gguf(&file.gguf)?.encode("The patient is a 64-year-old man with")?;
    let ctx = (prompt.len() + STEPS + 4) as u32;
    let gpu = pollster::block_on(Gpu::new())?;

    let mut apart = Model::load(&gpu.clone().with_attention_out(false), &file, ctx)?;
    let mut joined = Model::load(&gpu.clone().with_attention_out(true), &file, ctx)?;
    let layers = apart.cfg.n_layers as usize;
    let fewer = apart.dispatches_per_token() - joined.dispatches_per_token();
    if fewer == 0 {
        ensure!(
            !gpu.summary.name.contains("llvmpipe"),
            "lavapipe did not take attention with its output product"
        );
        eprintln!("attention with its output product: not taken on this adapter");
        return Ok(());
    }
    ensure!(
        fewer == layers - 1,
        "{fewer} launches fewer a token, not one a layer but the last ({})",
        layers - 1
    );

    // The prompt through the batch kernels (the same in both), then decode.
    let mut want = pollster::block_on(apart.logits_after(&prompt))?;
    let mut got = pollster::block_on(joined.logits_after(&prompt))?;
    let (mut errs, mut same) = (Vec::new(), 0);
    for step in 0..=STEPS {
        let (lo, hi) = want
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
            / (hi - lo);
        errs.push(err);
        let next = argmax(&want) as u32;
        same += (argmax(&got) as u32 == next) as usize;
        if step == STEPS {
            break;
        }
        want = pollster::block_on(apart.logits_after(&[next]))?;
        got = pollster::block_on(joined.logits_after(&[next]))?;
    }
    let mean = errs.iter().sum::<f32>() / errs.len() as f32;
    eprintln!(
        "attention with its output product: largest logit difference per step {errs:.4?} of the spread (mean {mean:.4}); the same top token in {same} of {}",
        STEPS + 1
    );
    ensure!(
        errs.iter().all(|&e| e <= MOST),
        "a step's logit is more than {MOST} of the spread from the launches apart: {errs:?}"
    );
    ensure!(mean <= MEAN, "the mean difference is {mean} of the spread");
    // Where the two best logits are within the noise the pick may differ.
    ensure!(
        same >= STEPS * 3 / 4,
        "the same top token in only {same} of {} steps",
        STEPS + 1
    );
    Ok(())
}
