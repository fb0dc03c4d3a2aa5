//! `locum`: Locum's engine on the command line, on the machine's own GPU
//! adapter (Vulkan, Metal or DX12; lavapipe on a machine without a GPU).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use locum_engine::{Gpu, Sampling, Session};

#[derive(Parser)]
#[command(
    name = "locum",
    version,
    about = "Locum: a private clinical assistant's inference engine on WebGPU"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate text after a prompt, streaming it as it comes.
    Generate {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        prompt: String,
        /// Wrap the prompt in the model's chat template as a user turn.
        #[arg(long)]
        chat: bool,
        #[arg(long, default_value_t = 128)]
        max_tokens: usize,
        /// 0 = greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        #[arg(long, default_value_t = 40)]
        top_k: u32,
        #[arg(long, default_value_t = 0.95)]
        top_p: f32,
        #[arg(long, default_value_t = 0)]
        seed: u32,
        /// KV-cache positions.
        #[arg(long, default_value_t = 2048)]
        ctx: u32,
        /// Print timings to stderr at the end.
        #[arg(long)]
        stats: bool,
    },
    /// Print the token ids of a file's text, space-separated, on one line.
    Tokenize {
        #[arg(long)]
        model: PathBuf,
        file: PathBuf,
    },
    /// Perplexity of a text file, evaluated in one context.
    Perplexity {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        file: PathBuf,
    },
    /// Measure prefill and decode speed.
    Bench {
        #[arg(long)]
        model: PathBuf,
        /// Prompt tokens for the prefill measurement.
        #[arg(long, default_value_t = 200)]
        prompt_tokens: usize,
        /// Tokens to decode.
        #[arg(long, default_value_t = 64)]
        decode_tokens: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn read_model(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the model file {}", path.display()))
}

fn load(path: &Path, ctx: u32) -> Result<(Gpu, Session, f64)> {
    let t = Instant::now();
    let bytes = read_model(path)?;
    let gpu = pollster::block_on(Gpu::new())?;
    let session = Session::load(&gpu, &bytes, ctx)?;
    Ok((gpu, session, t.elapsed().as_secs_f64() * 1e3))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Generate {
            model,
            prompt,
            chat,
            max_tokens,
            temperature,
            top_k,
            top_p,
            seed,
            ctx,
            stats,
        } => {
            let (_gpu, mut s, _) = load(&model, ctx)?;
            let ids = s.prompt_ids(&prompt, chat)?;
            let sampling = Sampling {
                temperature,
                top_k,
                top_p,
                seed,
            };
            let mut out = std::io::stdout().lock();
            let st = pollster::block_on(s.generate(&ids, max_tokens, sampling, |piece| {
                let _ = out.write_all(piece.as_bytes());
                let _ = out.flush();
                true
            }))?;
            writeln!(out)?;
            if stats {
                eprintln!(
                    "prompt {} tokens, time to first token {:.1} ms, {} generated at {:.2} tokens/s ({})",
                    st.prompt_tokens,
                    st.time_to_first_token_ms,
                    st.generated_tokens,
                    st.decode_tokens_per_s(),
                    st.stop_reason
                );
            }
        }
        Cmd::Tokenize { model, file } => {
            let bytes = read_model(&model)?;
            let g = locum_engine::GgufModel::parse(&bytes)?;
            let tok = locum_engine::Tokenizer::from_gguf(&g.gguf)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let ids = tok.encode(&text)?;
            println!(
                "{}",
                ids.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        Cmd::Perplexity { model, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let bytes = read_model(&model)?;
            let g = locum_engine::GgufModel::parse(&bytes)?;
            let tok = locum_engine::Tokenizer::from_gguf(&g.gguf)?;
            let ids = tok.encode(&text)?;
            let gpu = pollster::block_on(Gpu::new())?;
            let mut m = locum_engine::Model::load(&gpu, &g, ids.len() as u32)?;
            if (m.ctx as usize) < ids.len() - 1 {
                bail!(
                    "the text is {} tokens, more than the model's context of {}",
                    ids.len(),
                    m.ctx
                );
            }
            let t = Instant::now();
            let nll = pollster::block_on(m.nll(&ids))?;
            let mean = nll.iter().map(|&v| v as f64).sum::<f64>() / nll.len() as f64;
            eprintln!("evaluated in {:.1} s", t.elapsed().as_secs_f64());
            println!("perplexity: {:.4} over {} tokens", mean.exp(), nll.len());
        }
        Cmd::Bench {
            model,
            prompt_tokens,
            decode_tokens,
            json,
        } => bench(&model, prompt_tokens, decode_tokens, json)?,
    }
    Ok(())
}

fn bench(model: &Path, prompt_tokens: usize, decode_tokens: usize, json: bool) -> Result<()> {
    let (gpu, mut s, load_ms) = load(model, (prompt_tokens + decode_tokens + 8) as u32)?;
    // A fixed prompt of the requested length, cut from repeated English text.
    let base = "The patient is a 54-year-old woman with two days of fever, cough and pleuritic chest pain. ";
    let mut ids = s.tokenizer.encode(&base.repeat(prompt_tokens / 8 + 2))?;
    ids.truncate(prompt_tokens);
    // Warm-up: compiles pipelines and touches every buffer once.
    pollster::block_on(s.generate(&ids[..8.min(ids.len())], 2, Sampling::greedy(), |_| true))?;
    // Prefill and time to first token, as a user sees them.
    let st = pollster::block_on(s.generate(&ids, 1, Sampling::greedy(), |_| true))?;
    // Decode a fixed number of tokens, not stopping at EOS.
    s.model.reset();
    pollster::block_on(s.model.prefill(&ids))?;
    let t = Instant::now();
    for _ in 0..decode_tokens {
        pollster::block_on(s.model.decode())?;
    }
    let decode_s = t.elapsed().as_secs_f64();
    let decode_tps = decode_tokens as f64 / decode_s;
    let prefill_tps = st.prefill_tokens_per_s();
    let a = &gpu.summary;
    let wbytes = s.model.weight_bytes_per_token();
    let rows: Vec<(&str, String)> = vec![
        (
            "adapter",
            format!("{} ({}, {})", a.name, a.backend, a.device_type),
        ),
        ("model", s.model.cfg.name.clone()),
        ("load ms", format!("{load_ms:.0}")),
        ("prompt tokens", ids.len().to_string()),
        ("prefill tokens/s", format!("{prefill_tps:.1}")),
        (
            "time to first token ms",
            format!("{:.1}", st.time_to_first_token_ms),
        ),
        ("decode tokens", decode_tokens.to_string()),
        ("decode tokens/s", format!("{decode_tps:.2}")),
        (
            "dispatches per token",
            s.model.dispatches_per_token().to_string(),
        ),
        ("submits per token", "1".into()),
        ("readback bytes per token", "4".into()),
        ("weight bytes per token", wbytes.to_string()),
        (
            "weight GB/s achieved",
            format!("{:.2}", wbytes as f64 * decode_tps / 1e9),
        ),
    ];
    if json {
        let obj: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(k, v)| {
                let key = k.replace([' ', '/'], "_").replace("__", "_per_");
                let val = v
                    .parse::<f64>()
                    .map(serde_json::Value::from)
                    .unwrap_or_else(|_| v.clone().into());
                (key, val)
            })
            .collect();
        println!("{}", serde_json::Value::Object(obj));
    } else {
        println!("| metric | value |\n|---|---|");
        for (k, v) in rows {
            println!("| {k} | {v} |");
        }
    }
    Ok(())
}
