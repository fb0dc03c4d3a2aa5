//! `sample.wgsl` against a CPU twin of its definition: greedy is the argmax
//! (lowest id on ties), exactly; otherwise the top-k candidates, softmax at
//! the temperature in f64, the top-p prefix, and the draw from the same
//! counter-based hash (PCG) of (seed, rng_step).
//!
//! Sampling (k > 1) gathers each lane's four best tokens in one scan and
//! takes the top k from those, scanning every logit k times only where a
//! lane held more of them: `top_k_held_by_one_lane` makes one lane hold the
//! whole top 64.
//!
//! Tolerance: a sampled id must be in the top-k set and equal the twin's,
//! except where the twin's draw or top-p cut lies within 1e-5 (relative) of a
//! boundary, where the GPU's f32 softmax may fall either side; those draws
//! are counted and only the top-k membership is checked.

use anyhow::{ensure, Result};
use locum_engine::ops::{self, SampleParams, Step, MAX_TOP_K};
use locum_engine::Gpu;

use crate::harness::{self, gpu_tests};

gpu_tests!(
    greedy_is_argmax,
    top_k_1_is_argmax,
    top_k_top_p_match_the_twin,
    tiny_top_p_is_argmax,
    draw_frequencies,
    masked_sampling_picks_only_allowed_tokens,
    top_k_held_by_one_lane,
    a_step_whose_meetings_failed_picks_its_input_marked,
);

const VOCAB: usize = 1000;

fn params(temperature: f32, top_k: u32, top_p: f32, seed: u32) -> SampleParams {
    SampleParams {
        vocab: VOCAB as u32,
        temperature,
        top_k,
        top_p,
        seed,
        masked: 0,
        _pad1: 0,
        _pad2: 0,
    }
}

/// Ids by rank: higher logit first, lower id on ties (the kernel's order).
fn ranked(logits: &[f32]) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
    ids.sort_by(|&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    });
    ids
}

/// The kernel's hash, a PCG output permutation.
fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// What the CPU twin decided.
struct Twin {
    pick: u32,
    /// The top-k candidates, by rank.
    top: Vec<u32>,
    /// Candidates left after the top-p cut.
    kept: usize,
    /// The draw, as a fraction of the kept mass.
    u: f64,
    /// Whether the draw or the top-p cut is within 1e-5 of a boundary.
    ambiguous: bool,
}

impl Twin {
    /// Where `token` ranks among the candidates, for messages.
    fn rank(&self, token: u32) -> String {
        match self.top.iter().position(|&t| t == token) {
            Some(r) => format!("rank {r}"),
            None => "not in the top k".into(),
        }
    }
}

/// The CPU twin of the sampler.
fn sample_ref(logits: &[f32], p: &SampleParams, rng_step: u32) -> Twin {
    let k = if p.temperature <= 0.0 {
        1
    } else {
        p.top_k.clamp(1, MAX_TOP_K) as usize
    };
    let top: Vec<u32> = ranked(logits)[..k].to_vec();
    if k == 1 {
        let pick = top[0];
        return Twin {
            pick,
            top,
            kept: 1,
            u: 0.0,
            ambiguous: false,
        };
    }
    let v0 = logits[top[0] as usize] as f64;
    let e: Vec<f64> = top
        .iter()
        .map(|&i| ((logits[i as usize] as f64 - v0) / p.temperature as f64).exp())
        .collect();
    let total: f64 = e.iter().sum();
    let (mut kept, mut mass, mut ambiguous) = (k, 0.0, false);
    for (j, e) in e.iter().enumerate() {
        mass += e / total;
        // A cut near the last candidate keeps all k either way.
        ambiguous |= (mass - p.top_p as f64).abs() < 1e-5 && j + 1 < k;
        if mass >= p.top_p as f64 {
            kept = j + 1;
            break;
        }
    }
    let kept_total: f64 = e[..kept].iter().sum();
    let u = (pcg(p.seed ^ pcg(rng_step)) >> 8) as f64 / 16_777_216.0 * kept_total;
    let mut c = 0.0;
    let mut pick = top[kept - 1];
    for j in 0..kept {
        c += e[j];
        ambiguous |= ((u - c) / kept_total).abs() < 1e-5;
        if u < c {
            pick = top[j];
            break;
        }
    }
    Twin {
        pick,
        top,
        kept,
        u: u / kept_total,
        ambiguous,
    }
}

/// A sampler launch over `logits` whose params and rng_step can change.
struct Sampler {
    step: wgpu::Buffer,
    tokens: wgpu::Buffer,
    mask: wgpu::Buffer,
    meet: wgpu::Buffer,
    dispatch: ops::Dispatch,
}

