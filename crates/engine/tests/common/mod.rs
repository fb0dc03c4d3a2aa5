//! What the real-model tests share: where the default model is, and a
//! session on it.

use std::path::PathBuf;

/// The default model: LOCUM_TEST_MODEL, else where `cargo xtask setup`
/// puts it.
pub fn model_path() -> PathBuf {
    match std::env::var_os("LOCUM_TEST_MODEL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    }
}

/// The default model's bytes, or an error naming where it should be.
#[allow(dead_code)] // not every test that shares this file reads it
pub fn model_bytes() -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    let p = model_path();
    std::fs::read(&p).with_context(|| format!("the default model is missing at {}", p.display()))
}

/// The default model on the first adapter with a KV cache of `ctx`
/// positions, for the tests that drive a `Session`.
#[allow(dead_code)] // not every test that shares this file loads a session
pub fn load_session(ctx: u32) -> anyhow::Result<(locum_engine::Gpu, locum_engine::Session)> {
    let bytes = model_bytes()?;
    let gpu = pollster::block_on(locum_engine::Gpu::new())?;
    let session = locum_engine::Session::load(&gpu, &bytes, ctx)?;
    Ok((gpu, session))
}

/// Whether each of the model's tokens in `taken` (at the positions `free`
/// picks) is its greedy choice among the tokens `allowed` there, from one
/// batch over `prompt` and the tokens before it: the best allowed logit,
/// or within `tie` of it (a batch's kernels and decode's round
/// differently, so a near-tie can tip either way). Returns the largest
/// shortfall, or an error naming the first beyond `tie`.
#[allow(dead_code)] // not every test that shares this file constrains
pub fn greedy_within(
    session: &mut locum_engine::Session,
    prompt: &[u32],
    taken: &[u32],
    free: impl Fn(usize) -> bool,
    allowed: impl Fn(usize, u32) -> bool,
    tie: f32,
) -> anyhow::Result<f32> {
    let vocab = session.model.cfg.vocab;
    let mut worst: f32 = 0.0;
    for at in (0..taken.len()).filter(|&i| free(i)) {
        let mut history = prompt.to_vec();
        history.extend_from_slice(&taken[..at]);
        session.model.reset();
        let l = pollster::block_on(session.model.logits_after(&history))?;
        let best = (0..vocab)
            .filter(|&t| allowed(at, t))
            .map(|t| l[t as usize])
            .fold(f32::MIN, f32::max);
        let deficit = best - l[taken[at] as usize];
        worst = worst.max(deficit);
        anyhow::ensure!(
            deficit <= tie,
            "token {} at {at} is {deficit} below the best allowed logit ({taken:?})",
            taken[at]
        );
    }
    Ok(worst)
}

/// A grammar in miniature, for the tests of constrained decoding: out of
/// every `period` generated positions the first `free` are the model's,
/// where any token but the `banned` ones is allowed, and the rest the
/// script's, where only its token is. With `force`, runs of the script's
/// positions are named by `forced`; without, they are sampled under a
/// one-token mask. Finished after the script's length.
#[allow(dead_code)] // not every test that shares this file constrains
pub struct Script {
    pub period: usize,
    pub free: usize,
    pub script: Vec<u32>,
    pub banned: Vec<u32>,
    pub force: bool,
    pub vocab: usize,
    /// The tokens accepted so far.
    pub taken: Vec<u32>,
}

#[allow(dead_code)]
impl Script {
    /// Whether `at` is one of the model's positions.
    pub fn free(&self, at: usize) -> bool {
        at % self.period < self.free
    }

    /// Whether `token` may go at `at`.
    pub fn allowed(&self, at: usize, token: u32) -> bool {
        match self.free(at) {
            true => !self.banned.contains(&token),
            false => token == self.script[at],
        }
    }
}

impl locum_engine::TokenConstraint for Script {
    fn mask(&mut self) -> std::result::Result<Vec<u32>, String> {
        let at = self.taken.len();
        let mut mask = vec![0u32; self.vocab.div_ceil(32)];
        for t in 0..self.vocab as u32 {
            if self.allowed(at, t) {
                mask[t as usize / 32] |= 1 << (t % 32);
            }
        }
        Ok(mask)
    }

    fn accept(&mut self, token: u32) -> std::result::Result<(), String> {
        let at = self.taken.len();
        if !self.allowed(at, token) {
            return Err(format!("token {token} is not allowed at {at}"));
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

    fn valid_prefix(&mut self, tokens: &[u32]) -> usize {
        let at = self.taken.len();
        tokens
            .iter()
            .enumerate()
            .take_while(|&(i, &t)| at + i < self.script.len() && self.allowed(at + i, t))
            .count()
    }
}
