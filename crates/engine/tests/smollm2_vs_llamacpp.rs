//! SmolLM2 against llama.cpp's own numbers for the same GGUF: token ids and
//! perplexity. The reference file `data/llamacpp-smollm2-q4_1.json` was made
//! by `scripts/llama_reference.py` with llama-cpp-python 0.3.36 (command in
//! the script's doc); llama.cpp is not built in CI, its numbers are.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use anyhow::{Context, Result};
use locum_engine::{GgufModel, Gpu, Model, Tokenizer};

fn model_bytes() -> Result<Vec<u8>> {
    let p = match std::env::var_os("LOCUM_TEST_MODEL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    };
    std::fs::read(&p).with_context(|| {
        format!(
            "the default model is missing at {}: run `cargo xtask setup`",
            p.display()
        )
    })
}

fn reference() -> Result<serde_json::Value> {
    Ok(serde_json::from_str(include_str!(
        "data/llamacpp-smollm2-q4_1.json"
    ))?)
}

#[test]
fn token_ids_equal_llamacpp() -> Result<()> {
    let bytes = model_bytes()?;
    let file = GgufModel::parse(&bytes)?;
    let tok = Tokenizer::from_gguf(&file.gguf)?;
    let ids = tok.encode(include_str!("data/tokenize.txt"))?;
    let want: Vec<u32> = serde_json::from_value(reference()?["tokenize_ids"].clone())?;
    for (i, (a, b)) in ids.iter().zip(&want).enumerate() {
        assert_eq!(
            a,
            b,
            "index {i}: locum {a} vs llama.cpp {b} ({:?})",
            tok.token_text(*a)
        );
    }
    assert_eq!(
        ids.len(),
        want.len(),
        "locum made {} tokens, llama.cpp {}",
        ids.len(),
        want.len()
    );
    // And the text comes back whole.
    assert_eq!(tok.decode(&ids)?, include_str!("data/tokenize.txt"));
    Ok(())
}

/// Long (733 positions through the batched forward pass: nearly five
/// minutes on CI's two cores on a slow day), so it runs with `cargo xtask
/// test --long` (or `-- --include-ignored`); the default run holds SmolLM2's
/// logits and 32 greedy tokens to candle's instead (`smollm2_vs_candle.rs`).
#[test]
#[ignore = "long: cargo xtask test --long"]
fn perplexity_within_one_percent_of_llamacpp() -> Result<()> {
    let bytes = model_bytes()?;
    let file = GgufModel::parse(&bytes)?;
    let tok = Tokenizer::from_gguf(&file.gguf)?;
    let ids = tok.encode(include_str!("data/english.txt"))?;
    let r = reference()?;
    let want = r["perplexity"]
        .as_f64()
        .context("no perplexity in the reference")?;
    assert_eq!(
        r["perplexity_tokens"].as_u64(),
        Some(ids.len() as u64 - 1),
        "the reference scored another tokenization"
    );
    let gpu = pollster::block_on(Gpu::new())?;
    let mut model = Model::load(&gpu, &file, ids.len() as u32)?;
    let nll = pollster::block_on(model.nll(&ids))?;
    assert!(
        nll.iter().all(|v| v.is_finite()),
        "a non-finite log-likelihood"
    );
    let ppl = (nll.iter().map(|&v| v as f64).sum::<f64>() / nll.len() as f64).exp();
    let rel = (ppl - want).abs() / want;
    eprintln!(
        "perplexity: locum {ppl:.4}, llama.cpp {want:.4}, relative difference {:.3}%",
        rel * 100.0
    );
    assert!(
        rel < 0.01,
        "perplexity {ppl} is {:.2}% from llama.cpp's {want}",
        rel * 100.0
    );
    Ok(())
}
