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
        } => assist(
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
                (Some(like), _) => synth_like(&like, &out, header_only, seed)?,
                (None, Some(from)) => synth(&from, &out, size_mib << 20, seed)?,
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
        } => bench(
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

/// Today's date from the system clock.
fn today_utc() -> locum_clinical::Date {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    locum_clinical::Date::from_days_since_epoch(days as i64)
}

/// Reads a case file: case JSON, a FHIR Bundle, or plain text.
fn read_case(path: &Path, today: locum_clinical::Date) -> Result<locum_clinical::Case> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    Ok(match json {
        Some(v) if v.get("resourceType").and_then(|r| r.as_str()) == Some("Bundle") => {
            let import = locum_clinical::import_bundle(&text, today)?;
            for s in &import.skipped {
                eprintln!(
                    "skipped {} {} resource(s): {}",
                    s.count, s.resource_type, s.reason
                );
            }
            import.case
        }
        Some(_) => locum_clinical::Case::from_json(&text)?,
        None => locum_clinical::Case::from_plain_text(&text),
    })
}

#[allow(clippy::too_many_arguments)]
fn assist(
    model: &Path,
    cases: &[PathBuf],
    examples: &[String],
    json: bool,
    today: Option<&str>,
    ctx: u32,
    temperature: f32,
    seed: u32,
    (reasoning_tokens, differential_tokens, sample_every_token): (
        Option<usize>,
        Option<usize>,
        bool,
    ),
) -> Result<()> {
    use locum_assist::AssistEvent;
    let today = match today {
        Some(t) => Some(locum_clinical::Date::parse(t)?),
        None => None,
    };
    // Each case with the date it is seen: `--today`, else the examples' own
    // date for an example and today's for a file.
    let mut todo = Vec::new();
    for id in examples {
        let d = today.unwrap_or_else(locum_clinical::examples::example_date);
        let all = locum_clinical::examples::examples_as_of(d);
        if id == "list" {
            for (id, title, _) in &all {
                println!("{id}\t{title}");
            }
            return Ok(());
        }
        let case = all
            .into_iter()
            .find(|(i, _, _)| i == id)
            .map(|(_, _, c)| c)
            .with_context(|| format!("no example {id:?}; try --example list"))?;
        todo.push((case, d));
    }
    for path in cases {
        let d = today.unwrap_or_else(today_utc);
        todo.push((read_case(path, d)?, d));
    }
    if todo.is_empty() {
        bail!("give --case FILE or --example ID");
    }
    let (_gpu, mut session, _) = load(model, ctx)?;
    let mut assistant = match sample_every_token {
        true => locum_assist::Assistant::sampling_every_token(&session)?,
        false => locum_assist::Assistant::new(&session)?,
    };
    if let Some(n) = reasoning_tokens {
        assistant.phases.reasoning_max_tokens = n;
    }
    if let Some(n) = differential_tokens {
        assistant.phases.differential_max_tokens = n;
    }
    let sampling = Sampling {
        temperature,
        top_k: 40,
        top_p: 0.95,
        seed,
    };
    let mut json_values = Vec::new();
    for (n, (case, today)) in todo.iter().enumerate() {
        if n > 0 && !json {
            println!("\n");
        }
        let mut out = std::io::stdout().lock();
        let answer = pollster::block_on(assistant.answer(
            &mut session,
            case,
            *today,
            sampling,
            &|| false,
            |e| {
                if json {
                    return;
                }
                match e {
                    AssistEvent::Prompt {
                        tokens,
                        omitted,
                        warnings,
                    } => {
                        let _ = writeln!(out, "[case: {tokens} prompt tokens]");
                        for o in omitted {
                            let _ = writeln!(out, "[left out to fit the context: {o}]");
                        }
                        for w in warnings {
                            let _ = writeln!(out, "[flagged: {}]", w.message);
                        }
                        let _ = writeln!(out, "\nReasoning:");
                    }
                    AssistEvent::Reasoning(piece) => {
                        let _ = out.write_all(piece.as_bytes());
                        let _ = out.flush();
                    }
                    AssistEvent::Item(i, item, code) => {
                        let coded = match code {
                            Some(c) => format!("ICD-10-CM {} {}", c.code, c.title),
                            None => "uncoded".to_string(),
                        };
                        let _ = writeln!(
                            out,
                            "\n{}. {} ({:?}{}) [{coded}]",
                            i + 1,
                            item.diagnosis,
                            item.likelihood,
                            if item.cant_miss { ", can't miss" } else { "" }
                        );
                    }
                    _ => {}
                }
            },
        ))?;
        if json {
            // The differential as the schema has it, each diagnosis with its
            // ICD-10-CM code (null where the lookup found none).
            let mut value = serde_json::to_value(&answer.differential)?;
            if let Some(items) = value["differential"].as_array_mut() {
                for (item, code) in items.iter_mut().zip(&answer.codes) {
                    item["icd10cm"] = match code {
                        Some(c) => {
                            serde_json::json!({"code": c.code, "title": c.title, "billable": c.billable})
                        }
                        None => serde_json::Value::Null,
                    };
                }
            }
            json_values.push(value);
        } else {
            println!(
                "\n\nDifferential (JSON):\n{}",
                serde_json::to_string_pretty(&answer.differential)?
            );
            let d = &answer.differential_stats;
            eprintln!(
            "first reasoning token {:.0} ms, differential complete {:.0} ms; {} reasoning + {} differential tokens",
            answer.time_to_first_token_ms,
            answer.total_ms,
            answer.reasoning_stats.generated_tokens,
            d.generated_tokens
        );
            eprintln!(
            "differential: {} tokens ({} forced by the grammar) in {:.0} ms after its first, {:.2} tokens/s; prompt lookup: {} of {} drafted tokens accepted, {} checked tokens refused by the grammar",
            d.generated_tokens,
            d.forced_tokens,
            d.decode_ms,
            d.decode_tokens_per_s(),
            d.accepted_tokens,
            d.drafted_tokens,
            d.refed_tokens
        );
            let r = &answer.reasoning_stats;
            eprintln!(
                "reasoning: {} tokens in {:.0} ms after its first, {:.2} tokens/s; prompt lookup: {} of {} drafted tokens accepted",
                r.generated_tokens,
                r.decode_ms,
                r.decode_tokens_per_s(),
                r.accepted_tokens,
                r.drafted_tokens
            );
            eprintln!(
                "prompt: {} tokens, {} kept in the cache from the case before, {} read in {:.0} ms",
                r.reused_tokens + r.prompt_tokens,
                r.reused_tokens,
                r.prompt_tokens,
                r.time_to_first_token_ms
            );
        }
    }
    // One case: its JSON; several: an array of them, in order.
    match json_values.len() {
        0 => {}
        1 => println!("{}", serde_json::to_string_pretty(&json_values[0])?),
        _ => println!("{}", serde_json::to_string_pretty(&json_values)?),
    }
    Ok(())
}