impl Sampler {
    fn new(gpu: &Gpu, logits: &[f32]) -> Sampler {
        let step = harness::step_buffer(gpu);
        let lb = harness::upload_f32(gpu, logits);
        let tokens = harness::upload_u32(gpu, &[u32::MAX; 4]);
        let mask = harness::upload_u32(gpu, &vec![0; logits.len().div_ceil(32)]);
        let meet = harness::upload_u32(gpu, &[0; 4]);
        let p = params(0.0, 1, 1.0, 0);
        let dispatch = ops::sample(gpu, &step, &p, &lb, &tokens, &mask, &meet);
        Sampler {
            step,
            tokens,
            mask,
            meet,
            dispatch,
        }
    }

    /// Sets the allowed-token bitset (read when `masked` is 1).
    fn set_mask(&self, gpu: &Gpu, allowed: &[u32]) {
        let mut words = vec![0u32; VOCAB.div_ceil(32)];
        for &t in allowed {
            words[t as usize / 32] |= 1 << (t % 32);
        }
        gpu.queue
            .write_buffer(&self.mask, 0, bytemuck::cast_slice(&words));
    }

    /// Samples once with `p` at `rng_step` (as after a decode of 1 token).
    async fn pick(&self, gpu: &Gpu, p: &SampleParams, rng_step: u32) -> Result<u32> {
        gpu.queue
            .write_buffer(self.dispatch.params(), 0, bytemuck::bytes_of(p));
        let step = Step {
            rng_step,
            ..harness::step(1, 0)
        };
        harness::submit(gpu, &self.step, step, &[&self.dispatch]);
        Ok(harness::read_u32(gpu, &self.tokens, 1).await?[0])
    }
}

fn random_logits(seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    harness::uniform(&mut harness::rng(seed), VOCAB, lo, hi)
}

/// Greedy on random logits, all-negative logits, and two ties (ids met by
/// the same thread and by different threads): the argmax, lowest id first.
async fn greedy_is_argmax(gpu: &Gpu) -> Result<()> {
    let mut cases: Vec<Vec<f32>> = (0..4).map(|s| random_logits(70 + s, -6.0, 6.0)).collect();
    cases.push(random_logits(74, -60.0, -50.0));
    let mut tie = random_logits(75, -6.0, 6.0);
    (tie[511], tie[256]) = (10.0, 10.0);
    cases.push(tie.clone());
    (tie[261], tie[5]) = (11.0, 11.0);
    cases.push(tie);
    for (n, logits) in cases.iter().enumerate() {
        let sampler = Sampler::new(gpu, logits);
        let want = ranked(logits)[0];
        // top_k is ignored when greedy.
        let got = sampler
            .pick(gpu, &params(0.0, 40, 0.9, 9), n as u32)
            .await?;
        ensure!(
            got == want,
            "greedy case {n}: gpu {got} (logit {}) vs reference {want} (logit {})",
            logits.get(got as usize).copied().unwrap_or(f32::NAN),
            logits[want as usize]
        );
    }
    harness::note(&format!(
        "sample greedy: {} cases equal the argmax",
        cases.len()
    ));
    Ok(())
}

/// Temperature 0.8 but top_k = 1: the argmax whatever the draw.
async fn top_k_1_is_argmax(gpu: &Gpu) -> Result<()> {
    let logits = random_logits(76, -6.0, 6.0);
    let sampler = Sampler::new(gpu, &logits);
    let want = ranked(&logits)[0];
    for rng_step in 0..6 {
        let got = sampler
            .pick(gpu, &params(0.8, 1, 1.0, 77), rng_step)
            .await?;
        ensure!(
            got == want,
            "top_k 1, rng_step {rng_step}: gpu {got} vs reference {want}"
        );
    }
    Ok(())
}

/// Where the layer tails' meetings failed this step (their flag set), the
/// pick is the step's input token with `ops::MISSED` set, greedy or
/// sampled; with the flag clear, the argmax again.
async fn a_step_whose_meetings_failed_picks_its_input_marked(gpu: &Gpu) -> Result<()> {
    let logits = random_logits(77, -6.0, 6.0);
    let sampler = Sampler::new(gpu, &logits);
    let want = ranked(&logits)[0];
    let input = 1234u32;
    for (flag, top_k) in [(1u32, 1u32), (1, 40), (0, 1)] {
        gpu.queue.write_buffer(
            &sampler.meet,
            0,
            bytemuck::cast_slice(&[6u32, flag, input, 0]),
        );
        let got = sampler.pick(gpu, &params(0.8, top_k, 0.9, 5), 3).await?;
        let expect = match flag {
            0 => want,
            _ => ops::MISSED | input,
        };
        ensure!(
            got == expect,
            "flag {flag}, top_k {top_k}: gpu {got:#x} vs {expect:#x}"
        );
    }
    Ok(())
}

