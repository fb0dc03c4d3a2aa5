// Q, K and V of one token (decode) from the fused Q|K|V matrix, rotated and
// cached as they are written: the matrix-vector product of `matvec.wgsl`
// (one row per lane, x as a uniform) with the work of `rope_kv.wgsl` fused
// into its end. Invocation i computes the two rows of rotation pair i
// (see rope.wgsl) and writes them to q, the K cache or the V cache at
// position step.pos.
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

@compute @workgroup_size(64)
fn qkv_matvec(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>,
              lane: Lane) {
    let i = (wid.x + wid.y * nwg.x) * 64u + lane.index;
    if (step.n_tokens == 0u) { return; }
    // Invocations past the last pair compute it again and store nothing
    // (x_subgroup.wgsl needs every lane of a subgroup in the loop).
    let rows = qkv_pair_rows(min(i, p.n_out / 2u - 1u));
    let v = rows_dot(lane, rows.x, rows.y);
    if (2u * i >= p.n_out) { return; }
    store_qkv_pair(i, step.pos, 0u, v);
}
