// Row attention, launch 2 of 3 (see `attention_rows.wgsl`): workgroup
// (head h, token t) turns its score row into weights in place, e^(s − max)
// over the positions the token sees and 0 over the rest of its group's span,
// and writes 1 / Σ weights to `inv_sum[t · n_head + h]`. Each lane takes
// four positions a load and a store (a vec4; the rows start at multiples
// of 4), masked to the token's own positions. Eight lanes, one SIMD row of
// lavapipe's: each barrier switches between a workgroup's rows. Lab
// (`scripts/lab_attention.py`, 64 tokens at position 1,024; 16 lanes a
// float each before): lavapipe 1.48 -> 0.64 ms a launch, SwiftShader 6.4 -> 4.2.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> ap: AttentionParams;
@group(0) @binding(2) var<storage, read_write> scores: array<vec4<f32>>; // (n_tokens, n_head, stride / 4)
@group(0) @binding(3) var<storage, read_write> inv_sum: array<f32>;      // (n_tokens, n_head)

const WG: u32 = 8u;

var<workgroup> red: array<vec4<f32>, 2>;

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
    if (is_max) { a = max(a, red[1]); } else { a += red[1]; }
    if (is_max) { return max(max(a.x, a.y), max(a.z, a.w)); }
    return (a.x + a.y) + (a.z + a.w);
}

@compute @workgroup_size(WG)
fn attention_softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let t = wid.y;
    if (t >= step.n_tokens) { return; }
    let qpos = step.pos + t;
    let lo = vec4<u32>(window_first(qpos));
    let hi = vec4<u32>(qpos + 1u);
    let span = group_span(t / TQ, TQ);
    let row = (t * ap.n_head + h) * (ap.stride / 4u);
    let four = vec4<u32>(0u, 1u, 2u, 3u);
    var m = vec4<f32>(-3.0e38);
    for (var j = lo.x / 4u * 4u + 4u * lid; j < hi.x; j += 4u * WG) {
        let jj = vec4<u32>(j) + four;
        m = max(m, select(vec4<f32>(-3.0e38), scores[row + j / 4u], (jj >= lo) & (jj < hi)));
    }
    let mx = reduce(max(max(m.x, m.y), max(m.z, m.w)), lid, true);
    var l = vec4<f32>(0.0);
    for (var j = span.x + 4u * lid; j < span.y; j += 4u * WG) {
        let jj = vec4<u32>(j) + four;
        let e = select(vec4<f32>(0.0), exp(scores[row + j / 4u] - mx), (jj >= lo) & (jj < hi));
        scores[row + j / 4u] = e;
        l += e;
    }
    let sum = reduce((l.x + l.y) + (l.z + l.w), lid, false);
    if (lid == 0u) { inv_sum[t * ap.n_head + h] = 1.0 / sum; }
}
