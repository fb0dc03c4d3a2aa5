//! `locum`: Locum's engine on the command line, on the machine's own GPU
//! adapter (Vulkan, Metal or DX12; lavapipe on a machine without a GPU).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use locum_engine::{Gpu, Sampling, Session};

mod assist;
mod bench;
mod synth;

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
    /// Convert a GGUF model into shards a static host can serve: GPU-ready
    /// tensors in shard files, manifest.json (with every shard's sha256) and
    /// tokenizer.json. The same input always gives byte-identical output.
    Shard {
        /// The GGUF file.
        model: PathBuf,
        /// The directory to write (created if needed).
        #[arg(long)]
        out: PathBuf,
        /// Target shard size in MiB.
        #[arg(long, default_value_t = 32)]
        shard_mib: u64,
        /// The model's name as people see it (default: the GGUF's general.name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Re-hash every shard of a shard directory against its manifest; names
    /// each bad file and exits with status 1 if there is one.
    Verify { dir: PathBuf },
    /// Write a synthetic llama model of about `size_mib` MiB: random Q4_1
    /// weights in the real layout, with the tokenizer and chat template of
    /// `tokenizer_from`. For load and memory tests of models larger than the
    /// default one; its answers are noise. With `--like`, a model shaped
    /// exactly as another (its metadata, tensor names, types and shapes)
    /// with random weights: it runs the same kernels, and decodes at that
    /// model's speed.
    Synth {
        /// A real GGUF whose tokenizer the synthetic model borrows.
        #[arg(long, required_unless_present = "like")]
        tokenizer_from: Option<PathBuf>,
        /// A GGUF, or the header alone of one (`--header-only`), to copy the
        /// shape of (size_mib and tokenizer_from are then not used).
        #[arg(long)]
        like: Option<PathBuf>,
        /// Write only the header (a few MB for a model of any size), which
        /// `--like` takes where the whole file cannot be carried (the GPU
        /// check, scripts/device/).
        #[arg(long, requires = "like")]
        header_only: bool,
        /// The GGUF file to write.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Reason over a clinical case and give a ranked differential, as the
    /// page does: free reasoning, then the differential as JSON under the
    /// schema's grammar. The case is a case JSON file, a FHIR R4 Bundle, or
    /// plain text; or a built-in fictional example (`--example ID`). Give
    /// several (`--example A --example B --case F`) to answer each in turn
    /// in one session, as the page does case after case: the examples in
    /// order, then the files.
    Assist {
        /// A GGUF file or a shard directory.
        #[arg(long, default_value = "model-shards/smollm2-135m-instruct")]
        model: PathBuf,
        #[arg(long, required_unless_present = "example")]
        case: Vec<PathBuf>,
        /// A built-in example case: chest-pain, meningitis, ... (`--example list`).
        #[arg(long)]
        example: Vec<String>,
        /// Print only the differential's JSON.
        #[arg(long)]
        json: bool,
        /// The date the case is seen (YYYY-MM-DD); default today, or the
        /// examples' own date for an example.
        #[arg(long)]
        today: Option<String>,
        /// KV-cache positions.
        #[arg(long, default_value_t = 2048)]
        ctx: u32,
        /// 0 = greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        #[arg(long, default_value_t = 0)]
        seed: u32,
        /// Most tokens of free reasoning (default: the pipeline's, 256).
        #[arg(long)]
        reasoning_tokens: Option<usize>,
        /// Most tokens of differential JSON (default: the pipeline's). A short
        /// limit still gives complete, schema-valid JSON: the grammar winds it
        /// down in time.
        #[arg(long)]
        differential_tokens: Option<usize>,
        /// Sample every token of the differential, also those the grammar
        /// forces (keys, punctuation), one step each, rather than feeding
        /// forced tokens in a batch: to measure what forcing saves.
        #[arg(long)]
        sample_every_token: bool,
    },
    /// Measure prefill and decode speed.
    Bench {
        #[arg(long)]
        model: PathBuf,
        /// Prompt tokens for the prefill measurement.
        #[arg(long, default_value_t = 200)]
        prompt_tokens: usize,
        /// Tokens to decode after each context length.
        #[arg(long, default_value_t = 64)]
        decode_tokens: usize,
        /// Context lengths to decode after (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "0")]
        contexts: Vec<usize>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Also time every kernel of one decode step and one prefill batch
        /// on its own, and print where the time goes.
        #[arg(long)]
        profile: bool,
    },
}

fn read_model(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the model file {}", path.display()))
}

/// Loads a GGUF file, or a shard directory written by `locum shard`.
fn load(path: &Path, ctx: u32) -> Result<(Gpu, Session, f64)> {
    let t = Instant::now();
    let gpu = pollster::block_on(Gpu::new())?;
    let session = if path.is_dir() {
        Session::load_dir(&gpu, path, ctx)?
    } else {
        let bytes = read_model(path)?;
        Session::load(&gpu, &bytes, ctx)?
    };
    release_free_heap();
    Ok((gpu, session, t.elapsed().as_secs_f64() * 1e3))
}

/// Hands the heap's free pages back to the system. The load frees much of
/// what it used (the file's bytes, the shader compiles' working memory on
/// their threads), but glibc keeps freed pages in its arenas, where they
/// count against the process for the rest of its life: 48–60 MB of
/// SmolLM2's load on lavapipe, and its peak RSS 588–598 MB before, 555–561
/// after (BENCHMARKS.md, "twenty-fifth session").
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_heap() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: malloc_trim takes no pointer and only returns free pages.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_heap() {}

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
                if st.drafted_tokens > 0 {
                    eprintln!(
                        "prompt lookup: {} of {} drafted tokens accepted",
                        st.accepted_tokens, st.drafted_tokens
                    );
                }
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
        Cmd::Shard {
            model,
            out,
            shard_mib,
            name,
        } => {
            let t = Instant::now();
            let r = locum_shard::convert(&model, &out, shard_mib << 20, name.as_deref())?;
            let m = &r.manifest;
            println!(
                "{}: {} tensors in {} shards, {:.1} MB, written to {} in {:.1} s",
                m.model.name,
                m.tensors.len(),
                m.shards.len(),
                m.total_bytes() as f64 / 1e6,
                out.display(),
                t.elapsed().as_secs_f64()
            );
            for s in &m.shards {
                println!("  {}  {:>11} bytes  {}", s.file, s.bytes, s.sha256);
            }
        }
        Cmd::Assist {
            model,
            case,
            example,
            json,
            today,
            ctx,
            temperature,
            seed,
            reasoning_tokens,
            differential_tokens,
            sample_every_token,
        } => assist::assist(
            &model,
            &case,
            &example,
            json,
            today.as_deref(),
            ctx,
            temperature,
            seed,
            (reasoning_tokens, differential_tokens, sample_every_token),
        )?,
        Cmd::Synth {
            tokenizer_from,
            like,
            header_only,
            out,
            size_mib,
            seed,
        } => {
            let n = match (like, tokenizer_from) {
                (Some(like), _) => synth::synth_like(&like, &out, header_only, seed)?,
                (None, Some(from)) => synth::synth(&from, &out, size_mib << 20, seed)?,
                (None, None) => anyhow::bail!("synth needs --tokenizer-from or --like"),
            };
            println!("wrote {} ({:.1} MB)", out.display(), n as f64 / 1e6);
        }
        Cmd::Verify { dir } => {
            let (m, bad) = locum_shard::verify(&dir)?;
            if bad.is_empty() {
                println!(
                    "{}: all {} shards and the tokenizer match the manifest",
                    m.model.name,
                    m.shards.len()
                );
            } else {
                for b in &bad {
                    eprintln!("BAD {}: {}", b.file, b.problem);
                }
                eprintln!("{} of {} files are bad", bad.len(), m.shards.len() + 1);
                std::process::exit(1);
            }
        }
        Cmd::Bench {
            model,
            prompt_tokens,
            decode_tokens,
            contexts,
            json,
            profile,
        } => bench::bench(
            &model,
            prompt_tokens,
            decode_tokens,
            &contexts,
            json,
            profile,
        )?,
    }
    Ok(())
}
