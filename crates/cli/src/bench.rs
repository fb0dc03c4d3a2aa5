//! `locum bench`: load, prefill, time to first token and decode at several
//! contexts, with the launches, readbacks, weight bandwidth and roofline of a
//! decode step, as one table or JSON (what `scripts/bench.py` reads). A
//! measurement, not a test.

use super::*;

pub(crate) fn bench(
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
