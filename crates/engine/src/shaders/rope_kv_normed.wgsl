// rope_kv.wgsl with the query and key norms taken first (rope_norms.wgsl):
// q normed and rotated in place, k normed, rotated and v as it is into the
// caches at rows pos .. pos+n_tokens. One workgroup per token.
//   q (n_tokens, n_head, head_dim); k, v (n_tokens, n_kv, head_dim);
//   k_cache, v_cache (ctx, n_kv, head_dim); q_w, k_w (head_dim,).

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> rp: RopeParams;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> k_cache: array<kv>;
@group(0) @binding(6) var<storage, read_write> v_cache: array<kv>;
@group(0) @binding(7) var<storage, read> q_w: array<f32>;
@group(0) @binding(8) var<storage, read> k_w: array<f32>;

fn head_value(t: u32, hh: u32, d: u32) -> f32 {
    let hd = rp.head_dim;
    if (hh < rp.n_head) { return q[(t * rp.n_head + hh) * hd + d]; }
    return k[(t * rp.n_kv + hh - rp.n_head) * hd + d];
}

@compute @workgroup_size(64)
fn rope_kv_normed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x;
    if (t >= step.n_tokens) { return; }
    // Every lane has read what it needs of q by the end: from here each q
    // value is read and written by one lane only.
    head_inv_rms(t, lid);
    let pos = step.pos + t;
    let hd = rp.head_dim;
    let half = hd / 2u;
    // Q: every pair of every head, the dims past rope_dim normed too.
    for (var j = lid; j < rp.n_head * half; j += 64u) {
        let h = j / half;
        let i = j % half;
        let e = pair_dims(i);
        let o = (t * rp.n_head + h) * hd;
        let r = rotate_pair(pos, i, vec2<f32>(normed(h, e.x, q[o + e.x]), normed(h, e.y, q[o + e.y])));
        q[o + e.x] = r.x;
        q[o + e.y] = r.y;
    }
    // K normed and rotated into the cache at row `pos`, V as it is.
    let kv_row = rp.n_kv * hd;
    for (var j = lid; j < rp.n_kv * half; j += 64u) {
        let h = j / half;
        let i = j % half;
        let e = pair_dims(i);
        let src = (t * rp.n_kv + h) * hd;
        let hh = rp.n_head + h;
        let r = rotate_pair(pos, i, vec2<f32>(normed(hh, e.x, k[src + e.x]), normed(hh, e.y, k[src + e.y])));
        let o = pos * kv_row + h * hd;
        k_cache[o + e.x] = kv(r.x);
        k_cache[o + e.y] = kv(r.y);
    }
    for (var j = lid; j < kv_row; j += 64u) {
        v_cache[pos * kv_row + j] = kv(v[t * kv_row + j]);
    }
}
