//! The whole SmolLM2 forward pass on the GPU against candle-transformers'
//! quantized llama on the CPU (the oracle of shared/ARCHITECTURE.md, decision 9).
//!
//! Needs the default model: `cargo xtask setup` puts it at
//! `.models/SmolLM2-135M-Instruct.Q4_1.gguf` (or set LOCUM_TEST_MODEL).
//! Native only: candle runs on the CPU, the engine on the Vulkan adapter.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use locum_engine::{GgufModel, Gpu, Model, Tokenizer};

fn model_path() -> PathBuf {
    match std::env::var_os("LOCUM_TEST_MODEL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    }
}

fn read_model() -> Result<Vec<u8>> {
    let p = model_path();
    std::fs::read(&p).with_context(|| {
        format!(
            "the default model is missing at {}: run `cargo xtask setup`",
            p.display()
        )
    })
}

/// candle's quantized llama with every weight dequantized to f32 once, so its
/// matmuls are f32 like the engine's. (Its default path quantizes activations
/// to 8 bits inside Q4_1 dot products, as llama.cpp's CPU path does; that
/// noise alone flips near-tied greedy picks within a few tokens.)
fn candle_model() -> Result<ModelWeights> {
    // Read by candle's QMatMul when each weight is wrapped, on this thread.
    std::env::set_var("CANDLE_DEQUANTIZE_ALL", "1");
    let p = model_path();
    let mut f = std::fs::File::open(&p)?;
    let content = candle_core::quantized::gguf_file::Content::read(&mut f)?;
    Ok(ModelWeights::from_gguf(content, &mut f, &Device::Cpu)?)
}

const PROMPT: &str = "<|im_start|>user\nA 67-year-old man has crushing chest pain radiating to his left arm. What should be done first?<|im_end|>\n<|im_start|>assistant\n";

#[test]
fn logits_and_greedy_tokens_match_candle() -> Result<()> {
    let bytes = read_model()?;
    let file = GgufModel::parse(&bytes)?;
    let tok = Tokenizer::from_gguf(&file.gguf)?;
    let ids = tok.encode(PROMPT)?;
    assert!(ids.len() > 20, "prompt tokenized to {} ids", ids.len());

    let gpu = pollster::block_on(Gpu::new())?;
    let mut model = Model::load(&gpu, &file, 512)?;
    let gpu_logits = pollster::block_on(model.logits_after(&ids))?;

    let mut oracle = candle_model()?;
    let input = Tensor::new(ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
    let ref_logits: Vec<f32> = oracle.forward(&input, 0)?.squeeze(0)?.to_vec1()?;
    assert_eq!(gpu_logits.len(), ref_logits.len());

    // Both sides compute in f32 from the same dequantized weights; only the
    // order of additions differs (workgroup reductions against candle's
    // sequential dots) over 30 layers. Tolerance: every logit within 0.1% of
    // the logits' spread (max − min), and the same argmax.
    let (lo, hi) = ref_logits
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let tol = 0.001 * (hi - lo);
    let mut worst = (0usize, 0f32);
    for (i, (a, b)) in gpu_logits.iter().zip(&ref_logits).enumerate() {
        assert!(a.is_finite(), "index {i}: gpu logit {a} is not finite");
        let d = (a - b).abs();
        if d > worst.1 {
            worst = (i, d);
        }
        assert!(
            d <= tol,
            "index {i}: gpu {a} vs reference {b} (tolerance {tol})"
        );
    }
    eprintln!(
        "max |gpu - candle| = {} at token {} (spread {})",
        worst.1,
        worst.0,
        hi - lo
    );
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .fold(0, |m, (i, &x)| if x > v[m] { i } else { m })
    };
    assert_eq!(
        argmax(&gpu_logits),
        argmax(&ref_logits),
        "the top token differs"
    );

    // 32 greedy tokens, each fed back, from both.
    model.reset();
    model.set_sampling(locum_engine::Sampling::greedy());
    let mut gpu_tokens = vec![pollster::block_on(model.prefill(&ids))?];
    for _ in 1..32 {
        gpu_tokens.push(pollster::block_on(model.decode())?);
    }
    oracle.clear_kv_cache();
    let mut ref_tokens = Vec::new();
    let mut logits = oracle.forward(&input, 0)?.squeeze(0)?;
    for i in 0..32 {
        let next = logits.argmax(0)?.to_scalar::<u32>()?;
        ref_tokens.push(next);
        let x = Tensor::new(&[next], &Device::Cpu)?.unsqueeze(0)?;
        logits = oracle.forward(&x, ids.len() + i)?.squeeze(0)?;
    }
    eprintln!("greedy: {:?}", tok.decode(&gpu_tokens)?);
    assert_eq!(
        gpu_tokens,
        ref_tokens,
        "greedy tokens differ:\n gpu: {:?}\n ref: {:?}",
        tok.decode(&gpu_tokens)?,
        tok.decode(&ref_tokens)?
    );
    Ok(())
}
