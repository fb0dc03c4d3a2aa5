// y = W·x for a batch of tokens, dequantizing W in the kernel.
//   W (n_out, n_in) in the GPU layout of QTYPE; x (n_tokens, n_in); y (n_tokens, n_out).
// A workgroup of 64 threads owns ROWS = 64 / LANES output rows and up to
// TOKENS = 8 tokens (grid z): LANES threads per row stride over the row's
// 32-value blocks and dot each with every token of the tile, so a block
// fetched for the first token is in cache for the rest. Decode is the 1-token
// case. LANES is 16 on GPUs (many threads share a row, then reduce); on CPU
// adapters (lavapipe), where a workgroup runs on one core as SIMD lanes, 1 is
// fastest: each invocation owns a row and nothing waits at a barrier.
// With `accumulate` set, y += W·x (the residual add, fused). With EPILOGUE 2
// the rows are gate/up pairs (2i, 2i+1) and y[i] = silu(gate_i)·up_i; with 3,
// gelu(gate_i)·up_i (gate.wgsl).

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct MatmulParams {
    n_in: u32,
    n_out: u32,
    // 1: one token only (the first row of x), whatever step.n_tokens says.
    one_row: u32,
    // 1: y += W·x ; 0: y = W·x.
    accumulate: u32,
    // Token t's output row starts at y[t · y_stride + y_offset].
    y_stride: u32,
    y_offset: u32,
    token0: u32,     // matmul_tile_group's; unused here
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatmulParams;
// binding 2: the weights, read through `wv` (weights_buffer.wgsl or weights_texture.wgsl)
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;  // (n_tokens, n_in / 4)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;  // (n_tokens, n_out)

// Threads per output row: 1, 2, 4, 8, 16, 32 or 64.
override LANES: u32 = 16u;
override ROWS: u32 = 64u / LANES;
const TOKENS: u32 = 8u;
override EPILOGUE: u32 = 0u;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let row_group = wid.x + wid.y * nwg.x;
    let r = row_group * ROWS + lid / LANES;
    let lane = lid % LANES;
    var n_tokens = step.n_tokens;
    if (p.one_row == 1u) { n_tokens = 1u; }
    let t0 = wid.z * TOKENS;
    let nt = min(TOKENS, n_tokens - t0);
    let n_blocks = p.n_in / 32u;
    let row_ok = r < p.n_out;

    for (var t = 0u; t < nt; t++) {
        var s = 0.0;
        if (row_ok) {
            let xrow = (t0 + t) * (p.n_in / 4u);
            for (var b = lane; b < n_blocks; b += LANES) {
                var xv: array<vec4<f32>, 8>;
                for (var i = 0u; i < 8u; i++) { xv[i] = x[xrow + b * 8u + i]; }
                s += block_dot(p.n_out, n_blocks, r, b, &xv);
            }
        }
        partial[lid] = s;
        workgroupBarrier();
        if (lane == 0u && row_ok) {
            var total = 0.0;
            for (var l = 0u; l < LANES; l++) { total += partial[lid + l]; }
            let o = (t0 + t) * p.y_stride + p.y_offset + r;
            if (EPILOGUE >= 2u) {
                // Rows r (even) and r + 1 are a gate/up pair, both in this
                // workgroup (ROWS is even): y (n_tokens, n_out / 2).
                if (r % 2u == 0u) {
                    var up = 0.0;
                    for (var l = 0u; l < LANES; l++) { up += partial[lid + LANES + l]; }
                    y[(t0 + t) * p.y_stride + p.y_offset + r / 2u] = gated(total, up);
                }
            } else if (p.accumulate == 1u) { y[o] += total; } else { y[o] = total; }
        }
        workgroupBarrier();
    }
}
