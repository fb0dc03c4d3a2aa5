// Row attention, launch 2 of 3 (see `attention_rows.wgsl`): workgroup
// (head h, token t) turns its score row into weights in place, e^(s − max)
// over the positions the token sees and 0 over the rest of its group's span,
// and writes 1 / Σ weights to `inv_sum[t · n_head + h]`.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: AttentionParams;
@group(0) @binding(2) var<storage, read_write> scores: array<f32>;   // (n_tokens, n_head, stride)
@group(0) @binding(3) var<storage, read_write> inv_sum: array<f32>;  // (n_tokens, n_head)

// Lanes of a workgroup: few, as row attention runs on CPU adapters, where
// each barrier switches between the workgroup's groups of SIMD lanes.
const WG: u32 = 16u;

var<workgroup> red: array<vec4<f32>, 4>;

// Every lane's `v` combined (max or sum) and returned to every lane.
fn reduce(v: f32, lid: u32, is_max: bool) -> f32 {
    workgroupBarrier();
    switch lid % 4u {
        case 0u: { red[lid / 4u].x = v; }
        case 1u: { red[lid / 4u].y = v; }
        case 2u: { red[lid / 4u].z = v; }
        default: { red[lid / 4u].w = v; }
    }
    workgroupBarrier();
    var a = red[0];
    for (var i = 1u; i < WG / 4u; i++) {
        if (is_max) { a = max(a, red[i]); } else { a += red[i]; }
    }
    if (is_max) { return max(max(a.x, a.y), max(a.z, a.w)); }
    return (a.x + a.y) + (a.z + a.w);
}

@compute @workgroup_size(WG)
fn attention_softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let t = wid.y;
    if (t >= step.n_tokens) { return; }
    let qpos = step.pos + t;
    let lo = window_first(qpos);
    let hi = qpos + 1u;
    let span = group_span(t / TQ, TQ);
    let row = (t * p.n_head + h) * p.stride;
    var m = -3.0e38;
    for (var j = lo + lid; j < hi; j += WG) { m = max(m, scores[row + j]); }
    m = reduce(m, lid, true);
    var l = 0.0;
    for (var j = span.x + lid; j < span.y; j += WG) {
        var e = 0.0;
        if (j >= lo && j < hi) { e = exp(scores[row + j] - m); }
        scores[row + j] = e;
        l += e;
    }
    l = reduce(l, lid, false);
    if (lid == 0u) { inv_sum[t * p.n_head + h] = 1.0 / l; }
}
