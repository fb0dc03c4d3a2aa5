//! Prompt-lookup decoding (`Session::lookup`): drafts from the text so far
//! (`draft_by_lookup`), checked in one batch (`Model::verify`), and when
//! checking pays (`DraftOdds`). On the real model, with decode's products
//! in f32 (`Gpu::with_int8_dot(false)`): decode's int8 products round
//! otherwise than the batch's kernels, enough to tip a near-tie, so with
//! them the two can part in a few places; in f32 they give the same tokens
//! on these prompts, and any slip of a position or an accepted count shows.
//!
//! The GPU tests need the default model (`cargo xtask setup`, or
//! LOCUM_TEST_MODEL).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use anyhow::{ensure, Context, Result};
use locum_engine::generate::{draft_by_lookup, DraftOdds};
use locum_engine::{GgufModel, Gpu, Model, Sampling, Session, Tokenizer};

use common::{greedy_within, model_bytes, Script};

#[test]
fn drafts_follow_the_latest_earlier_run() {
    // "4 5 6" occurred once before the end, followed by 9 8 3 (and "5 6",
    // followed by 7 earlier, is too short a run to count).
    let h = [1, 5, 6, 7, 2, 4, 5, 6, 9, 8, 3, 4, 5, 6];
    assert_eq!(draft_by_lookup(&h, 3), &[9, 8, 3]);
    assert_eq!(draft_by_lookup(&h, 1), &[9]);
    assert_eq!(draft_by_lookup(&h, 0), &[] as &[u32]);
    // The longest run first: "3 5 6 7" once before, followed by 4 1; the
    // shorter "5 6 7" more lately, followed by 2.
    let h = [3, 5, 6, 7, 4, 1, 5, 6, 7, 2, 9, 3, 5, 6, 7];
    assert_eq!(draft_by_lookup(&h, 2), &[4, 1]);
    // The latest of two earlier occurrences.
    let h = [5, 6, 7, 1, 5, 6, 7, 2, 5, 6, 7];
    assert_eq!(draft_by_lookup(&h, 1), &[2]);
    // A draft ends where the text does.
    let h = [7, 8, 9, 7, 8, 9];
    assert_eq!(draft_by_lookup(&h, 5), &[7, 8, 9]);
    // Two tokens in common are not a run; nothing before, nothing to draft.
    assert_eq!(draft_by_lookup(&[4, 1, 2, 5, 1, 2], 3), &[] as &[u32]);
    assert_eq!(draft_by_lookup(&[1, 2, 3], 3), &[] as &[u32]);
}

#[test]
fn checking_stops_when_drafts_fail_and_resumes_when_they_would_pass() {
    let mut odds = DraftOdds::new(2.1);
    assert!(odds.worth_checking(), "the first drafts are checked");
    for _ in 0..3 {
        odds.checked(0);
    }
    assert!(!odds.worth_checking(), "three drafts refused in a row");
    // Unchecked drafts that the decoded tokens then follow win it back.
    let mut rounds = 0;
    while !odds.worth_checking() {
        odds.unchecked(&[10, 11, 12, 13]);
        for t in [10, 11, 12, 13] {
            odds.decoded(t);
        }
        rounds += 1;
        assert!(rounds < 10, "agreeing drafts never made checking pay");
    }
    // A draft the next token does not follow counts as none accepted.
    let before = format!("{odds:?}");
    odds.unchecked(&[1, 2]);
    odds.decoded(3);
    assert_ne!(format!("{odds:?}"), before);
    // On a GPU one accepted draft in four pays.
    let mut gpu = DraftOdds::new(1.25);
    for _ in 0..8 {
        gpu.checked(0);
        gpu.checked(1);
    }
    assert!(gpu.worth_checking());
}

/// Greedy tokens from plain decode: the prompt's next, then `steps` more.
fn greedy(model: &mut Model, prompt: &[u32], steps: usize) -> Result<Vec<u32>> {
    model.reset();
    model.set_sampling(Sampling::greedy());
    let mut out = vec![pollster::block_on(model.prefill(prompt))?];
    for _ in 0..steps {
        out.push(pollster::block_on(model.decode())?);
    }
    Ok(out)
}

