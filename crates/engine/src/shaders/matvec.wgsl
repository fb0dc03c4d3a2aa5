// y = W·x for one token (decode), two output rows per invocation, for CPU
// adapters (lavapipe, SwiftShader), where a workgroup runs on one core as
// SIMD lanes and each lane owns rows.
//   W (n_out, n_in) in the GPU layout of QTYPE (a buffer or a texture); x
//   (n_in,) in a uniform buffer (its first 64 KiB: n_in ≤ 16384); y (n_out,).
// Why x is a uniform: every lane reads the same x, and CPU drivers load
// uniforms with a plain (or gathered) load, where a storage load is a loop
// over the lanes with a bounds check each. The weights are read in vec4s,
// each exactly once, and blocks go in groups of four that share one load of
// their scales.
//
// EPILOGUE picks what is written:
//   0: y = W·x          1: y += W·x (the residual add, fused)
//   2: SiLU-gated pairs: rows 2i and 2i+1 are gate_i and up_i (a fused
//      gate/up matrix), y[i] = silu(gate_i)·up_i.
//   3: the same with GELU: y[i] = gelu(gate_i)·up_i (gate.wgsl).

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
@group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>;   // (n_in / 4,)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;   // (n_out,)
// The fused norm's weights (x_subgroup.wgsl; bound, and unread, with NORM = 0).
@group(0) @binding(5) var<uniform> g: array<vec4<f32>, 4096>;

override EPILOGUE: u32 = 0u;

@compute @workgroup_size(64)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          lane: Lane) {
    // Invocation i computes rows 2i and 2i + 1. Invocations past the last
    // row compute it again and store nothing: x_subgroup.wgsl needs every
    // lane of a subgroup in the loop.
    let i = (wid.x + wid.y * nwg.x) * 64u + lane.index;
    let r = 2u * i;
    if (step.n_tokens == 0u) { return; }
    let rc = min(r, p.n_out - 1u);
    let v = rows_dot(lane, rc, min(rc + 1u, p.n_out - 1u));
    if (r >= p.n_out) { return; }
    let second = r + 1u < p.n_out;
    switch EPILOGUE {
        case 2u, 3u: {
            if (second) { y[p.y_offset + i] = gated(v.x, v.y); }
        }
        case 1u: {
            y[p.y_offset + r] += v.x;
            if (second) { y[p.y_offset + r + 1u] += v.y; }
        }
        default: {
            y[p.y_offset + r] = v.x;
            if (second) { y[p.y_offset + r + 1u] = v.y; }
        }
    }
}