/// Writes a GGUF shaped like `like` (a GGUF or its header alone) with random
/// weights, or with `header_only` its header alone (see `Cmd::Synth`).
fn synth_like(like: &Path, out: &Path, header_only: bool, seed: u64) -> Result<u64> {
    use locum_engine::format::gguf::Value;
    use locum_engine::format::gguf_write::{write_random_blocks, GgufWriter};
    use locum_engine::GgmlType;

    let bytes = std::fs::read(like).with_context(|| format!("cannot read {}", like.display()))?;
    // Its tensors' data need not be there: only the header is read.
    let shape = locum_engine::Gguf::parse_header(&bytes, u64::MAX)
        .with_context(|| format!("{} is not a GGUF or a GGUF's header", like.display()))?;
    let mut w = GgufWriter::shaped_like(&shape)?;
    if !header_only {
        // Named as what it is wherever its name is shown (the bench table).
        let name = shape.get_str("general.name").unwrap_or("a model");
        w.add_meta(
            "general.name",
            Value::String(format!("{name}, its shape with random weights")),
        )?;
    }
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    if header_only {
        return Ok(w.write_header(file)?);
    }
    // Norm weights (the F32 vectors) near 1, as trained ones are: at ±0.05
    // each norm would shrink the activations twentyfold.
    let mut next = xorshift(seed);
    Ok(w.write(file, |i, out| {
        let t = &w.tensors()[i];
        if t.ty == GgmlType::F32 && t.shape.len() == 1 {
            for _ in 0..t.shape[0] {
                let v = 1.0 + 0.1 * (next() as f32 / u32::MAX as f32 - 0.5);
                out.write_all(&v.to_le_bytes())?;
            }
            return Ok(());
        }
        write_random_blocks(out, t.ty, t.n_blocks(), 0.05, &mut next)
    })?)
}