/// Temperature 0.9, top-k 40, top-p 0.9, two seeds, 24 draws each: every
/// pick is in the top 40 and equals the twin's; the same (seed, rng_step)
/// gives the same token again.
async fn top_k_top_p_match_the_twin(gpu: &Gpu) -> Result<()> {
    // A spread of 8 at temperature 0.9 leaves a few dozen plausible tokens.
    let logits = random_logits(78, -4.0, 4.0);
    let sampler = Sampler::new(gpu, &logits);
    let (mut ambiguous, mut distinct) = (0, std::collections::BTreeSet::new());
    for seed in [1234u32, 99] {
        let p = params(0.9, 40, 0.9, seed);
        let mut first = Vec::new();
        for rng_step in 0..24 {
            let got = sampler.pick(gpu, &p, rng_step).await?;
            let twin = sample_ref(&logits, &p, rng_step);
            ensure!(
                twin.top.contains(&got),
                "seed {seed}, rng_step {rng_step}: gpu {got} is not in the top 40 {:?}",
                twin.top
            );
            if twin.ambiguous {
                ambiguous += 1;
            } else {
                ensure!(
                    got == twin.pick,
                    "seed {seed}, rng_step {rng_step}: gpu {got} ({}) vs reference {} ({}; \
                     draw at {:.6} of the mass of the {} kept)",
                    twin.rank(got),
                    twin.pick,
                    twin.rank(twin.pick),
                    twin.u,
                    twin.kept
                );
            }
            distinct.insert(got);
            first.push(got);
        }
        for rng_step in 0..4 {
            let again = sampler.pick(gpu, &p, rng_step).await?;
            let before = first[rng_step as usize];
            ensure!(
                again == before,
                "seed {seed}, rng_step {rng_step}: first {before}, then {again}"
            );
        }
    }
    // 48 draws over tens of candidates: one token throughout means no draw.
    ensure!(distinct.len() > 4, "48 draws gave only {:?}", distinct);
    harness::note(&format!(
        "sample top-k/top-p: 48 draws, {} distinct tokens, {ambiguous} near a boundary",
        distinct.len()
    ));
    Ok(())
}

/// top_p 1e-6 keeps only the most likely token, at any temperature.
async fn tiny_top_p_is_argmax(gpu: &Gpu) -> Result<()> {
    let logits = random_logits(79, -3.0, 3.0);
    let sampler = Sampler::new(gpu, &logits);
    let want = ranked(&logits)[0];
    for rng_step in 0..6 {
        let got = sampler
            .pick(gpu, &params(1.5, 64, 1e-6, 80), rng_step)
            .await?;
        ensure!(
            got == want,
            "top_p 1e-6, rng_step {rng_step}: gpu {got} vs reference {want}"
        );
    }
    Ok(())
}

/// Two candidates of probability 3/4 and 1/4 (top_k 2, temperature 1, the
/// logits far from 0 so that only their difference can matter): over 128
/// draws the first is picked 75% ± 12% of the time (3 binomial standard
/// deviations; the draws are fixed by the seeds, so this cannot flake).
async fn draw_frequencies(gpu: &Gpu) -> Result<()> {
    let mut logits = random_logits(81, -20.0, -10.0);
    let (a, b) = (417u32, 902u32);
    logits[a as usize] = 6.0 + 3f32.ln();
    logits[b as usize] = 6.0;
    let sampler = Sampler::new(gpu, &logits);
    let p = params(1.0, 2, 1.0, 82);
    let (mut n_a, mut n_ambiguous) = (0, 0);
    for rng_step in 0..128 {
        let got = sampler.pick(gpu, &p, rng_step).await?;
        ensure!(
            got == a || got == b,
            "rng_step {rng_step}: gpu picked {got}, not {a} or {b}"
        );
        let twin = sample_ref(&logits, &p, rng_step);
        ensure!(
            twin.ambiguous || got == twin.pick,
            "rng_step {rng_step}: gpu {got} vs reference {} (draw at {:.6})",
            twin.pick,
            twin.u
        );
        n_a += (got == a) as u32;
        n_ambiguous += twin.ambiguous as u32;
    }
    let share = n_a as f64 / 128.0;
    ensure!(
        (share - 0.75).abs() <= 0.12,
        "token of p = 0.75 picked {n_a} times in 128 ({share:.3})"
    );
    ensure!(
        n_ambiguous < 4,
        "{n_ambiguous} of 128 draws too near a boundary to check"
    );
    harness::note(&format!(
        "sample frequencies: p = 0.75 token picked {n_a}/128, {n_ambiguous} draws near a boundary"
    ));
    Ok(())
}

