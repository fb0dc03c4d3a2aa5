// Q, K and V of one token (decode) from the fused Q|K|V matrix, rotated and
// cached as they are written: the matrix-vector product of `matvec.wgsl`
// (one row per lane, x as a uniform) with the work of `rope_kv.wgsl` fused
// into its end. Invocation i computes the rows of rotation pairs 8i ..
// 8i + 7 (see rope.wgsl) and writes them to q, the K cache or the V cache
// at position step.pos.
//   W ((n_head + 2·n_kv)·head_dim, n_in); x (n_in,); q (n_head·head_dim,);
//   k_cache, v_cache (ctx, n_kv·head_dim).

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct MatmulParams {
    n_in: u32,
    n_out: u32,
    one_row: u32,
    accumulate: u32,
    // Token t's output row starts at y[t · y_stride + y_offset] (a part of
    // a row-split matrix writes its rows into the whole output).
    y_stride: u32,
    y_offset: u32,
    token0: u32,     // matmul_tile_group's; unused here
    // The fused norm's epsilon (with norm = 1).
    eps: f32,
    epilogue: u32,   // the epilogue's code (matvec.wgsl's EPILOGUE)
    x_group: u32,    // matmul_tile_q8's; unused here
    // 1: x is the residual stream and the kernel's input is its RMS norm
    // (matvec_q8.wgsl, x_subgroup.wgsl: `norm_fused`).
    norm: u32,
    // The partial sums of the fused feed-forward before (ffn_matvec.wgsl)
    // that x, the residual stream, is short of: the kernel's input is x +
    // Σⱼ parts_in[j · n_in + …], j < parts (`x_at`).
    parts: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatmulParams;
// binding 2: the weights, read through `wv` (weights_buffer.wgsl or weights_texture.wgsl)
@group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;
@group(0) @binding(5) var<storage, read_write> k_cache: array<kv>;
@group(0) @binding(6) var<storage, read_write> v_cache: array<kv>;
@group(0) @binding(7) var<uniform> rp: RopeParams;
// The partial sums x is short of (bound, and unread, with p.parts = 0).
@group(0) @binding(8) var<storage, read> parts_in: array<vec4<f32>>;
// The fused norm's weights (bound, and unread, with p.norm = 0; not bound
// where the kernel cannot fuse a norm and leaves g out).
// Bindings 10 and 11: the KV mirror's (kv_mirror_write.wgsl).
@group(0) @binding(9) var<uniform> g: array<vec4<f32>, 4096>;

// x's vec4 k with the partial sums added, as the decode kernels read x
// (matvec_q8.wgsl, x_subgroup.wgsl, x_uniform.wgsl).
fn x_at(k: u32) -> vec4<f32> {
    var v = x[k];
    for (var j = 0u; j < p.parts; j++) { v += parts_in[j * (p.n_in / 4u) + k]; }
    return v;
}

// Lanes per workgroup (`ops::MATVEC_LANES`, as matvec.wgsl).
const WG: u32 = 8u;

@compute @workgroup_size(WG)
fn qkv_matvec(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>,
              lane: Lane) {
    // Invocation i computes pairs 8i .. 8i + 7 (sixteen rows, as matvec.wgsl).
    let i = (wid.x + wid.y * nwg.x) * WG + lane.index;
    if (step.n_tokens == 0u) { return; }
    // Pairs past the last one are computed again (clamped) and not stored,
    // and invocations past the last pair run too (x_subgroup.wgsl needs
    // every lane of a subgroup in the loop).
    let pairs = p.n_out / 2u;
    let k = 8u * i;
    let p0 = qkv_pair_rows(min(k, pairs - 1u));
    let p1 = qkv_pair_rows(min(k + 1u, pairs - 1u));
    let p2 = qkv_pair_rows(min(k + 2u, pairs - 1u));
    let p3 = qkv_pair_rows(min(k + 3u, pairs - 1u));
    let p4 = qkv_pair_rows(min(k + 4u, pairs - 1u));
    let p5 = qkv_pair_rows(min(k + 5u, pairs - 1u));
    let p6 = qkv_pair_rows(min(k + 6u, pairs - 1u));
    let p7 = qkv_pair_rows(min(k + 7u, pairs - 1u));
    let v = rows_dot16(lane, array<u32, 16>(p0.x, p0.y, p1.x, p1.y, p2.x, p2.y, p3.x, p3.y,
                                            p4.x, p4.y, p5.x, p5.y, p6.x, p6.y, p7.x, p7.y));
    // What was written, for the KV mirror (kv_mirror_write.wgsl; a no-op
    // without one, kv_mirror_none.wgsl).
    var w: array<vec2<f32>, 8>;
    if (k < pairs) { w[0] = store_qkv_pair(k, step.pos, 0u, v.a.xy); }
    if (k + 1u < pairs) { w[1] = store_qkv_pair(k + 1u, step.pos, 0u, v.a.zw); }
    if (k + 2u < pairs) { w[2] = store_qkv_pair(k + 2u, step.pos, 0u, v.b.xy); }
    if (k + 3u < pairs) { w[3] = store_qkv_pair(k + 3u, step.pos, 0u, v.b.zw); }
    if (k + 4u < pairs) { w[4] = store_qkv_pair(k + 4u, step.pos, 0u, v.c.xy); }
    if (k + 5u < pairs) { w[5] = store_qkv_pair(k + 5u, step.pos, 0u, v.c.zw); }
    if (k + 6u < pairs) { w[6] = store_qkv_pair(k + 6u, step.pos, 0u, v.d.xy); }
    if (k + 7u < pairs) {
        w[7] = store_qkv_pair(k + 7u, step.pos, 0u, v.d.zw);
        mirror_pairs(k, step.pos, w);
    }
}