#[test]
fn verify_accepts_what_decode_gives_and_stops_at_the_first_difference() -> Result<()> {
    let bytes = model_bytes()?;
    let file = GgufModel::parse(&bytes)?;
    let prompt = Tokenizer::from_gguf(&file.gguf)?.encode(
        "List the findings of this case: 67-year-old man, central chest pain for 2 hours \
         radiating to the left arm and jaw, sweating and nausea. Heart rate 88.",
    )?;
    let gpu = pollster::block_on(Gpu::new())?
        .with_decode_ahead(false)
        .with_int8_dot(false);
    let mut model = Model::load(&gpu, &file, 256)?;
    let seq = greedy(&mut model, &prompt, 40)?;
    for at in [0usize, 9, 23] {
        let start = (prompt.len() + at) as u32;
        // `at` tokens after the prompt fed by decode, seq[at] not yet.
        greedy(&mut model, &prompt, at)?;
        ensure!(model.pos() == start, "at {at}: position {}", model.pos());
        let (accepted, next) = pollster::block_on(model.verify(seq[at], &seq[at + 1..at + 8]))?;
        ensure!(
            (accepted, next) == (7, seq[at + 8]),
            "at {at}: seven of decode's own tokens gave ({accepted}, {next}), not (7, {})",
            seq[at + 8]
        );
        ensure!(
            model.pos() == start + 8,
            "at {at}: position {} after all seven",
            model.pos()
        );

        greedy(&mut model, &prompt, at)?;
        let mut drafts = seq[at + 1..at + 6].to_vec();
        drafts[3] = drafts[3].wrapping_add(1) % model.cfg.vocab;
        let (accepted, next) = pollster::block_on(model.verify(seq[at], &drafts))?;
        ensure!(
            (accepted, next) == (3, seq[at + 4]),
            "at {at}: the fourth draft wrong gave ({accepted}, {next}), not (3, {})",
            seq[at + 4]
        );
        ensure!(
            model.pos() == start + 4,
            "at {at}: position {} after three",
            model.pos()
        );
    }
    Ok(())
}

/// `max_tokens` greedy tokens after `prompt` from `s`, with lookup on or
/// off; the stats, and the position after.
fn generate(
    s: &mut Session,
    prompt: &[u32],
    max_tokens: usize,
    lookup: bool,
) -> Result<(locum_engine::GenStats, String, u32)> {
    s.lookup = lookup;
    let mut text = String::new();
    let st = pollster::block_on(s.generate(prompt, max_tokens, Sampling::greedy(), |p| {
        text.push_str(p);
        true
    }))?;
    Ok((st, text, s.model.pos()))
}

/// A session on the default model with decode's products in f32, and a
/// chat prompt asking it to repeat a case's findings word for word.
fn quoting_session() -> Result<(Gpu, Session, Vec<u32>)> {
    let bytes = model_bytes()?;
    let gpu = pollster::block_on(Gpu::new())?.with_int8_dot(false);
    let s = Session::load(&gpu, &bytes, 512)?;
    let prompt = s.prompt_ids(
        "Repeat the findings word for word: central chest pain for 2 hours radiating to the \
         left arm and jaw; heart rate 88 (2026-03-06 11:10); blood pressure 136/82 \
         (2026-03-06 11:10); troponin rising from 14 to 48 ng/L (2026-03-06 08:10).",
        true,
    )?;
    Ok((gpu, s, prompt))
}

#[test]
fn lookup_gives_greedy_decodes_text_with_fewer_steps() -> Result<()> {
    let (_gpu, mut s, prompt) = quoting_session()?;
    for max_tokens in [80, 37] {
        let (plain, plain_text, plain_pos) = generate(&mut s, &prompt, max_tokens, false)?;
        let (look, look_text, look_pos) = generate(&mut s, &prompt, max_tokens, true)?;
        ensure!(
            look_text == plain_text,
            "{max_tokens} tokens: with lookup {look_text:?}, without {plain_text:?}"
        );
        ensure!(
            (look.tokens == plain.tokens) && (look.stop_reason == plain.stop_reason),
            "{max_tokens} tokens: the tokens or the stop differ"
        );
        ensure!(
            look.accepted_tokens > 0 && plain.drafted_tokens == 0,
            "{max_tokens} tokens: {} of {} drafts accepted with lookup, {} drafted without",
            look.accepted_tokens,
            look.drafted_tokens,
            plain.drafted_tokens
        );
        // The cache ends where plain decode's does: the unfed token out.
        ensure!(
            (look_pos, look.unfed) == (plain_pos, plain.unfed),
            "{max_tokens} tokens: position {look_pos} (unfed {}) against {plain_pos} (unfed {})",
            look.unfed,
            plain.unfed
        );
    }
    Ok(())
}

