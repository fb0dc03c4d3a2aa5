// Row attention, launch 3 of 3 (see `attention_rows.wgsl`): workgroup
// (KV head g, 0, token group z) sums the V rows of z's span, weighed, into the
// outputs of g's GROUP query heads for z's TQ tokens. Lane d4 owns output
// vec4 d4 of each and takes every position, 4 at a time: it reads each V
// vec4 once and the four weights of each (token, head) in one load, and
// scales its sums by 1 / Σ weights at the end. HD/4 lanes and no
// workgroup memory: on CPU adapters a workgroup runs on one core, so more
// lanes splitting the positions would only add a reduction and barriers.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: AttentionParams;
@group(0) @binding(2) var<storage, read> weights: array<vec4<f32>>;  // (n_tokens, n_head, stride / 4)
@group(0) @binding(3) var<storage, read> v_cache: array<kv4>;   // (ctx, n_kv, HD/4)
@group(0) @binding(4) var<storage, read> inv_sum: array<f32>;        // (n_tokens, n_head)
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // (n_tokens, n_head, HD/4)

@compute @workgroup_size(HD / 4u)
fn attention_values(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x;
    let t0 = wid.z * TQ;
    if (t0 >= step.n_tokens) { return; }
    let span = group_span(wid.z, TQ);
    let last_t = step.n_tokens - 1u;
    let last_j = step.kv_len - 1u;
    let hd4 = HD / 4u;
    let d4 = lid;
    let s4 = p.stride / 4u;
    var acc: array<vec4<f32>, 32>;
    for (var j = span.x; j < span.y; j += 4u) {
        // Rows past the cache's end have weight 0; read the last one instead.
        let v0 = widen(v_cache[(min(j, last_j) * p.n_kv + g) * hd4 + d4]);
        let v1 = widen(v_cache[(min(j + 1u, last_j) * p.n_kv + g) * hd4 + d4]);
        let v2 = widen(v_cache[(min(j + 2u, last_j) * p.n_kv + g) * hd4 + d4]);
        let v3 = widen(v_cache[(min(j + 3u, last_j) * p.n_kv + g) * hd4 + d4]);
        for (var tt = 0u; tt < TQ; tt++) {
            let wo = (min(t0 + tt, last_t) * p.n_head + g * GROUP) * s4 + j / 4u;
            for (var hh = 0u; hh < GROUP; hh++) {
                let w = weights[wo + hh * s4];
                acc[tt * GROUP + hh] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3;
            }
        }
    }
    for (var tt = 0u; tt < TQ; tt++) {
        let t = t0 + tt;
        for (var hh = 0u; hh < GROUP; hh++) {
            let h = g * GROUP + hh;
            if (t <= last_t) {
                out[(t * p.n_head + h) * hd4 + d4] = acc[tt * GROUP + hh] * inv_sum[t * p.n_head + h];
            }
        }
    }
}
