//! Decode with split-KV attention gives what decode with one workgroup per
//! head gives, on the real model: SmolLM2 after 100 positions of
//! `english.txt` (prefilled once; 8 splits of whole 64-position chunks, so
//! one split is full, one partly filled and six empty, all merged), the next
//! token's logits and 8 greedy tokens, each way. Then the same for row
//! attention (scores, softmax, values), which CPU adapters run for prefill
//! and for decode at long contexts where lane attention does not take the
//! shape, and for lane attention (a lane's own running softmax, then a
//! merge), which they run for SmolLM2's decode at long contexts. The kernels are tested against an f64
//! reference in `tests/kernels/attention.rs`; this holds the model's wiring
//! of them (the long decode body, the shared scratch buffers, the switch by
//! position). Last, lane attention reading the KV cache's mirror in storage
//! textures (where the adapter takes one) must give exactly the logits and
//! tokens it gives reading the buffers.
//!
//! Needs the default model (`cargo xtask setup`, or LOCUM_TEST_MODEL).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use anyhow::{ensure, Result};
use locum_engine::{GgufModel, Gpu, Model, Tokenizer};

use common::model_bytes;

const ENGLISH: &str = include_str!("data/english.txt");
const CONTEXT: usize = 100;
const STEPS: usize = 8;

/// The logits after the cached context then `next` (decoded as one token),
/// and the greedy tokens that follow; the cache is left at the context.
fn run(model: &mut Model, next: u32) -> Result<(Vec<f32>, Vec<u32>)> {
    model.rewind(CONTEXT as u32);
    let logits = pollster::block_on(model.logits_after(&[next]))?;
    let mut tokens = Vec::new();
    for _ in 0..STEPS {
        tokens.push(pollster::block_on(model.decode())?);
    }
    model.rewind(CONTEXT as u32);
    Ok((logits, tokens))
}

/// Decodes the same tokens with the long body and the short one and checks
/// they agree; `what` names the long body's attention.
fn long_decodes_as_short(model: &mut Model, next: u32, what: &str) -> Result<()> {
    ensure!(
        model.set_attention_split_from(u32::MAX),
        "the model was built without {what} attention"
    );
    let (whole, whole_tokens) = run(model, next)?;
    model.set_attention_split_from(0);
    let (split, split_tokens) = run(model, next)?;

    let spread = whole.iter().cloned().fold(f32::MIN, f32::max)
        - whole.iter().cloned().fold(f32::MAX, f32::min);
    let diff = whole
        .iter()
        .zip(&split)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("{what}: max |logit difference| {diff:.2e} over a spread of {spread:.2}");
    ensure!(
        diff <= 1e-4 * spread,
        "{what} attention's logits differ by {diff} (spread {spread})"
    );
    ensure!(
        whole_tokens == split_tokens,
        "greedy tokens differ: {whole_tokens:?} one pass, {split_tokens:?} {what}"
    );
    Ok(())
}

#[test]
fn split_attention_decodes_as_unsplit() -> Result<()> {
    let bytes = model_bytes()?;
    let file = GgufModel::parse(&bytes)?;
    let ids = Tokenizer::from_gguf(&file.gguf)?.encode(ENGLISH)?;
    ensure!(ids.len() > CONTEXT, "english.txt is {} tokens", ids.len());
    let next = ids[CONTEXT];
    // CPU adapters do not split by default (it is slower there) and run row
    // attention instead; the first model asks for 8 splits and no row
    // attention, read when the model is built. One test, so that nothing
    // else reads the variables meanwhile.
    std::env::set_var("LOCUM_ATTENTION_SPLITS", "8");
    std::env::set_var("LOCUM_ROW_ATTENTION", "0");
    std::env::set_var("LOCUM_LANE_ATTENTION", "0");
    // The f32 decode products: the int8 ones (CPU adapters' default)
    // round x to 8 bits a block, so the last-bit differences between two
    // attention kernels' sums flip some roundings and come out of 30 layers
    // as logit differences of 1 in a spread of 36 (measured on lavapipe:
    // one-pass against split, lane or row attention 1.0–1.8, where the f32
    // products differ by 3e-4), which would hide a wiring fault. The int8
    // products are held to candle in smollm2_vs_candle.rs.
    let gpu = pollster::block_on(Gpu::new())?.with_int8_dot(false);
    let mut model = Model::load(&gpu, &file, (CONTEXT + STEPS + 8) as u32)?;
    pollster::block_on(model.prefill(&ids[..CONTEXT]))?;
    long_decodes_as_short(&mut model, next, "split")?;
    drop(model);

    std::env::remove_var("LOCUM_ROW_ATTENTION");
    std::env::remove_var("LOCUM_ATTENTION_SPLITS");
    if gpu.row_attention_from().is_none() {
        eprintln!(
            "row attention: not run on this adapter ({})",
            gpu.summary.name
        );
        return Ok(());
    }
    // Row attention: the long body of a model built without lane attention.
    let mut model = Model::load(&gpu, &file, (CONTEXT + STEPS + 8) as u32)?;
    pollster::block_on(model.prefill(&ids[..CONTEXT]))?;
    long_decodes_as_short(&mut model, next, "row")?;
    drop(model);

    // Lane attention, the CPU adapters' default for decode at long contexts.
    std::env::remove_var("LOCUM_LANE_ATTENTION");
    ensure!(
        gpu.lane_attention().is_some(),
        "a CPU adapter without lane attention"
    );
    let mut model = Model::load(&gpu, &file, (CONTEXT + STEPS + 8) as u32)?;
    pollster::block_on(model.prefill(&ids[..CONTEXT]))?;
    long_decodes_as_short(&mut model, next, "lane")?;
    drop(model);

    // Lane attention reading the KV cache's mirror in storage textures
    // (lavapipe's default) against reading the buffers, both at long
    // contexts: the context prefilled in two batches whose ends fall inside
    // the mirror's texture rows, then decoded (the Q|K|V product writing
    // each new row). The same f16 values either way, so the same logits.
    if !gpu.clone().with_kv_mirror(true).kv_mirror() {
        eprintln!("KV mirror: not run on this adapter ({})", gpu.summary.name);
        return Ok(());
    }
    let mut runs = Vec::new();
    for on in [false, true] {
        let gpu = gpu.clone().with_kv_mirror(on);
        let mut model = Model::load(&gpu, &file, (CONTEXT + STEPS + 8) as u32)?;
        pollster::block_on(model.prefill(&ids[..37]))?;
        pollster::block_on(model.prefill(&ids[37..CONTEXT]))?;
        model.set_attention_split_from(0);
        runs.push(run(&mut model, next)?);
    }
    let ((buffers, buffer_tokens), (mirror, mirror_tokens)) = (&runs[0], &runs[1]);
    let diff = buffers
        .iter()
        .zip(mirror)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("lane attention from the KV mirror: max |logit difference| {diff:.2e}");
    ensure!(
        diff == 0.0,
        "the mirror's logits differ from the buffers' by {diff}"
    );
    ensure!(
        buffer_tokens == mirror_tokens,
        "greedy tokens differ: {buffer_tokens:?} from the buffers, {mirror_tokens:?} from the mirror"
    );
    Ok(())
}