/// Logits within this of the best count as the greedy choice.
const TIE: f32 = 1.0;

#[test]
fn lookup_under_a_grammar_gives_its_masked_greedy_text() -> Result<()> {
    let (_gpu, mut s, prompt) = quoting_session()?;
    // The script: what the model writes free, so the forced runs fit it;
    // the banned tokens, some it writes, so that its greedy choice is
    // refused in places.
    let (free, _, _) = generate(&mut s, &prompt, 60, false)?;
    let banned = s.tokenizer.encode_piece(";")?;
    let vocab = s.model.cfg.vocab as usize;
    // Forced runs of three, and runs of twelve: longer than a check's
    // rows, so fed as a prompt is, with no drafts after them.
    for (period, free_run) in [(12, 9), (20, 8)] {
        let quoting = || Script {
            period,
            free: free_run,
            script: free.tokens.clone(),
            banned: banned.clone(),
            force: true,
            vocab,
            taken: Vec::new(),
        };
        let mut run = |lookup: bool| -> Result<(locum_engine::GenStats, Vec<u32>, u32)> {
            let mut c = quoting();
            s.lookup = lookup;
            s.model.reset();
            s.model.set_sampling(Sampling::greedy());
            let st = pollster::block_on(s.continue_until(
                &prompt,
                1000,
                Some(&mut c),
                &|| false,
                |_| true,
            ))?;
            Ok((st, c.taken, s.model.pos()))
        };
        let (plain, _, _) = run(false)?;
        let (look, taken, pos) = run(true)?;
        let shape = format!("forced runs of {}", period - free_run);
        ensure!(
            look.tokens == taken,
            "{shape}: the stats' tokens are the grammar's"
        );
        ensure!(
            look.stop_reason == "complete" && look.generated_tokens == free.tokens.len(),
            "{shape}: stopped for {} after {} tokens",
            look.stop_reason,
            look.generated_tokens
        );
        // The last token is unfed: the cache holds the rest.
        ensure!(
            pos as usize + look.unfed == prompt.len() + taken.len() && look.unfed == 1,
            "{shape}: position {pos}, unfed {}, for {} + {} tokens",
            look.unfed,
            prompt.len(),
            taken.len()
        );
        ensure!(
            look.accepted_tokens > 0
                && look.forced_tokens > 0
                && (look.refed_tokens > 0 || period != 12),
            "{shape}: {} of {} drafts accepted, {} refused by the grammar, {} forced",
            look.accepted_tokens,
            look.drafted_tokens,
            look.refed_tokens,
            look.forced_tokens
        );
        ensure!(
            plain.drafted_tokens == 0,
            "{shape}: without lookup {} drafted",
            plain.drafted_tokens
        );
        eprintln!(
            "{shape}: {} tokens, {} forced: {} of {} drafts accepted, {} refused by the grammar",
            look.generated_tokens,
            look.forced_tokens,
            look.accepted_tokens,
            look.drafted_tokens,
            look.refed_tokens
        );
        if period != 12 {
            continue;
        }
        // Each of the model's tokens is its greedy choice among the allowed
        // ones after what came before, from one batch over the whole
        // history: the best allowed logit, or within TIE of it (a batch's
        // kernels and decode's round differently: a near-tie can tip
        // either way, and the text part from plain decode's there).
        let c = quoting();
        let worst = greedy_within(
            &mut s,
            &prompt,
            &taken,
            |at| c.free(at),
            |at, t| c.allowed(at, t),
            TIE,
        )
        .with_context(|| shape.clone())?;
        eprintln!("{shape}: the model's tokens at most {worst:.3} below the best allowed logit");
    }
    Ok(())
}
