// Shared by every attention kernel, appended to each: the step and the
// attention parameters as the host writes them (`ops::AttentionParams`),
// and the first position a query sees.

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct AttentionParams {
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    // 0: attend to every earlier position; else only the last `window`.
    window: u32,
    // Multiplies q·k (1/sqrt(head_dim) for llama).
    scale: f32,
    // Floats per score row (row attention); unused by the other kernels.
    stride: u32,
    _pad1: u32,
    _pad2: u32,
}

// The first position query position `qpos` sees.
fn window_first(qpos: u32) -> u32 {
    if (ap.window > 0u && qpos + 1u > ap.window) { return qpos + 1u - ap.window; }
    return 0u;
}
