// Row attention, launch 3 of 3 (see `attention_rows.wgsl`): workgroup
// (KV head g, 0, token group z) sums the V rows of z's span, weighed, into the
// outputs of g's GROUP query heads for z's TQ tokens. Lane d4 owns output
// vec4 d4 of each and takes every position, 4 at a time: it reads each V
// vec4 once and the four weights of each (token, head) in one load, and
// scales its sums by 1 / Σ weights at the end. HD/4 lanes and no
// workgroup memory: on CPU adapters a workgroup runs on one core, so more
// lanes splitting the positions would only add a reduction and barriers.
// The weights, the same in every lane, reach the lanes through `share_rows`
// and `shared_row` (attention_share_subgroup.wgsl or
// attention_share_uniform.wgsl, after this file), as the scores kernel's
// queries do. At most 16 (token, head) rows a workgroup (`TQ · GROUP`):
// with more, lavapipe's compiler no longer keeps the sums in registers
// (lab, `scripts/lab_attention.py`, 64 tokens at position 1,024, shared
// weights: 15 rows 1.35 ms a launch, 24 rows 6.0 ms).

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> ap: AttentionParams;
@group(0) @binding(2) var<storage, read> weights: array<vec4<f32>>;  // (n_tokens, n_head, stride / 4)
@group(0) @binding(3) var<storage, read> v_cache: array<kv4>;   // (ctx, n_kv, HD/4)
@group(0) @binding(4) var<storage, read> inv_sum: array<f32>;        // (n_tokens, n_head)
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // (n_tokens, n_head, HD/4)

@compute @workgroup_size(HD / 4u)
fn attention_values(@builtin(workgroup_id) wid: vec3<u32>, lane: Lane) {
    let g = wid.x;
    let t0 = wid.z * TQ;
    if (t0 >= step.n_tokens) { return; }
    let span = group_span(wid.z, TQ);
    let last_t = step.n_tokens - 1u;
    let last_j = step.kv_len - 1u;
    let hd4 = HD / 4u;
    let d4 = lane.index;
    let nq = TQ * GROUP;
    var acc: array<vec4<f32>, 16>;
    for (var j = span.x; j < span.y; j += 4u) {
        // Rows past the cache's end have weight 0; read the last one instead.
        let v0 = widen(v_cache[(min(j, last_j) * ap.n_kv + g) * hd4 + d4]);
        let v1 = widen(v_cache[(min(j + 1u, last_j) * ap.n_kv + g) * hd4 + d4]);
        let v2 = widen(v_cache[(min(j + 2u, last_j) * ap.n_kv + g) * hd4 + d4]);
        let v3 = widen(v_cache[(min(j + 3u, last_j) * ap.n_kv + g) * hd4 + d4]);
        share_rows(lane, t0, g, last_t, nq, j / 4u);
        // Written out, row by row (see the scores kernel).
        if (0u < nq) { let w = shared_row(0u, t0, g, last_t, j / 4u); acc[0] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (1u < nq) { let w = shared_row(1u, t0, g, last_t, j / 4u); acc[1] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (2u < nq) { let w = shared_row(2u, t0, g, last_t, j / 4u); acc[2] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (3u < nq) { let w = shared_row(3u, t0, g, last_t, j / 4u); acc[3] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (4u < nq) { let w = shared_row(4u, t0, g, last_t, j / 4u); acc[4] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (5u < nq) { let w = shared_row(5u, t0, g, last_t, j / 4u); acc[5] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (6u < nq) { let w = shared_row(6u, t0, g, last_t, j / 4u); acc[6] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (7u < nq) { let w = shared_row(7u, t0, g, last_t, j / 4u); acc[7] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (8u < nq) { let w = shared_row(8u, t0, g, last_t, j / 4u); acc[8] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (9u < nq) { let w = shared_row(9u, t0, g, last_t, j / 4u); acc[9] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (10u < nq) { let w = shared_row(10u, t0, g, last_t, j / 4u); acc[10] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (11u < nq) { let w = shared_row(11u, t0, g, last_t, j / 4u); acc[11] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (12u < nq) { let w = shared_row(12u, t0, g, last_t, j / 4u); acc[12] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (13u < nq) { let w = shared_row(13u, t0, g, last_t, j / 4u); acc[13] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (14u < nq) { let w = shared_row(14u, t0, g, last_t, j / 4u); acc[14] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
        if (15u < nq) { let w = shared_row(15u, t0, g, last_t, j / 4u); acc[15] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3; }
    }
    store_rows(t0, g, last_t, d4, acc);
}

// Row qi's output vec4 d4, scaled by its 1 / Σ weights (none for a row past
// the batch's last token).
fn store_row(qi: u32, t0: u32, g: u32, last_t: u32, d4: u32, a: vec4<f32>) {
    if (t0 + qi / GROUP <= last_t) {
        let r = query_row(qi, t0, g, last_t);
        out[r * (HD / 4u) + d4] = a * inv_sum[r];
    }
}

// Vec4 `off` (positions 4·off ..) of score row `row` (a token's head), for
// `shared_row`.
fn load_shared(row: u32, off: u32) -> vec4<f32> {
    return weights[row * (ap.stride / 4u) + off];
}
