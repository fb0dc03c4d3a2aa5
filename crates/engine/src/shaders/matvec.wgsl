// y = W·x for one token (decode), sixteen output rows per invocation, for CPU
// adapters (lavapipe, SwiftShader), where a workgroup runs on one core as
// SIMD lanes and each lane owns rows.
//   W (n_out, n_in) in the GPU layout of QTYPE (a buffer or a texture); x
//   (n_in,) in a uniform buffer (its first 64 KiB: n_in ≤ 16384); y (n_out,).
// Why x is a uniform: every lane reads the same x, and CPU drivers load
// uniforms with a plain (or gathered) load, where a storage load is a loop
// over the lanes with a bounds check each. The weights are read in vec4s,
// each exactly once, and blocks go in groups of four that share one load of
// their scales.
// Why sixteen rows and 8 lanes: each block of x is loaded (and, with
// subgroups, broadcast) once for sixteen rows, and 8-lane workgroups keep a
// 576-row matrix in five of them, enough for every core. Measured with
// scripts/lab_decode_kernels.py (weights from a texture, COLD=60: 60 copies
// read in turn, from memory as in a decode step; COLD=20 and 3 on
// SwiftShader), ms per launch, two rows in 64 lanes (commit 69232c1) →
// eight rows in 16 lanes (3ada4cb) → sixteen in 8 (this):
//   lavapipe, x by subgroup: 576 → 3,072 gate/up, norm fused 0.37 → 0.29 →
//     0.27; 1,536 → 576 down 0.19 → 0.15 → 0.13;
//   SwiftShader, x from the uniform: gate/up 2.35 → 1.52 → 1.32; down 1.48 →
//     0.89 → 0.78; the Q8_0 head 576 → 49,152 42.7 → 27.2 → 25.9.
//
// EPILOGUE picks what is written:
//   0: y = W·x          1: y += W·x (the residual add, fused), plus the
//                          fused feed-forward's partial sums (`p.parts`)
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
    // The fused norm's epsilon (with norm = 1).
    eps: f32,
    epilogue: u32,   // the epilogue's code (matvec.wgsl's EPILOGUE)
    x_group: u32,    // matmul_tile_q8's; unused here
    // 1: x is the residual stream and the kernel's input is its RMS norm
    // (matvec_q8.wgsl, x_subgroup.wgsl: `norm_fused`).
    norm: u32,
    // The partial sums of the fused feed-forward before (ffn_matvec.wgsl)
    // that the residual add takes in (EPILOGUE 1): y[r] += W·x + Σⱼ
    // parts_in[j · n_out + r], j < parts.
    parts: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatmulParams;
// binding 2: the weights, read through `wv` (weights_buffer.wgsl or weights_texture.wgsl)
@group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>;   // (n_in / 4,)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;   // (n_out,)
// The partial sums the residual add takes in (bound, and unread, with
// p.parts = 0).
@group(0) @binding(5) var<storage, read> parts_in: array<f32>;
// The fused norm's weights (bound, and unread, with p.norm = 0; not bound
// where the kernel cannot fuse a norm and leaves g out).
@group(0) @binding(6) var<uniform> g: array<vec4<f32>, 4096>;

// x's vec4 k, as matvec_q8.wgsl quantizes it.
fn x_at(k: u32) -> vec4<f32> {
    return x[k];
}

// The epilogue (gate.wgsl reads it too), from the params at run time as
// the fused norm (`p.norm`), so that one pipeline serves every product of
// a weight type: SwiftShader's page compiles one decode product for
// SmolLM2's layers, not two (0.5–0.6 s each).
var<private> EPILOGUE: u32;

// Lanes per workgroup (`ops::MATVEC_LANES`).
const WG: u32 = 8u;

@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          lane: Lane) {
    // Invocation i computes rows 16i .. 16i + 15. Rows past the last one
    // are computed again (clamped) and not stored, and invocations past
    // the last row run too: x_subgroup.wgsl needs every lane of a subgroup
    // in the loop.
    EPILOGUE = p.epilogue;
    let i = (wid.x + wid.y * nwg.x) * WG + lane.index;
    let r = 16u * i;
    if (step.n_tokens == 0u) { return; }
    let last = p.n_out - 1u;
    let v = rows_dot16(lane, array<u32, 16>(
        min(r, last), min(r + 1u, last), min(r + 2u, last), min(r + 3u, last),
        min(r + 4u, last), min(r + 5u, last), min(r + 6u, last), min(r + 7u, last),
        min(r + 8u, last), min(r + 9u, last), min(r + 10u, last), min(r + 11u, last),
        min(r + 12u, last), min(r + 13u, last), min(r + 14u, last), min(r + 15u, last)));
    if (r >= p.n_out) { return; }
    switch EPILOGUE {
        case 2u, 3u: {
            // n_out is even: rows come in whole pairs.
            put_gated(r, i * 8u, v.a.x, v.a.y);
            put_gated(r + 2u, i * 8u + 1u, v.a.z, v.a.w);
            put_gated(r + 4u, i * 8u + 2u, v.b.x, v.b.y);
            put_gated(r + 6u, i * 8u + 3u, v.b.z, v.b.w);
            put_gated(r + 8u, i * 8u + 4u, v.c.x, v.c.y);
            put_gated(r + 10u, i * 8u + 5u, v.c.z, v.c.w);
            put_gated(r + 12u, i * 8u + 6u, v.d.x, v.d.y);
            put_gated(r + 14u, i * 8u + 7u, v.d.z, v.d.w);
        }
        default: {
            put(r, v.a.x);
            put(r + 1u, v.a.y);
            put(r + 2u, v.a.z);
            put(r + 3u, v.a.w);
            put(r + 4u, v.b.x);
            put(r + 5u, v.b.y);
            put(r + 6u, v.b.z);
            put(r + 7u, v.b.w);
            put(r + 8u, v.c.x);
            put(r + 9u, v.c.y);
            put(r + 10u, v.c.z);
            put(r + 11u, v.c.w);
            put(r + 12u, v.d.x);
            put(r + 13u, v.d.y);
            put(r + 14u, v.d.z);
            put(r + 15u, v.d.w);
        }
    }
}

// Row r's value, stored or added (EPILOGUE 0 or 1), if r is a row.
fn put(r: u32, v: f32) {
    if (r >= p.n_out) { return; }
    if (EPILOGUE == 1u) {
        var s = v;
        for (var j = 0u; j < p.parts; j++) { s += parts_in[j * p.n_out + r]; }
        y[p.y_offset + r] += s;
    } else {
        y[p.y_offset + r] = v;
    }
}

// Output o from the gate/up pair of rows r, r + 1, if they are rows.
fn put_gated(r: u32, o: u32, g: f32, u: f32) {
    if (r >= p.n_out) { return; }
    y[p.y_offset + o] = gated(g, u);
}
