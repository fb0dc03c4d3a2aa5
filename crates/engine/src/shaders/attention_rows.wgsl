// Shared by the three kernels of row attention (`attention_scores.wgsl`,
// `attention_softmax.wgsl`, `attention_values.wgsl`), appended to each: the
// overrides and the causal spans (with `attention_common.wgsl`'s structs). Row attention is `attention_vec4.wgsl`'s
// softmax(q·Kᵀ·scale)·V in three launches shaped for CPU adapters (lavapipe,
// SwiftShader), where a workgroup is SIMD lanes on one core and what costs is
// loads that differ from lane to lane and barriers:
//   1. scores: lane = 4 cached positions; it reads their K rows once and
//      dots them with every query of its KV head's GROUP heads and TQ
//      tokens, each query load serving the 4 positions;
//   2. softmax: workgroup = (head, token), 8 lanes strided over the
//      positions;
//   3. values: lane = 4 output values (HD/4 lanes, no workgroup memory); it
//      reads each V row once and adds it, weighed, to GROUP × TQ outputs.
// Each K and V row is read once per TQ tokens, where the one-pass kernel reads
// it once per head and token, and no barrier is taken per position.
// The score rows are `ap.stride` wide (the context rounded up to 4), one per
// (token, head), so the last kernel reads four weights in one load.
// The scores kernel reads its queries and the values kernel its weights,
// the same in every lane, through `share_rows` (once for each vec4 along
// the rows) and `shared_row`, which attention_share_uniform.wgsl or
// attention_share_subgroup.wgsl define, after this file. So that the sums
// stay in registers, a workgroup takes at most 16 (token, head) rows:
// TQ · GROUP ≤ 16. The scores and values kernels write their steps over
// the rows out, one statement per row with a constant index, guarded by
// `k < TQ · GROUP`: SwiftShader's compiler does not unroll loops, and an
// array indexed by a loop's counter stays in memory there. Lab
// (`scripts/lab_attention.py`, 64 tokens at position 1,024, ms a launch):
// SwiftShader scores 34.3 -> 15.3, values 33.5 -> 13.8; lavapipe 1.87 ->
// 1.59 and 1.54 -> 1.32.

// The head size (a multiple of 4 whose quarter divides 64).
override HD: u32 = 64u;
// Query heads per KV head.
override GROUP: u32 = 3u;
// Query tokens per workgroup of the three kernels (TQ · GROUP ≤ 16).
override TQ: u32 = 8u;

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

// The row of query qi = tt · GROUP + hh of KV head g's tokens from t0
// (token t0 + tt, clamped to the batch, and head g · GROUP + hh) in the
// (token, head) rows of q and of the scores.
fn query_row(qi: u32, t0: u32, g: u32, last_t: u32) -> u32 {
    return min(t0 + qi / GROUP, last_t) * ap.n_head + g * GROUP + qi % GROUP;
}
