// y[t] = x[t] / sqrt(mean(x[t]²) + eps) · w, or with `add` set
// y[t] += x[t] / sqrt(mean(x[t]²) + eps) · w (Gemma's norms after attention
// and feed-forward, with the residual add fused).
//   x (n_tokens, dim); w (dim,); y (n_rows, dim).
// One workgroup of WG threads per row (a power of two, at most 256). With
// `last_only` set, only the last token's row is normed, into row 0 of y
// (the output head needs no other).
// WG is 256 on GPUs and 16 on CPU adapters (`ops::rms_norm_lanes`), where a
// workgroup is SIMD lanes on one core and each barrier switches between
// its groups of lanes: 256 lanes took 9 barriers over 32 groups (lavapipe)
// or 64 (SwiftShader) for a 576-value row.

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct RmsNormParams {
    dim: u32,
    eps: f32,
    last_only: u32,
    add: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: RmsNormParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;        // (n_tokens, dim)
@group(0) @binding(3) var<storage, read> w: array<f32>;        // (dim,)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;  // (n_rows, dim)

override WG: u32 = 256u;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(WG)
fn rms_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    var src_row = wid.x;
    if (p.last_only == 1u) { src_row = step.n_tokens - 1u; }
    if (src_row >= step.n_tokens) { return; }
    let xo = src_row * p.dim;
    let yo = wid.x * p.dim;
    var s = 0.0;
    for (var i = lid; i < p.dim; i += WG) { let v = x[xo + i]; s += v * v; }
    sums[lid] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if (lid < k) { sums[lid] += sums[lid + k]; }
        workgroupBarrier();
    }
    let inv = 1.0 / sqrt(sums[0] / f32(p.dim) + p.eps);
    if (p.add == 1u) {
        for (var i = lid; i < p.dim; i += WG) { y[yo + i] += x[xo + i] * inv * w[i]; }
        return;
    }
    for (var i = lid; i < p.dim; i += WG) { y[yo + i] = x[xo + i] * inv * w[i]; }
}
