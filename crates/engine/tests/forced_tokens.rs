//! Tokens a constraint forces (`TokenConstraint::forced`) are fed in one
//! batch with the sampled token before them, not a sampling step each
//! (`Session::continue_until`). On the real model, a constraint that forces
//! runs of a script's tokens between free ones gives the same tokens as the
//! same constraint sampling every token (its mask then allows only the
//! script's token where it would force it): so the batches leave the KV
//! cache and positions as single steps do, and the tokens sampled after
//! them are the ones plain decoding samples. Also: the forced tokens are
//! counted, the cap cuts a forced run, and a phase that ends inside a
//! forced run reports those tokens as not yet fed.
//!
//! Needs the default model (`cargo xtask setup`, or LOCUM_TEST_MODEL).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use anyhow::{ensure, Context, Result};
use locum_engine::{GenStats, Sampling, Session};

use common::{greedy_within, load_session, Script};

/// Out of every `PERIOD` positions, the first `FREE` are the model's (any
/// token allowed), the rest the script's.
const PERIOD: usize = 7;
const FREE: usize = 2;
/// Logits within this of the best count as the greedy choice.
const TIE: f32 = 1.0;

/// The constrained phase without prompt lookup (which drafts past forced
/// runs: `lookup_decoding.rs` tests it under the same constraint).
fn run(session: &mut Session, prompt: &[u32], c: &mut Script, cap: usize) -> Result<GenStats> {
    session.lookup = false;
    session.model.reset();
    session.model.set_sampling(Sampling::greedy());
    c.taken.clear();
    let stats =
        pollster::block_on(session.continue_until(prompt, cap, Some(c), &|| false, |_| true))?;
    Ok(stats)
}

#[test]
fn forced_tokens_fed_in_batches_give_what_sampling_them_gives() -> Result<()> {
    let (_gpu, mut session) = load_session(256)?;
    let prompt = session
        .tokenizer
        .encode("A 64-year-old man with chest pain. Assessment in JSON:")?;
    let script = session.tokenizer.encode_piece(
        " {\"diagnosis\": \"acute coronary syndrome\", \"likelihood\": \"high\", \
         \"supporting\": [\"chest pain\", \"raised troponin\"], \"cant_miss\": true}",
    )?;
    let vocab = session.model.cfg.vocab as usize;
    let scripted = |force| Script {
        period: PERIOD,
        free: FREE,
        script: script.clone(),
        banned: Vec::new(),
        force,
        vocab,
        taken: Vec::new(),
    };

    let (mut forced, mut sampled) = (scripted(true), scripted(false));
    let a = run(&mut session, &prompt, &mut forced, 1000)?;
    let pos_a = session.model.pos() as usize;
    let b = run(&mut session, &prompt, &mut sampled, 1000)?;
    let pos_b = session.model.pos() as usize;
    // Each free token is the model's greedy choice after what came before
    // it, taken from one batch over the whole history: the best logit, or
    // within TIE of it (the batch and decode kernels round differently).
    for (name, taken) in [
        ("forced in batches", &forced.taken),
        ("sampled", &sampled.taken),
    ] {
        let worst = greedy_within(
            &mut session,
            &prompt,
            taken,
            |at| forced.free(at),
            |_, _| true,
            TIE,
        )
        .context(name)?;
        eprintln!("{name}: free tokens at most {worst:.3} below the best logit");
    }
    ensure!(a.stop_reason == "complete" && b.stop_reason == "complete");
    ensure!(a.generated_tokens == script.len() && a.tokens == forced.taken);
    // Every script position is forced: each run follows a sampled token.
    let scripted_positions = (0..script.len()).filter(|&i| i % PERIOD >= FREE).count();
    ensure!(
        a.forced_tokens == scripted_positions && b.forced_tokens == 0,
        "forced {} and {}, of {scripted_positions} script positions",
        a.forced_tokens,
        b.forced_tokens
    );
    // Both stop with their last tokens unfed: one sampled token, or the
    // forced run it ended in.
    ensure!(
        pos_a + a.unfed == prompt.len() + script.len()
            && pos_b + b.unfed == prompt.len() + script.len()
            && b.unfed == 1,
        "positions {pos_a} + {} and {pos_b} + {} unfed, for {} + {}",
        a.unfed,
        b.unfed,
        prompt.len(),
        script.len()
    );

    // A cap in the middle of a forced run cuts it there.
    let cap = PERIOD + FREE + 2;
    let mut forced = scripted(true);
    let c = run(&mut session, &prompt, &mut forced, cap)?;
    ensure!(
        c.generated_tokens == cap && forced.taken[..] == sampled.taken[..cap],
        "capped at {cap}: {:?}",
        forced.taken
    );
    ensure!(c.stop_reason == "max_tokens", "{}", c.stop_reason);
    Ok(())
}
