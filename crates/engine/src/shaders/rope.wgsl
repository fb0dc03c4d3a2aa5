// Rotary position embedding shared by the kernels that rotate Q and K as
// they write them (qkv_matvec, rope_split). Appended to their source; they
// declare `rp: RopeParams` (uniform). The formulas are those of
// `rope_kv.wgsl`, the simple twin they are tested against.
//
// A head's dims go in pairs: pair j < rope_dim / 2 is a rotation pair,
// (2j, 2j+1) in llama.cpp's "normal" layout or (j, j + rope_dim/2) in the
// "neox" one (Qwen, Gemma), turning by pos · base^(-2j/rope_dim); the dims
// past rope_dim follow two by two, unrotated.

struct RopeParams {
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    rope_dim: u32,
    base: f32,
    neox: u32,
    // The query and key norms' epsilon (rope_norms.wgsl); unread elsewhere.
    norm_eps: f32,
    _pad1: u32,
}

// Dims (within a head) of pair j (j < head_dim / 2).
fn pair_dims(j: u32) -> vec2<u32> {
    let half = rp.rope_dim / 2u;
    if (j >= half) {
        let d = rp.rope_dim + 2u * (j - half);
        return vec2<u32>(d, d + 1u);
    }
    if (rp.neox == 1u) { return vec2<u32>(j, j + half); }
    return vec2<u32>(2u * j, 2u * j + 1u);
}

// (a, b) of pair j turned for position `pos` (unchanged past rope_dim).
fn rotate_pair(pos: u32, j: u32, ab: vec2<f32>) -> vec2<f32> {
    if (j >= rp.rope_dim / 2u) { return ab; }
    let theta = f32(pos) * pow(rp.base, -2.0 * f32(j) / f32(rp.rope_dim));
    let c = cos(theta);
    let s = sin(theta);
    return vec2<f32>(ab.x * c - ab.y * s, ab.x * s + ab.y * c);
}

// Pair i of a token's fused Q|K|V rows ((n_head + 2·n_kv) heads of
// head_dim): writes it rotated into q or the K cache, or as it is into the
// V cache, at position `pos`, and returns what it wrote (in f32). `qo` is
// the token's first q element.
fn store_qkv_pair(i: u32, pos: u32, qo: u32, ab: vec2<f32>) -> vec2<f32> {
    let hd = rp.head_dim;
    let hh = i / (hd / 2u);
    let j = i % (hd / 2u);
    let e = pair_dims(j);
    let kv_row = rp.n_kv * hd;
    if (hh < rp.n_head) {
        let r = rotate_pair(pos, j, ab);
        q[qo + hh * hd + e.x] = r.x;
        q[qo + hh * hd + e.y] = r.y;
        return r;
    } else if (hh < rp.n_head + rp.n_kv) {
        let r = rotate_pair(pos, j, ab);
        let o = pos * kv_row + (hh - rp.n_head) * hd;
        k_cache[o + e.x] = kv(r.x);
        k_cache[o + e.y] = kv(r.y);
        return r;
    }
    let o = pos * kv_row + (hh - rp.n_head - rp.n_kv) * hd;
    v_cache[o + e.x] = kv(ab.x);
    v_cache[o + e.y] = kv(ab.y);
    return ab;
}

// The fused rows (within a token's Q|K|V) of pair i.
fn qkv_pair_rows(i: u32) -> vec2<u32> {
    let hd = rp.head_dim;
    let hh = i / (hd / 2u);
    return vec2<u32>(hh * hd) + pair_dims(i % (hd / 2u));
}
