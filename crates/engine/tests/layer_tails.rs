//! Decode's layer tails in one launch each (`ops::layer_tail`: attention,
//! the output product and the feed-forward, the launch's workgroups
//! meeting between them) on the real model: the tokens of decode with them
//! are those of decode without them (the kernels are the same sums in the
//! same order), and where their workgroups do not all meet (forced here:
//! they give up at once), decode notices, runs that step again without
//! them and goes on without them, plainly and pipelined, with the same
//! tokens. Lavapipe runs them; other adapters are skipped.
//!
//! Needs the default model (`cargo xtask setup`, or LOCUM_TEST_MODEL).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use anyhow::{ensure, Result};
use locum_engine::{GgufModel, Gpu, Model, Tokenizer};

use common::model_bytes;

const STEPS: usize = 12;

/// The prompt's next token then `STEPS` greedy ones, plainly or ahead.
fn tokens(model: &mut Model, prompt: &[u32], ahead: bool) -> Result<Vec<u32>> {
    model.reset();
    let mut out = vec![pollster::block_on(model.prefill(prompt))?];
    for _ in 0..STEPS {
        out.push(match ahead {
            true => pollster::block_on(model.decode_ahead())?,
            false => pollster::block_on(model.decode())?,
        });
    }
    Ok(out)
}

#[test]
fn layer_tails_give_the_tokens_of_layers_apart_and_fall_back_when_they_miss() -> Result<()> {
    let bytes = model_bytes()?;
    let file = GgufModel::parse(&bytes)?;
    let prompt =
        Tokenizer::from_gguf(&file.gguf)?.encode("The patient is a 64-year-old man with")?;
    let ctx = (prompt.len() + STEPS + 4) as u32;
    let gpu = pollster::block_on(Gpu::new())?.with_decode_ahead(true);

    let mut apart = Model::load(&gpu.clone().with_layer_tail(false), &file, ctx)?;
    ensure!(!apart.layer_tails(), "layer tails built where switched off");
    let want = tokens(&mut apart, &prompt, false)?;

    let mut tails = Model::load(&gpu.clone().with_layer_tail(true), &file, ctx)?;
    if !tails.layer_tails() {
        ensure!(
            !gpu.summary.name.contains("llvmpipe"),
            "lavapipe did not take the layer tails"
        );
        eprintln!("layer tails: not taken on this adapter");
        return Ok(());
    }
    for ahead in [false, true] {
        let got = tokens(&mut tails, &prompt, ahead)?;
        ensure!(got == want, "ahead {ahead}: tails {got:?}, apart {want:?}");
        ensure!(
            tails.layer_tails(),
            "a meeting failed on its own (ahead {ahead})"
        );
    }

    // Meetings that always fail: the first decode step finds out, runs
    // again apart, and the rest run apart.
    let failing = gpu.clone().with_layer_tail(true).with_meet_tries(0);
    for ahead in [false, true] {
        let mut model = Model::load(&failing, &file, ctx)?;
        ensure!(model.layer_tails(), "no layer tails to fail");
        let got = tokens(&mut model, &prompt, ahead)?;
        ensure!(
            got == want,
            "failing meetings, ahead {ahead}: {got:?}, apart {want:?}"
        );
        ensure!(
            !model.layer_tails(),
            "decode went on with failing layer tails (ahead {ahead})"
        );
    }

    // A prompt whose last chunk is one token runs decode's launches in its
    // prefill: the prompt's first token, then the second alone.
    let mut model = Model::load(&failing, &file, ctx)?;
    model.reset();
    pollster::block_on(model.prefill(&prompt[..1]))?;
    let got = pollster::block_on(model.prefill(&prompt[1..2]))?;
    apart.reset();
    pollster::block_on(apart.prefill(&prompt[..1]))?;
    let want = pollster::block_on(apart.prefill(&prompt[1..2]))?;
    ensure!(
        got == want,
        "a one-token prefill with failing meetings: {got}, apart {want}"
    );
    ensure!(
        !model.layer_tails(),
        "the one-token prefill kept failing layer tails"
    );
    Ok(())
}