/// With a mask, greedy is the best allowed token, sampling never leaves the
/// allowed set (even with fewer allowed tokens than top-k), and a mask that
/// allows nothing yields u32::MAX, which the caller reports.
async fn masked_sampling_picks_only_allowed_tokens(gpu: &Gpu) -> Result<()> {
    let logits = random_logits(21, -8.0, 8.0);
    let s = Sampler::new(gpu, &logits);
    let by_rank = ranked(&logits);
    // Allowed: a few tokens ranked low, none of the top 100.
    let allowed: Vec<u32> = by_rank[100..].iter().step_by(97).copied().collect();
    s.set_mask(gpu, &allowed);
    let best = *by_rank
        .iter()
        .find(|t| allowed.contains(t))
        .expect("one allowed");
    let mut greedy = params(0.0, 1, 1.0, 0);
    greedy.masked = 1;
    let got = s.pick(gpu, &greedy, 0).await?;
    ensure!(got == best, "masked greedy: gpu {got} vs reference {best}");
    let mut seen = std::collections::BTreeSet::new();
    for rng_step in 0..40 {
        let mut p = params(2.0, 40, 0.95, 7);
        p.masked = 1;
        let got = s.pick(gpu, &p, rng_step).await?;
        ensure!(
            allowed.contains(&got),
            "rng_step {rng_step}: gpu picked {got}, not allowed"
        );
        seen.insert(got);
    }
    ensure!(seen.len() >= 2, "a temperature of 2 drew only {seen:?}");
    // The same params unmasked pick from the top of the vocabulary instead.
    let free = s.pick(gpu, &params(0.0, 1, 1.0, 0), 0).await?;
    ensure!(
        free == by_rank[0],
        "unmasked greedy: gpu {free} vs reference {}",
        by_rank[0]
    );
    s.set_mask(gpu, &[]);
    let none = s.pick(gpu, &greedy, 0).await?;
    ensure!(none == u32::MAX, "a mask allowing nothing picked {none}");
    Ok(())
}

/// The top k from the lanes' candidates, and the exact rescan where one
/// lane holds more than its four: 20,000 logits whose best 64 all sit where
/// lane 5 scans (ids 5 + 256·j, 256 lanes), the rest far below them; and
/// 20,000 at random, where the candidates hold the top k. At temperature
/// 1.5, top-k 40 and 64, top-p 1, 24 draws each: every pick is in the twin's
/// top k and equals its pick. Without the rescan, the first case draws from
/// lane 5's four and other lanes' far lower tokens (checked).
async fn top_k_held_by_one_lane(gpu: &Gpu) -> Result<()> {
    let n = 20_000usize;
    let mut crowded = harness::uniform(&mut harness::rng(83), n, -20.0, -10.0);
    for j in 0..64 {
        crowded[5 + 256 * j] = 5.0 - 0.01 * j as f32;
    }
    let random = harness::uniform(&mut harness::rng(84), n, -4.0, 4.0);
    for (name, logits) in [("one lane", &crowded), ("random", &random)] {
        let sampler = Sampler::new(gpu, logits);
        for k in [40u32, 64] {
            let p = SampleParams {
                vocab: n as u32,
                ..params(1.5, k, 1.0, 85)
            };
            let mut distinct = std::collections::BTreeSet::new();
            for rng_step in 0..24 {
                let got = sampler.pick(gpu, &p, rng_step).await?;
                let twin = sample_ref(logits, &p, rng_step);
                ensure!(
                    twin.top.contains(&got),
                    "{name}, top-k {k}, rng_step {rng_step}: gpu {got} is not in the top {k}"
                );
                ensure!(
                    twin.ambiguous || got == twin.pick,
                    "{name}, top-k {k}, rng_step {rng_step}: gpu {got} ({}) vs reference {} ({})",
                    twin.rank(got),
                    twin.pick,
                    twin.rank(twin.pick)
                );
                distinct.insert(got);
            }
            ensure!(
                distinct.len() > 4,
                "{name}, top-k {k}: 24 draws gave only {distinct:?}"
            );
        }
    }
    Ok(())
}
