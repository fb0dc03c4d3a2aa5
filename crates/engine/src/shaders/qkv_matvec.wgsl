// Q, K and V of one token (decode) from the fused Q|K|V matrix, rotated and
// cached as they are written: the matrix-vector product of `matvec.wgsl`
// (one row per lane, x as a uniform) with the work of `rope_kv.wgsl` fused
// into its end. Invocation i computes the rows of rotation pairs 4i ..
// 4i + 3 (see rope.wgsl) and writes them to q, the K cache or the V cache
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
    // The fused norm's epsilon (x_subgroup.wgsl with NORM = 1).
    eps: f32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatmulParams;
// binding 2: the weights, read through `wv` (weights_buffer.wgsl or weights_texture.wgsl)
@group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;
@group(0) @binding(5) var<storage, read_write> k_cache: array<kv>;
@group(0) @binding(6) var<storage, read_write> v_cache: array<kv>;
@group(0) @binding(7) var<uniform> rp: RopeParams;
// The fused norm's weights (x_subgroup.wgsl; bound, and unread, with NORM = 0).
@group(0) @binding(8) var<uniform> g: array<vec4<f32>, 4096>;

// Lanes per workgroup (`ops::MATVEC_LANES`, as matvec.wgsl).
const WG: u32 = 16u;

@compute @workgroup_size(WG)
fn qkv_matvec(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>,
              lane: Lane) {
    // Invocation i computes pairs 4i .. 4i + 3 (eight rows, as matvec.wgsl).
    let i = (wid.x + wid.y * nwg.x) * WG + lane.index;
    if (step.n_tokens == 0u) { return; }
    // Pairs past the last one are computed again (clamped) and not stored,
    // and invocations past the last pair run too (x_subgroup.wgsl needs
    // every lane of a subgroup in the loop).
    let pairs = p.n_out / 2u;
    let k = 4u * i;
    let a = qkv_pair_rows(min(k, pairs - 1u));
    let b = qkv_pair_rows(min(k + 1u, pairs - 1u));
    let c = qkv_pair_rows(min(k + 2u, pairs - 1u));
    let d = qkv_pair_rows(min(k + 3u, pairs - 1u));
    let v = rows_dot8(lane, array<u32, 8>(a.x, a.y, b.x, b.y, c.x, c.y, d.x, d.y));
    if (k < pairs) { store_qkv_pair(k, step.pos, 0u, v.lo.xy); }
    if (k + 1u < pairs) { store_qkv_pair(k + 1u, step.pos, 0u, v.lo.zw); }
    if (k + 2u < pairs) { store_qkv_pair(k + 2u, step.pos, 0u, v.hi.xy); }
    if (k + 3u < pairs) { store_qkv_pair(k + 3u, step.pos, 0u, v.hi.zw); }
}
