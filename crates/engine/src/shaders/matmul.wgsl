// y = W·x for a batch of tokens, dequantizing W in the kernel.
//   W (n_out, n_in) in the GPU block layout of QTYPE; x (n_tokens, n_in); y (n_tokens, n_out).
// A workgroup of 64 threads owns ROWS = 4 output rows for up to TOKENS = 8
// tokens: 16 threads per row stride over the row's blocks, each block is
// decoded once into registers and used for every token of the tile, so in
// prefill each weight is read once per 8 tokens. Decode is the 1-token case.
// With `accumulate` set, y += W·x (the residual add, fused).

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct MatmulParams {
    n_in: u32,
    n_out: u32,
    // 1: one token only (the last), whatever step.n_tokens says.
    one_row: u32,
    // 1: y += W·x ; 0: y = W·x.
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatmulParams;
@group(0) @binding(2) var<storage, read> w: array<u32>;        // (n_out, n_in) packed
@group(0) @binding(3) var<storage, read> x: array<f32>;        // (n_tokens, n_in)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;  // (n_tokens, n_out)

const ROWS: u32 = 4u;
const TOKENS: u32 = 8u;
const LANES: u32 = 16u;

var<workgroup> partial: array<f32, 512>; // (ROWS * LANES) threads × TOKENS

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

    var acc: array<f32, 8>;
    if (r < p.n_out) {
        let n_blocks = p.n_in / 32u;
        let wpb = words_per_block();
        for (var b = lane; b < n_blocks; b += LANES) {
            decode_block((r * n_blocks + b) * wpb);
            for (var t = 0u; t < nt; t++) {
                let xo = (t0 + t) * p.n_in + b * 32u;
                var s = 0.0;
                for (var i = 0u; i < 32u; i++) { s += wv[i] * x[xo + i]; }
                acc[t] += s;
            }
        }
    }
    for (var t = 0u; t < TOKENS; t++) { partial[t * 64u + lid] = acc[t]; }
    workgroupBarrier();
    // Thread (row, t) for t < nt sums its row's LANES partials for token t.
    let row_in_wg = lid / LANES;
    let t = lane;
    if (t < nt && r < p.n_out) {
        var s = 0.0;
        for (var l = 0u; l < LANES; l++) { s += partial[t * 64u + row_in_wg * LANES + l]; }
        let o = (t0 + t) * p.n_out + r;
        if (p.accumulate == 1u) { y[o] += s; } else { y[o] = s; }
    }
}
