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

use anyhow::{ensure, Result};
use locum_engine::{GenStats, Sampling, Session, TokenConstraint};

use common::load_session;

/// Out of every `PERIOD` positions, the first `FREE` are the model's (any
/// token allowed), the rest the script's.
const PERIOD: usize = 7;
const FREE: usize = 2;
/// Logits within this of the best count as the greedy choice.
const TIE: f32 = 1.0;

/// A constraint over generated positions: free ones allow any token, the
/// others only the script's token there. With `force`, runs of the
/// script's positions are named by `forced`; without, they are sampled
/// under a one-token mask. Finished after `script.len()` tokens.
struct Script {
    script: Vec<u32>,
    vocab: usize,
    force: bool,
    taken: Vec<u32>,
}

impl Script {
    fn free(&self, at: usize) -> bool {
        at % PERIOD < FREE
    }
}

impl TokenConstraint for Script {
    fn mask(&mut self) -> std::result::Result<Vec<u32>, String> {
        let at = self.taken.len();
        let mut mask = vec![0u32; self.vocab.div_ceil(32)];
        if self.free(at) {
            mask.iter_mut().for_each(|w| *w = u32::MAX);
        } else {
            let t = self.script[at] as usize;
            mask[t / 32] |= 1 << (t % 32);
        }
        Ok(mask)
    }

    fn accept(&mut self, token: u32) -> std::result::Result<(), String> {
        let at = self.taken.len();
        if !self.free(at) && token != self.script[at] {
            return Err(format!(
                "token {token} at {at}, where the script has {}",
                self.script[at]
            ));
        }
        self.taken.push(token);
        Ok(())
    }

    fn is_finished(&self) -> bool {
        self.taken.len() >= self.script.len()
    }

    fn forced(&mut self) -> Vec<u32> {
        let at = self.taken.len();
        match self.force {
            true => (at..self.script.len())
                .take_while(|&i| !self.free(i))
                .map(|i| self.script[i])
                .collect(),
            false => Vec::new(),
        }
    }
}

fn run(session: &mut Session, prompt: &[u32], c: &mut Script, cap: usize) -> Result<GenStats> {
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
        script: script.clone(),
        vocab,
        force,
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
        let mut worst: f32 = 0.0;
        for at in (0..script.len()).filter(|&i| i % PERIOD < FREE) {
            let mut history = prompt.clone();
            history.extend_from_slice(&taken[..at]);
            session.model.reset();
            let l = pollster::block_on(session.model.logits_after(&history))?;
            let best = l.iter().copied().fold(f32::MIN, f32::max);
            let deficit = best - l[taken[at] as usize];
            worst = worst.max(deficit);
            ensure!(
                deficit <= TIE,
                "{name}: token {} at {at} is {deficit} below the best logit ({taken:?})",
                taken[at]
            );
        }
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
