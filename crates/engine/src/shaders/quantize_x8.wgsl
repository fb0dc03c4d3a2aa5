// Prefill's x quantized to int8 for the int8 tile (matmul_tile_q8.wgsl),
// as llama.cpp quantizes activations for its Q4 products: each block of 32
// values becomes q = round(x / d), d = max|x| / 127, kept as the pairs the
// tile multiplies by (int8_pairs.wgsl's `XPairs`) with (d, Σx). One
// invocation per (token, block).
//   x (n_tokens, n_in) f32; out: per 8-token group g, from word
//   g · p.group_words (a multiple of the uniform offset alignment, so the
//   tile binds each group's part as its uniform): for block b and token t
//   of the group, 16 words at 16 · (8b + t) (e0, o0, e1, o1); then from
//   word 128 · nb, for block b, the 8 tokens' (d, Σx) as 16 words (bit
//   patterns of f32s) at 128 · nb + 16b + 2t.
// The error a value takes is at most d / 2.
// `quantize_x8_normed` quantizes x's RMS norm instead, x / rms(x) · g, as
// `rms_norm.wgsl` then `quantize_x8` would (its twin in the tests), so
// that prefill's norms before the Q|K|V and gate|up products need no
// launch and no f32 row of their own: one workgroup of NORM_LANES lanes a
// token, which sum the row's squares, meet at one barrier, and quantize
// its blocks. Why: the norm launch cost lavapipe ~0.3 ms a layer for 64
// tokens, and its output was read straight back by this one.

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct QuantizeParams {
    n_in: u32,
    group_words: u32,
    // The norm's epsilon (`quantize_x8_normed` only).
    eps: f32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: QuantizeParams;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;     // (n_tokens, n_in / 4)
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
// The norm's weights (`quantize_x8_normed` only).
@group(0) @binding(4) var<storage, read> g: array<vec4<f32>>;     // (n_in / 4)

@compute @workgroup_size(256)
fn quantize_x8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let nb = p.n_in / 32u;
    if (i >= step.n_tokens * nb) { return; }
    let t = i / nb;
    let b = i - t * nb;
    let at = t * (p.n_in / 4u) + b * 8u;
    let v = array<vec4<f32>, 8>(x[at], x[at + 1u], x[at + 2u], x[at + 3u],
                                x[at + 4u], x[at + 5u], x[at + 6u], x[at + 7u]);
    quantize_block(t, b, v);
}

// Lanes a token's workgroup (at most 64): 8 on CPU adapters, one SIMD row
// of lavapipe's.
override NORM_LANES: u32 = 8u;

var<workgroup> squares: array<f32, 64>;

@compute @workgroup_size(NORM_LANES)
fn quantize_x8_normed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x;
    if (t >= step.n_tokens) { return; }
    let nb = p.n_in / 32u;
    let row = t * (p.n_in / 4u);
    var ss = vec4<f32>(0.0);
    for (var b = lid; b < nb; b += NORM_LANES) {
        for (var k = 0u; k < 8u; k++) {
            let v = x[row + 8u * b + k];
            ss += v * v;
        }
    }
    squares[lid] = (ss.x + ss.y) + (ss.z + ss.w);
    workgroupBarrier();
    var sum = 0.0;
    for (var l = 0u; l < NORM_LANES; l++) { sum += squares[l]; }
    let inv = 1.0 / sqrt(sum / f32(p.n_in) + p.eps);
    for (var b = lid; b < nb; b += NORM_LANES) {
        let at = row + 8u * b;
        let gb = 8u * b;
        let v = array<vec4<f32>, 8>(x[at] * inv * g[gb], x[at + 1u] * inv * g[gb + 1u],
                                    x[at + 2u] * inv * g[gb + 2u], x[at + 3u] * inv * g[gb + 3u],
                                    x[at + 4u] * inv * g[gb + 4u], x[at + 5u] * inv * g[gb + 5u],
                                    x[at + 6u] * inv * g[gb + 6u], x[at + 7u] * inv * g[gb + 7u]);
        quantize_block(t, b, v);
    }
}

// Block b of token t, its values v, into `out` (the layout at the top).
fn quantize_block(t: u32, b: u32, v: array<vec4<f32>, 8>) {
    let nb = p.n_in / 32u;
    let amax = max(max(max(abs(v[0]), abs(v[1])), max(abs(v[2]), abs(v[3]))),
                   max(max(abs(v[4]), abs(v[5])), max(abs(v[6]), abs(v[7]))));
    let sum = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
    let d = max(max(amax.x, amax.y), max(amax.z, amax.w)) / 127.0;
    let id = select(0.0, 1.0 / d, d > 0.0);
    let go = (t / 8u) * p.group_words;
    let o = go + 16u * (8u * b + t % 8u);
    // Word i of each half: values 4i..4i+3 (lo) and 16 + 4i.. (hi).
    let lo0 = q8(v[0], id);
    let lo1 = q8(v[1], id);
    let lo2 = q8(v[2], id);
    let lo3 = q8(v[3], id);
    let hi0 = q8(v[4], id);
    let hi1 = q8(v[5], id);
    let hi2 = q8(v[6], id);
    let hi3 = q8(v[7], id);
    put4(o, vec4<i32>(lo0.x, lo1.x, lo2.x, lo3.x) * 65536 + vec4<i32>(lo0.z, lo1.z, lo2.z, lo3.z));
    put4(o + 4u, vec4<i32>(lo0.y, lo1.y, lo2.y, lo3.y) * 65536 + vec4<i32>(lo0.w, lo1.w, lo2.w, lo3.w));
    put4(o + 8u, vec4<i32>(hi0.x, hi1.x, hi2.x, hi3.x) * 65536 + vec4<i32>(hi0.z, hi1.z, hi2.z, hi3.z));
    put4(o + 12u, vec4<i32>(hi0.y, hi1.y, hi2.y, hi3.y) * 65536 + vec4<i32>(hi0.w, hi1.w, hi2.w, hi3.w));
    let s = go + 128u * nb + 16u * b + 2u * (t % 8u);
    out[s] = bitcast<u32>(d);
    out[s + 1u] = bitcast<u32>(sum.x + sum.y + sum.z + sum.w);
}

// Four values times 1 / d, rounded to int8.
fn q8(v: vec4<f32>, id: f32) -> vec4<i32> {
    return clamp(vec4<i32>(round(v * id)), vec4<i32>(-127), vec4<i32>(127));
}

fn put4(o: u32, w: vec4<i32>) {
    let u = bitcast<vec4<u32>>(w);
    out[o] = u.x;
    out[o + 1u] = u.y;
    out[o + 2u] = u.z;
    out[o + 3u] = u.w;
}