/// xorshift64*: reproducible from the seed, no dependency.
fn xorshift(seed: u64) -> impl FnMut() -> u32 {
    let mut state = seed.max(1);
    move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

/// Writes a synthetic llama GGUF of about `target` bytes (see `Cmd::Synth`).
fn synth(tokenizer_from: &Path, out: &Path, target: u64, seed: u64) -> Result<u64> {
    use locum_engine::format::gguf::Value;
    use locum_engine::format::gguf_write::GgufWriter;
    use locum_engine::GgmlType;

    let src_bytes = read_model(tokenizer_from)?;
    let src = locum_engine::Gguf::parse(&src_bytes)?;
    let vocab = src.get_str_array("tokenizer.ggml.tokens")?.len() as u64;
    let (dim, n_head, n_kv, n_ff) = (2048u64, 16u64, 4u64, 5632u64);
    let q4_1 = |n: u64| n / 32 * 20;
    let per_layer = q4_1(2 * dim * dim + 2 * dim * (dim / n_head * n_kv) + 3 * dim * n_ff);
    let embd = q4_1(vocab * dim);
    let n_layers = target.saturating_sub(embd).div_ceil(per_layer).max(1);

    let mut w = GgufWriter::new();
    let meta = |w: &mut GgufWriter, k: &str, v: Value| w.add_meta(k, v);
    meta(
        &mut w,
        "general.architecture",
        Value::String("llama".into()),
    )?;
    meta(
        &mut w,
        "general.name",
        Value::String(format!("Synthetic llama {} MiB", target >> 20)),
    )?;
    for (k, v) in [
        ("embedding_length", dim),
        ("block_count", n_layers),
        ("attention.head_count", n_head),
        ("attention.head_count_kv", n_kv),
        ("feed_forward_length", n_ff),
        ("context_length", 2048),
        ("rope.dimension_count", dim / n_head),
    ] {
        meta(&mut w, &format!("llama.{k}"), Value::U32(v as u32))?;
    }
    meta(&mut w, "llama.rope.freq_base", Value::F32(10000.0))?;
    meta(
        &mut w,
        "llama.attention.layer_norm_rms_epsilon",
        Value::F32(1e-5),
    )?;
    w.add_meta_from(&src, "tokenizer.")?;
    let kv = dim / n_head * n_kv;
    w.add_tensor("token_embd.weight", GgmlType::Q4_1, &[dim, vocab])?;
    w.add_tensor("output_norm.weight", GgmlType::F32, &[dim])?;
    for l in 0..n_layers {
        let t = |s: &str| format!("blk.{l}.{s}.weight");
        w.add_tensor(t("attn_norm"), GgmlType::F32, &[dim])?;
        w.add_tensor(t("ffn_norm"), GgmlType::F32, &[dim])?;
        for (name, n_in, n_out) in [
            ("attn_q", dim, dim),
            ("attn_k", dim, kv),
            ("attn_v", dim, kv),
            ("attn_output", dim, dim),
            ("ffn_gate", dim, n_ff),
            ("ffn_up", dim, n_ff),
            ("ffn_down", n_ff, dim),
        ] {
            w.add_tensor(t(name), GgmlType::Q4_1, &[n_in, n_out])?;
        }
    }
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    Ok(w.write_random(file, 0.05, xorshift(seed))?)
}

fn bench(
    model: &Path,
    prompt_tokens: usize,
    decode_tokens: usize,
    contexts: &[usize],
    json: bool,
    profile: bool,
) -> Result<()> {
    let deepest = contexts
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(prompt_tokens);
    let (gpu, mut s, load_ms) = load(model, (deepest + decode_tokens + 8) as u32)?;
    // A fixed prompt of the requested length, cut from repeated English text
    // (the same as scripts/bench.py gives llama.cpp).
    let ids_for = |s: &Session, n: usize| -> Result<Vec<u32>> {
        let mut ids = s.tokenizer.encode(&BENCH_TEXT.repeat(n / 8 + 2))?;
        ids.truncate(n);
        Ok(ids)
    };
    let ids = ids_for(&s, prompt_tokens)?;
    // Warm-up: compiles pipelines and touches every buffer once.
    pollster::block_on(s.generate(&ids[..8.min(ids.len())], 2, Sampling::greedy(), |_| true))?;
    // The warm-up's last step, submitted ahead and dropped, may still be
    // running; a user's next question comes later than that.
    pollster::block_on(gpu.wait_idle())?;
    // Prefill and time to first token, as a user sees them.
    let st = pollster::block_on(s.generate(&ids, 1, Sampling::greedy(), |_| true))?;
    // Decode a fixed number of tokens after each context length, not
    // stopping at EOS.
    let mut decode = Vec::new();
    for &c in contexts {
        s.model.reset();
        let ctx_ids = ids_for(&s, c.max(1))?;
        pollster::block_on(s.model.prefill(&ctx_ids))?;
        s.model.take_host_time();
        let t = Instant::now();
        for _ in 0..decode_tokens {
            pollster::block_on(s.model.decode_ahead())?;
        }
        s.model.settle();
        let (steps, host) = s.model.take_host_time();
        let host_ms = host.as_secs_f64() * 1e3 / steps.max(1) as f64;
        decode.push((c, decode_tokens as f64 / t.elapsed().as_secs_f64(), host_ms));
    }
    if profile {
        // A decode step, and a prefill batch of the prompt's size (at most
        // 64 tokens: `--prompt-tokens 4` times a grammar's forced batch).
        let batch = (prompt_tokens as u32).clamp(2, 64);
        for n in [1u32, batch] {
            let mut rows = pollster::block_on(s.model.profile(n, 5))?;
            let total: f64 = rows.iter().map(|(_, ms)| ms).sum();
            rows.sort_by(|a, b| b.1.total_cmp(&a.1));
            eprintln!("kernel times for a batch of {n} token(s), total {total:.2} ms");
            for (name, ms) in rows {
                eprintln!("  {name:<28} {ms:9.3} ms {:5.1}%", 100.0 * ms / total);
            }
        }
        // The same step's launches timed where they run, in one pass.
        if let Some(mut p) = pollster::block_on(s.model.profile_in_pass(10))? {
            p.kernels.sort_by(|a, b| b.1.total_cmp(&a.1));
            eprintln!(
                "kernel times inside one decode pass (GPU timestamps), first launch's start to last one's end {:.2} ms",
                p.total_ms
            );
            for (name, ms) in p.kernels {
                eprintln!("  {name:<28} {ms:9.3} ms {:5.1}%", 100.0 * ms / p.total_ms);
            }
            eprintln!(
                "  {:<28} {:9.3} ms {:5.1}%",
                "between launches",
                p.gaps_ms,
                100.0 * p.gaps_ms / p.total_ms
            );
        }
    }
    // Peak memory before the bandwidth test's own 512 MiB of buffers.
    let peak_mb = peak_rss_mb();
    let copy_bw = pollster::block_on(gpu.copy_bandwidth(256 << 20, 5))?;
    // A decode step's launches, empty, in one pass: what the step pays the
    // adapter per launch whatever its kernels do.
    let launches = s.model.dispatches_per_token() as u32;
    let launch_s = pollster::block_on(gpu.launch_cost(launches, LAUNCH_PROBE_WORKGROUPS, 5))?;
    let a = &gpu.summary;
    let wbytes = s.model.weight_bytes_per_token();
    let first_decode = decode.first().map_or(0.0, |d| d.1);
    let mut rows: Vec<(String, String)> = vec![
        (
            "adapter".into(),
            format!("{} ({}, {})", a.name, a.backend, a.device_type),
        ),
        ("model".into(), s.model.cfg.name.clone()),
        (
            "KV cache".into(),
            if gpu.kv_f16() { "f16" } else { "f32" }.into(),
        ),
        (
            "weights in".into(),
            match (gpu.weight_textures(), gpu.weight_storage_textures()) {
                (false, _) => "storage buffers",
                (true, false) => "sampled textures",
                (true, true) => "storage textures",
            }
            .into(),
        ),
        (
            "decode products".into(),
            match gpu.x_q8(locum_engine::GgmlType::Q4_1) {
                true => "int8 x (Q4_0, Q4_1)",
                false => "f32 x",
            }
            .into(),
        ),
        (
            "CPU driver worker threads".into(),
            // Mesa's CPU drivers' thread pool (`Gpu::new` sets it), where
            // the adapter is one of them.
            match a.device_type.as_str() {
                "Cpu" => std::env::var("LP_NUM_THREADS").unwrap_or_else(|_| "unset".into()),
                _ => "not a CPU adapter".into(),
            },
        ),
        ("load ms".into(), format!("{load_ms:.0}")),
        ("prompt tokens".into(), ids.len().to_string()),
        (
            "prefill tokens/s".into(),
            format!("{:.1}", st.prefill_tokens_per_s()),
        ),
        (
            "time to first token ms".into(),
            format!("{:.1}", st.time_to_first_token_ms),
        ),
        ("decode tokens".into(), decode_tokens.to_string()),
    ];
    for (c, tps, _) in &decode {
        rows.push((
            format!("decode tokens/s at context {c}"),
            format!("{tps:.2}"),
        ));
    }
    if let Some((_, _, host_ms)) = decode.first() {
        rows.push(("host ms to record a step".into(), format!("{host_ms:.3}")));
    }
    rows.extend([
        (
            "dispatches per token".into(),
            s.model.dispatches_per_token().to_string(),
        ),
        (
            "dispatches per token, long-context attention".into(),
            match s.model.dispatches_per_token_long() {
                Some((n, from)) => format!("{n} from context {from}"),
                None => "never split".into(),
            },
        ),
        (
            // Decode's layer tails in one launch each (lavapipe), and
            // whether they still ran at the end: a step whose workgroups
            // did not all meet turns them off.
            "layer tails in one launch at the end".into(),
            match s.model.layer_tails() {
                true => "yes",
                false => "no",
            }
            .into(),
        ),
        ("submits per token".into(), "1".into()),
        ("readback bytes per token".into(), "4".into()),
        ("weight bytes per token".into(), wbytes.to_string()),
        (
            "weight GB/s achieved".into(),
            format!("{:.2}", wbytes as f64 * first_decode / 1e9),
        ),
        (
            "copy GB/s (read + write)".into(),
            format!("{:.2}", copy_bw / 1e9),
        ),
        (
            "roofline fraction".into(),
            format!("{:.3}", wbytes as f64 * first_decode / copy_bw),
        ),
        (
            "empty launch microseconds".into(),
            format!("{:.1}", launch_s * 1e6),
        ),
        (
            "launch share of a decode step".into(),
            format!("{:.3}", f64::from(launches) * launch_s * first_decode),
        ),
        ("peak memory MB".into(), format!("{peak_mb:.1}")),
    ]);
    if json {
        let obj: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(k, v)| {
                let key: String = k
                    .replace("/s", "_per_s")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>()
                    .split('_')
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join("_");
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

/// Workgroups in each of `locum bench`'s empty launches ([`Gpu::launch_cost`]):
/// a few, as a decode step's small launches (attention's, the 576-row
/// products') have.
const LAUNCH_PROBE_WORKGROUPS: u32 = 4;

/// The text `locum bench` cuts its prompts from.
const BENCH_TEXT: &str =
    "The patient is a 54-year-old woman with two days of fever, cough and pleuritic chest pain. ";

/// This process's peak resident memory in MB (Linux: VmHWM), which on a
/// CPU adapter includes the "GPU" buffers; 0 where unknown.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb * 1024.0 / 1e6)
}
