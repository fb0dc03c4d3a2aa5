//! `locum synth`: GGUF files with random weights, shaped like a real model
//! (for the GPU check on a machine the real file cannot reach) or grown to a
//! size (for the loader's memory tests).

use super::*;

/// Writes a GGUF shaped like `like` (a GGUF or its header alone) with random
/// weights, or with `header_only` its header alone (see `Cmd::Synth`).
pub(crate) fn synth_like(like: &Path, out: &Path, header_only: bool, seed: u64) -> Result<u64> {
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
pub(crate) fn synth(tokenizer_from: &Path, out: &Path, target: u64, seed: u64) -> Result<u64> {
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
