// rope_split.wgsl with the query and key norms taken first (rope_norms.wgsl):
// a batch's fused Q|K|V rows normed, split into q (rotated) and the K and V
// caches at positions pos .. pos+n_tokens. One workgroup per token.
//   qkv (n_tokens, (n_head + 2·n_kv)·head_dim); q (n_tokens, n_head·head_dim);
//   k_cache, v_cache (ctx, n_kv·head_dim); q_w, k_w (head_dim,).

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
@group(0) @binding(6) var<storage, read> q_w: array<f32>;
@group(0) @binding(7) var<storage, read> k_w: array<f32>;

fn head_value(t: u32, hh: u32, d: u32) -> f32 {
    let width = (rp.n_head + 2u * rp.n_kv) * rp.head_dim;
    return qkv[t * width + hh * rp.head_dim + d];
}

@compute @workgroup_size(64)
fn rope_split_normed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x;
    if (t >= step.n_tokens) { return; }
    head_inv_rms(t, lid);
    let hd = rp.head_dim;
    let width = (rp.n_head + 2u * rp.n_kv) * hd;
    for (var i = lid; i < width / 2u; i += 64u) {
        let rows = qkv_pair_rows(i);
        let hh = i / (hd / 2u);
        let e = pair_dims(i % (hd / 2u));
        let ab = vec2<f32>(normed(hh, e.x, qkv[t * width + rows.x]), normed(hh, e.y, qkv[t * width + rows.y]));
        store_qkv_pair(i, step.pos + t, t * rp.n_head * hd, ab);
    }
}
