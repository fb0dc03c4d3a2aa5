// Query/key norms (Gemma 3, Qwen 3): each head of each token normed in
// place, h = h / sqrt(mean(h²) + eps) · w.
//   y (n_tokens, stride): token t's heads start at y[t · stride + offset],
//   n_heads of head_dim each; w (head_dim,).
// One workgroup per (head, token).

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct HeadNormParams {
    stride: u32,
    offset: u32,
    n_heads: u32,
    head_dim: u32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: HeadNormParams;
@group(0) @binding(2) var<storage, read> w: array<f32>;         // (head_dim,)
@group(0) @binding(3) var<storage, read_write> y: array<f32>;   // (n_tokens, stride)

var<workgroup> sums: array<f32, 64>;

@compute @workgroup_size(64)
fn head_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let t = wid.y;
    if (h >= p.n_heads || t >= step.n_tokens) { return; }
    let o = t * p.stride + p.offset + h * p.head_dim;
    var s = 0.0;
    for (var i = lid; i < p.head_dim; i += 64u) { let v = y[o + i]; s += v * v; }
    sums[lid] = s;
    workgroupBarrier();
    for (var k = 32u; k > 0u; k >>= 1u) {
        if (lid < k) { sums[lid] += sums[lid + k]; }
        workgroupBarrier();
    }
    let inv = 1.0 / sqrt(sums[0] / f32(p.head_dim) + p.eps);
    for (var i = lid; i < p.head_dim; i += 64u) { y[o + i] = y[o + i] * inv * w[i]; }
}
