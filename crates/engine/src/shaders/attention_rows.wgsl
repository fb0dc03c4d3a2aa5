// Shared by the three kernels of row attention (`attention_scores.wgsl`,
// `attention_softmax.wgsl`, `attention_values.wgsl`), appended to each: the
// structs and the causal spans. Row attention is `attention_vec4.wgsl`'s
// softmax(q·Kᵀ·scale)·V in three launches shaped for CPU adapters (lavapipe,
// SwiftShader), where a workgroup is SIMD lanes on one core and what costs is
// loads that differ from lane to lane and barriers:
//   1. scores: lane = 4 cached positions; it reads their K rows once and
//      dots them with every query of its KV head's GROUP heads and TQS
//      tokens, each query load serving the 4 positions;
//   2. softmax: workgroup = (head, token), 16 lanes strided over the
//      positions;
//   3. values: lane = 4 output values (HD/4 lanes, no workgroup memory); it
//      reads each V row once and adds it, weighed, to GROUP × TQ outputs.
// Each K and V row is read once per TQ tokens, where the one-pass kernel reads
// it once per head and token, and no barrier is taken per position.
// The score rows are `p.stride` wide (the context rounded up to 4), one per
// (token, head), so the last kernel reads four weights in one load.

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
    window: u32,
    scale: f32,
    // Floats per score row (row attention); unused by the other kernels.
    stride: u32,
    _pad1: u32,
    _pad2: u32,
}

// The head size (a multiple of 4 whose quarter divides 64).
override HD: u32 = 64u;
// Query heads per KV head.
override GROUP: u32 = 3u;
// Query tokens per workgroup of the values kernel (TQ · GROUP ≤ 32).
override TQ: u32 = 8u;

// The first position query position `qpos` sees.
fn window_first(qpos: u32) -> u32 {
    if (p.window > 0u && qpos + 1u > p.window) { return qpos + 1u - p.window; }
    return 0u;
}

// The positions token group `z` of `tq` tokens (tokens tq·z ..) sees
// between them, rounded out to whole vec4s: [lo, hi). Within a TQ group's
// span a token's weights outside its own span are 0 (the softmax kernel
// writes them).
fn group_span(z: u32, tq: u32) -> vec2<u32> {
    let t0 = z * tq;
    let nt = min(tq, step.n_tokens - t0);
    let lo = window_first(step.pos + t0) / 4u * 4u;
    let hi = (step.pos + t0 + nt + 3u) / 4u * 4u;
    return vec2<u32>(lo, hi);
}
