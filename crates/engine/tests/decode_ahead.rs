//! Pipelined decode (`Model::decode_ahead`: each step submitted before the
//! token of the one before is read back) gives the tokens plain decode
//! gives, on the real model: greedy, and sampled at temperature 0.8 with a
//! stop in the middle (`Model::settle` drops the step submitted ahead,
//! taking back its position and its draw of the random stream), then a
//! plain decode after pipelined ones. CPU adapters do not pipeline by
//! default (`Gpu::decode_ahead`); the test asks for it.
//!
//! Needs the default model (`cargo xtask setup`, or LOCUM_TEST_MODEL).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use anyhow::{ensure, Result};
use locum_engine::{GgufModel, Gpu, Model, Sampling, Tokenizer};

use common::model_bytes;

const STEPS: usize = 12;

/// The prompt's next token then `STEPS` more from `model`, reset first,
/// decoding plainly or ahead, with a settle (as a caller that stops and
/// goes on) after `settle_after` tokens.
fn tokens(
    model: &mut Model,
    prompt: &[u32],
    sampling: Sampling,
    ahead: bool,
    settle_after: Option<usize>,
) -> Result<(Vec<u32>, u32)> {
    model.reset();
    model.set_sampling(sampling);
    let mut out = vec![pollster::block_on(model.prefill(prompt))?];
    for i in 0..STEPS {
        if settle_after == Some(i) {
            model.settle();
        }
        out.push(match ahead {
            true => pollster::block_on(model.decode_ahead())?,
            false => pollster::block_on(model.decode())?,
        });
    }
    Ok((out, model.pos()))
}

#[test]
fn decode_ahead_gives_plain_decodes_tokens() -> Result<()> {
    let bytes = model_bytes()?;
    let file = GgufModel::parse(&bytes)?;
    let prompt =
        Tokenizer::from_gguf(&file.gguf)?.encode("The patient is a 64-year-old man with")?;
    let gpu = pollster::block_on(Gpu::new())?.with_decode_ahead(true);
    ensure!(gpu.decode_ahead(), "the device refused to pipeline decode");
    let mut model = Model::load(&gpu, &file, (prompt.len() + STEPS + 4) as u32)?;

    let greedy = Sampling::greedy();
    let (plain, plain_pos) = tokens(&mut model, &prompt, greedy, false, None)?;
    let (ahead, ahead_pos) = tokens(&mut model, &prompt, greedy, true, None)?;
    ensure!(plain == ahead, "greedy: plain {plain:?}, ahead {ahead:?}");
    ensure!(
        plain_pos == ahead_pos && plain_pos as usize == prompt.len() + STEPS,
        "positions after decoding: plain {plain_pos}, ahead {ahead_pos}"
    );

    let sampled = Sampling {
        temperature: 0.8,
        top_k: 40,
        top_p: 0.95,
        seed: 7,
    };
    let (plain, _) = tokens(&mut model, &prompt, sampled, false, None)?;
    let (ahead, ahead_pos) = tokens(&mut model, &prompt, sampled, true, Some(STEPS / 2))?;
    ensure!(
        plain == ahead,
        "sampled, a stop after {} tokens: plain {plain:?}, ahead {ahead:?}",
        STEPS / 2
    );
    ensure!(
        ahead_pos as usize == prompt.len() + STEPS,
        "position after pipelined decoding: {ahead_pos}"
    );
    // A plain step after pipelined ones takes the place of the step
    // submitted ahead, not the one after it.
    let next_plain = pollster::block_on(model.decode())?;
    let (longer, _) = {
        model.reset();
        model.set_sampling(sampled);
        let mut out = vec![pollster::block_on(model.prefill(&prompt))?];
        for _ in 0..=STEPS {
            out.push(pollster::block_on(model.decode())?);
        }
        (out, ())
    };
    ensure!(
        longer[..=STEPS] == plain[..] && longer[STEPS + 1] == next_plain,
        "a plain decode after pipelined ones gave {next_plain}, not {}",
        longer[STEPS + 1]
    );
    Ok(())
}
