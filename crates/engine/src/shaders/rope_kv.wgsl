// Rotary position embedding on Q and K, with the KV-cache write fused in.
//   q (n_tokens, n_head, head_dim)       rotated in place
//   k, v (n_tokens, n_kv, head_dim)      read
//   k_cache, v_cache (ctx, n_kv, head_dim) rows pos .. pos+n_tokens written (K rotated)
// Token t sits at position step.pos + t. Pair i of a head (i < rope_dim/2)
// turns by angle pos · base^(-2i/rope_dim). `neox` picks the pairing:
// 0 = adjacent (x[2i], x[2i+1]) as llama.cpp's "normal" layout for the llama
// architecture; 1 = halves (x[i], x[i + rope_dim/2]) as Qwen and Gemma use.
// One workgroup per token.

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct RopeParams {
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    rope_dim: u32,
    base: f32,
    neox: u32,
    norm_eps: f32,  // unread here (rope_norms.wgsl)
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: RopeParams;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;       // (n_tokens, n_head, head_dim)
@group(0) @binding(3) var<storage, read> k: array<f32>;             // (n_tokens, n_kv, head_dim)
@group(0) @binding(4) var<storage, read> v: array<f32>;             // (n_tokens, n_kv, head_dim)
@group(0) @binding(5) var<storage, read_write> k_cache: array<kv>;  // (ctx, n_kv, head_dim)
@group(0) @binding(6) var<storage, read_write> v_cache: array<kv>;  // (ctx, n_kv, head_dim)

// Element indices (within a head) of rotation pair i.
fn pair(i: u32) -> vec2<u32> {
    if (p.neox == 1u) { return vec2<u32>(i, i + p.rope_dim / 2u); }
    return vec2<u32>(2u * i, 2u * i + 1u);
}

fn angle(pos: u32, i: u32) -> vec2<f32> {
    let theta = f32(pos) * pow(p.base, -2.0 * f32(i) / f32(p.rope_dim));
    return vec2<f32>(cos(theta), sin(theta));
}

@compute @workgroup_size(64)
fn rope_kv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x;
    if (t >= step.n_tokens) { return; }
    let pos = step.pos + t;
    let half_rot = p.rope_dim / 2u;
    let hd = p.head_dim;
    // Q: every head's pairs; dims past rope_dim stay as they are.
    for (var j = lid; j < p.n_head * half_rot; j += 64u) {
        let h = j / half_rot;
        let i = j % half_rot;
        let e = pair(i);
        let cs = angle(pos, i);
        let o = (t * p.n_head + h) * hd;
        let a = q[o + e.x];
        let b = q[o + e.y];
        q[o + e.x] = a * cs.x - b * cs.y;
        q[o + e.y] = a * cs.y + b * cs.x;
    }
    // K and V into the cache at row `pos`.
    let kv_row = p.n_kv * hd;
    for (var j = lid; j < kv_row; j += 64u) {
        k_cache[pos * kv_row + j] = kv(k[t * kv_row + j]);
        v_cache[pos * kv_row + j] = kv(v[t * kv_row + j]);
    }
    storageBarrier();
    workgroupBarrier();
    for (var j = lid; j < p.n_kv * half_rot; j += 64u) {
        let h = j / half_rot;
        let i = j % half_rot;
        let e = pair(i);
        let cs = angle(pos, i);
        let o = pos * kv_row + h * hd;
        let a = k[t * kv_row + h * hd + e.x];
        let b = k[t * kv_row + h * hd + e.y];
        k_cache[o + e.x] = kv(a * cs.x - b * cs.y);
        k_cache[o + e.y] = kv(a * cs.y + b * cs.x);
    }
}
