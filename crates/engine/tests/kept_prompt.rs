//! A prompt's start that the KV cache already holds from the prompt before
//! is not read again (`Model::reset_keeping`, `Session::generate`): the
//! tokens kept are exactly the longest common start of the two prompts
//! that a prefill wrote, never a position a decode step or another prompt
//! wrote over since, and the answer is token for token the one the whole
//! prompt's prefill gives. A prompt stopped during its reading keeps the
//! batches it read. On the real model.
//!
//! Needs the default model (`cargo xtask setup`, or LOCUM_TEST_MODEL).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::cell::Cell;

use anyhow::{ensure, Result};
use locum_engine::{Control, GenStats, Sampling, Session};

use common::load_session;

const STEPS: usize = 8;

fn answer(session: &mut Session, prompt: &[u32]) -> Result<(Vec<u32>, GenStats)> {
    let stats = pollster::block_on(session.generate(prompt, STEPS, Sampling::greedy(), |_| true))?;
    Ok((stats.tokens.clone(), stats))
}

/// Stops the prompt's reading at its first report (after one batch).
struct StopAtFirstReport {
    read: Cell<usize>,
}

impl Control for StopAtFirstReport {
    fn stop(&self) -> bool {
        self.read.get() > 0
    }
    fn prompt_read(&self, done: usize, _total: usize) {
        self.read.set(done);
    }
}

#[test]
fn a_kept_prompt_start_gives_the_whole_prompts_answer() -> Result<()> {
    let (_gpu, mut session) = load_session(512)?;
    let text = |t: &str| session.tokenizer.encode(t);
    let case = text(
        "A 64-year-old man has had central chest pain for two hours, radiating to the left \
         arm, with sweating and nausea. He smokes and has diabetes. His troponin rose from \
         0.08 to 0.46 ng/mL over three hours, and the ECG shows ST depression in V4 to V6. \
         The most likely diagnosis is",
    )?;
    let other =
        text("A 24-year-old woman has fever, headache and neck stiffness. The most likely")?;
    ensure!(case.len() > 60, "the case is {} tokens", case.len());

    // The reference: the case from an empty cache.
    let (reference, first) = answer(&mut session, &case)?;
    ensure!(
        first.reused_tokens == 0,
        "kept {} from nothing",
        first.reused_tokens
    );

    // Another prompt sharing the case's first 40 tokens, then the case:
    // 40 kept, the same answer.
    let mut shared: Vec<u32> = case[..40].to_vec();
    shared.extend_from_slice(&other[1..]);
    answer(&mut session, &shared)?;
    let (tokens, stats) = answer(&mut session, &case)?;
    ensure!(
        stats.reused_tokens == 40,
        "kept {}, not 40",
        stats.reused_tokens
    );
    ensure!(
        stats.prompt_tokens == case.len() - 40,
        "read {}",
        stats.prompt_tokens
    );
    ensure!(
        tokens == reference,
        "after a shared start: {tokens:?}, not {reference:?}"
    );

    // The same case again: all but its last two tokens kept.
    let (tokens, stats) = answer(&mut session, &case)?;
    ensure!(
        stats.reused_tokens == case.len() - 2,
        "kept {} of {}",
        stats.reused_tokens,
        case.len()
    );
    ensure!(tokens == reference, "asked again: {tokens:?}");

    // Decode steps written at positions 30.. cut what is kept there.
    session.model.rewind(30);
    for _ in 0..4 {
        pollster::block_on(session.model.decode())?;
    }
    let (tokens, stats) = answer(&mut session, &case)?;
    ensure!(
        stats.reused_tokens == 30,
        "kept {} past decode steps at 30",
        stats.reused_tokens
    );
    ensure!(tokens == reference, "after decode steps: {tokens:?}");

    // A long prompt stopped after its first batch keeps that batch.
    let mut long = case.clone();
    while long.len() < 150 {
        long.extend_from_slice(&case[1..]);
    }
    let (long_reference, _) = answer(&mut session, &long)?;
    answer(&mut session, &other)?;
    let stopper = StopAtFirstReport { read: Cell::new(0) };
    session.model.set_sampling(Sampling::greedy());
    let kept = session.model.reset_keeping(&long);
    let stopped =
        pollster::block_on(session.continue_until(&long[kept..], STEPS, None, &stopper, |_| true))?;
    ensure!(stopped.stop_reason == "stopped" && stopper.read.get() == 64);
    let (tokens, stats) = answer(&mut session, &long)?;
    ensure!(
        stats.reused_tokens == kept + 64,
        "kept {} after a stop at {} (+{kept})",
        stats.reused_tokens,
        stopper.read.get()
    );
    ensure!(tokens == long_reference, "after a stop: {tokens:?}");
    Ok(())
}
