// A batch's fused Q|K|V rows (from one matmul over the fused matrix) split
// into q, rotated, and the K and V caches at positions pos .. pos+n_tokens:
// `rope_kv.wgsl`'s work for a fused QKV matrix. One workgroup per token;
// threads over the rotation pairs of every head (see rope.wgsl).
//   qkv (n_tokens, (n_head + 2·n_kv)·head_dim); q (n_tokens, n_head·head_dim);
//   k_cache, v_cache (ctx, n_kv·head_dim).

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> rp: RopeParams;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> k_cache: array<kv>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<kv>;

@compute @workgroup_size(64)
fn rope_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x;
    if (t >= step.n_tokens) { return; }
    let width = (rp.n_head + 2u * rp.n_kv) * rp.head_dim;
    let pairs = width / 2u;
    for (var i = lid; i < pairs; i += 64u) {
        let rows = qkv_pair_rows(i);
        let ab = vec2<f32>(qkv[t * width + rows.x], qkv[t * width + rows.y]);
        store_qkv_pair(i, step.pos + t, t * rp.n_head * rp.head_dim, ab);
    }
}
