//! The page's load leaves the pipelines only prefill runs (the tiles, row
//! attention, x's quantization) to compile after the model is ready
//! (`Gpu::prefill_pipelines_late`, here asked for with
//! `LOCUM_LATE_PIPELINES=1`): the warm-up's one-token pass runs without
//! them, the first prompt of two tokens or more compiles them
//! (`Model::compile_late`, from the batch pass), and the tokens are those
//! of a model that compiled everything at load; so are the greedy rows of
//! a check of drafted tokens, whose head compiles late with them.
//!
//! Needs the default model (`cargo xtask setup`, or LOCUM_TEST_MODEL).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use anyhow::{ensure, Result};
use locum_engine::{GgufModel, Gpu, Model, Sampling, Tokenizer};

use common::model_bytes;

const STEPS: usize = 8;

/// The prompt's next token then `STEPS` more, greedy, after a warm-up pass
/// over its first token alone (as the page's load runs).
fn answer(model: &mut Model, prompt: &[u32]) -> Result<Vec<u32>> {
    pollster::block_on(model.prefill(&prompt[..1]))?;
    model.reset();
    model.set_sampling(Sampling::greedy());
    let mut out = vec![pollster::block_on(model.prefill(prompt))?];
    for _ in 0..STEPS {
        out.push(pollster::block_on(model.decode())?);
    }
    Ok(out)
}

#[test]
fn prefill_pipelines_compiled_late_give_the_same_tokens() -> Result<()> {
    let bytes = model_bytes()?;
    let file = GgufModel::parse(&bytes)?;
    let prompt =
        Tokenizer::from_gguf(&file.gguf)?.encode("The patient is a 64-year-old man with")?;
    let ctx = (prompt.len() + STEPS + 4) as u32;

    // The only test of this binary: the variable is read by `Model::load`.
    std::env::set_var("LOCUM_LATE_PIPELINES", "0");
    let gpu = pollster::block_on(Gpu::new())?;
    let mut all = Model::load(&gpu, &file, ctx)?;
    ensure!(
        !all.has_late_pipelines(),
        "a model that compiled everything left some"
    );
    let want = answer(&mut all, &prompt)?;
    let want_rows = pollster::block_on(all.check(&want[STEPS - 2..]))?;
    drop(all);

    std::env::set_var("LOCUM_LATE_PIPELINES", "1");
    let gpu = pollster::block_on(Gpu::new())?;
    let mut late = Model::load(&gpu, &file, ctx)?;
    ensure!(late.has_late_pipelines(), "no pipeline was left for later");
    // The warm-up: one token, through decode's kernels, leaves them waiting.
    pollster::block_on(late.prefill(&prompt[..1]))?;
    ensure!(
        late.has_late_pipelines(),
        "a one-token pass compiled the prefill pipelines"
    );
    let got = answer(&mut late, &prompt)?;
    ensure!(
        !late.has_late_pipelines(),
        "the prompt ran without compiling them"
    );
    ensure!(
        got == want,
        "late pipelines gave {got:?}, all at load {want:?}"
    );
    // A check of drafted tokens (prompt lookup), whose head the late
    // model built at load and compiled with the prefill pipelines, gives
    // the same rows.
    let rows = pollster::block_on(late.check(&got[STEPS - 2..]))?;
    ensure!(
        rows == want_rows,
        "the check gave {rows:?}, all at load {want_rows:?}"
    );
    // Asking again compiles nothing.
    ensure!(
        !late.compile_late(),
        "compile_late found pipelines left after the prompt"
    );
    Ok(())
}
