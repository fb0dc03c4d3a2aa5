// Row attention, launch 1 of 3 (see `attention_rows.wgsl`): the scores.
// Workgroup (chunk c, KV head g, token group z of TQ tokens); lane i takes
// positions c·CH + 4i .. c·CH + 4i + 3, then (c + CHUNKS)·CH + 4i .., ... up
// to the last the group's tokens see, reads each K row once, and writes
// q·k·scale for the GROUP query heads of g and the TQ tokens of z, a vec4
// of four positions a store:
//   scores[(t · n_head + h) · stride + j]   (positions outside a token's
//   span are written too, and ignored).
// On CPU adapters every load in a loop is one per lane, so each lane holds
// four positions' sums and each query vec4 it loads serves all four; the
// queries, the same for every lane, come through `shared_row`. Eight lanes
// (one SIMD row of lavapipe's) and 32 positions a chunk: a chunk of 256
// (64 lanes) scored up to 255 positions past a group's span and stored
// each position apart. Lab (`scripts/lab_attention.py`, 64 tokens at
// position 1,024): lavapipe 2.9 -> 1.9 ms a launch, SwiftShader 44 -> 35.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> ap: AttentionParams;
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;        // (n_tokens, n_head, HD/4)
@group(0) @binding(3) var<storage, read> k_cache: array<kv4>;   // (ctx, n_kv, HD/4)
@group(0) @binding(4) var<storage, read_write> scores: array<vec4<f32>>; // (n_tokens, n_head, stride / 4)

// Workgroups along the positions; each strides over the chunks of CH.
override CHUNKS: u32 = 8u;
// Lanes a workgroup, and the positions they take at once.
const WG: u32 = 8u;
const CH: u32 = 4u * WG;

@compute @workgroup_size(WG)
fn attention_scores(@builtin(workgroup_id) wid: vec3<u32>, lane: Lane) {
    let lid = lane.index;
    let g = wid.y;
    let t0 = wid.z * TQ;
    if (t0 >= step.n_tokens) { return; }
    let span = group_span(wid.z, TQ);
    let last_t = step.n_tokens - 1u;
    let last_j = step.kv_len - 1u;
    let hd4 = HD / 4u;
    let nq = TQ * GROUP;
    // Declared once and cleared on each pass by hand: Chromium's compiler
    // (Tint) did not zero an array declared inside the loop on each pass,
    // so a workgroup's second run of positions (past 2,048) added to its
    // first's sums.
    var acc: array<vec4<f32>, 16>;    // [query] → the four positions' sums
    for (var c0 = span.x / CH * CH + wid.x * CH; c0 < span.y; c0 += CHUNKS * CH) {
        acc = array<vec4<f32>, 16>();
        // Lanes past the span score the last position again and store nothing.
        let j0 = c0 + 4u * lid;
        let k0 = (min(j0, last_j) * ap.n_kv + g) * hd4;
        let k1 = (min(j0 + 1u, last_j) * ap.n_kv + g) * hd4;
        let k2 = (min(j0 + 2u, last_j) * ap.n_kv + g) * hd4;
        let k3 = (min(j0 + 3u, last_j) * ap.n_kv + g) * hd4;
        for (var i = 0u; i < hd4; i++) {
            let ka = widen(k_cache[k0 + i]);
            let kb = widen(k_cache[k1 + i]);
            let kc = widen(k_cache[k2 + i]);
            let kd = widen(k_cache[k3 + i]);
            share_rows(lane, t0, g, last_t, nq, i);
            // Written out, query by query: SwiftShader's compiler does not
            // unroll loops, and an array indexed by a loop's counter lives in
            // memory there (see `attention_rows.wgsl`).
            if (0u < nq) { let qv = shared_row(0u, t0, g, last_t, i); acc[0] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (1u < nq) { let qv = shared_row(1u, t0, g, last_t, i); acc[1] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (2u < nq) { let qv = shared_row(2u, t0, g, last_t, i); acc[2] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (3u < nq) { let qv = shared_row(3u, t0, g, last_t, i); acc[3] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (4u < nq) { let qv = shared_row(4u, t0, g, last_t, i); acc[4] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (5u < nq) { let qv = shared_row(5u, t0, g, last_t, i); acc[5] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (6u < nq) { let qv = shared_row(6u, t0, g, last_t, i); acc[6] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (7u < nq) { let qv = shared_row(7u, t0, g, last_t, i); acc[7] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (8u < nq) { let qv = shared_row(8u, t0, g, last_t, i); acc[8] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (9u < nq) { let qv = shared_row(9u, t0, g, last_t, i); acc[9] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (10u < nq) { let qv = shared_row(10u, t0, g, last_t, i); acc[10] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (11u < nq) { let qv = shared_row(11u, t0, g, last_t, i); acc[11] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (12u < nq) { let qv = shared_row(12u, t0, g, last_t, i); acc[12] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (13u < nq) { let qv = shared_row(13u, t0, g, last_t, i); acc[13] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (14u < nq) { let qv = shared_row(14u, t0, g, last_t, i); acc[14] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
            if (15u < nq) { let qv = shared_row(15u, t0, g, last_t, i); acc[15] += vec4<f32>(dot(qv, ka), dot(qv, kb), dot(qv, kc), dot(qv, kd)); }
        }
        // A row's vec4 at j0 lies within the row (the stride is a multiple
        // of 4); past the cache's end it is ignored.
        if (j0 <= last_j) { store_rows(t0, g, last_t, j0, acc); }
    }
}

// Query qi's four scores from position j0 into its score row (none for a
// query past the batch's last token).
fn store_row(qi: u32, t0: u32, g: u32, last_t: u32, j0: u32, s: vec4<f32>) {
    if (t0 + qi / GROUP <= last_t) {
        scores[(query_row(qi, t0, g, last_t) * ap.stride + j0) / 4u] = s * ap.scale;
    }
}

// Vec4 `off` of query row `row` (a token's head), for `shared_row`.
fn load_shared(row: u32, off: u32) -> vec4<f32> {
    return q[row * (HD / 4u) + off];
}
