// Row attention, launch 1 of 3 (see `attention_rows.wgsl`): the scores.
// Workgroup (chunk c, KV head g, token group z of TQS tokens); lane i takes
// positions c·256 + i + 64k (k < 4), then (c + CHUNKS)·256 + i + 64k, ... up
// to the last the group's tokens see, reads each K row once, and writes
// q·k·scale for the GROUP query heads of g and the TQS tokens of z:
//   scores[(t · n_head + h) · stride + j]   (positions outside a token's
//   span are written too, and ignored).
// On CPU adapters every load in a loop is one per lane, so each lane holds
// four positions' sums and each query vec4 it loads serves all four; the
// queries, the same for every lane, come through `shared_row`.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: AttentionParams;
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;        // (n_tokens, n_head, HD/4)
@group(0) @binding(3) var<storage, read> k_cache: array<kv4>;   // (ctx, n_kv, HD/4)
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;   // (n_tokens, n_head, stride)

// Workgroups along the positions; each strides over the chunks of 256.
override CHUNKS: u32 = 8u;
// Query tokens per workgroup (4 · TQS · GROUP ≤ 64).
override TQS: u32 = 4u;

@compute @workgroup_size(64)
fn attention_scores(@builtin(workgroup_id) wid: vec3<u32>, lane: Lane) {
    let lid = lane.index;
    let g = wid.y;
    let t0 = wid.z * TQS;
    if (t0 >= step.n_tokens) { return; }
    let span = group_span(wid.z, TQS);
    let last_t = step.n_tokens - 1u;
    let last_j = step.kv_len - 1u;
    let hd4 = HD / 4u;
    let nq = TQS * GROUP;
    // Declared once and cleared on each pass by hand: Chromium's compiler
    // (Tint) did not zero an array declared inside the loop on each pass,
    // so a workgroup's second run of positions (past 2,048) added to its
    // first's sums.
    var acc: array<vec4<f32>, 16>;    // [query] → the four positions' sums
    for (var c0 = span.x / 256u * 256u + wid.x * 256u; c0 < span.y; c0 += CHUNKS * 256u) {
        for (var k = 0u; k < nq; k++) { acc[k] = vec4<f32>(0.0); }
        // Lanes past the span score the last position again and store nothing.
        let k0 = (min(c0 + lid, last_j) * p.n_kv + g) * hd4;
        let k1 = (min(c0 + lid + 64u, last_j) * p.n_kv + g) * hd4;
        let k2 = (min(c0 + lid + 128u, last_j) * p.n_kv + g) * hd4;
        let k3 = (min(c0 + lid + 192u, last_j) * p.n_kv + g) * hd4;
        for (var i = 0u; i < hd4; i++) {
            let ka = widen(k_cache[k0 + i]);
            let kb = widen(k_cache[k1 + i]);
            let kc = widen(k_cache[k2 + i]);
            let kd = widen(k_cache[k3 + i]);
            share_rows(lane, t0, g, last_t, nq, i);
            for (var tt = 0u; tt < TQS; tt++) {
                for (var hh = 0u; hh < GROUP; hh++) {
                    let qv = shared_row(tt * GROUP + hh, t0, g, last_t, i);
                    acc[tt * GROUP + hh] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd));
                }
            }
        }
        for (var tt = 0u; tt < TQS; tt++) {
            let t = t0 + tt;
            if (t <= last_t) {
                let row = (t * p.n_head + g * GROUP) * p.stride + c0 + lid;
                for (var hh = 0u; hh < GROUP; hh++) {
                    let s = acc[tt * GROUP + hh] * p.scale;
                    let r = row + hh * p.stride;
                    if (c0 + lid <= last_j) { scores[r] = s.x; }
                    if (c0 + lid + 64u <= last_j) { scores[r + 64u] = s.y; }
                    if (c0 + lid + 128u <= last_j) { scores[r + 128u] = s.z; }
                    if (c0 + lid + 192u <= last_j) { scores[r + 192u] = s.w; }
                }
            }
        }
    }
}

// Vec4 `off` of query row `row` (a token's head), for `shared_row`.
fn load_shared(row: u32, off: u32) -> vec4<f32> {
    return q[row * (HD / 4u) + off];
}
