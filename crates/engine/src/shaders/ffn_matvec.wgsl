// The feed-forward block of one token (decode) in one launch, for lavapipe:
// the gate/up product with the norm fused in front and the gated activation
// (matvec.wgsl's EPILOGUE 2 or 3), then the down product, each workgroup
// over its own slice of the hidden values. The down product's sums over a
// slice are partial: workgroup k writes its sums for every output row to
// parts[k · n_embd + r], and the launches after it add the parts in fixed
// order (the next layer's Q|K|V product to its input, `x_at` in
// qkv_matvec.wgsl, and its attention output product to the residual,
// matvec.wgsl's EPILOGUE 1).
//   W_gu (2·n_ff, n_embd), gate and up rows interleaved, at binding 2; x, the
//   residual stream (n_embd,); g, the feed-forward norm's weights; W_d
//   (n_embd, n_ff) at binding 6; p and pd their params.
// Workgroup k (of n_ff / SLICE, about one a core):
//   1. quantizes the normed x to int8 blocks (matvec_q8.wgsl's x_quantize);
//   2. computes hidden values k·SLICE .. (k + 1)·SLICE − 1, in SLICE / 64
//      rounds of eight gate/up pairs a lane, into workgroup memory;
//   3. quantizes them to int8 blocks in place of x's, as the down product's
//      own launch would have (the same blocks, so the same rounding);
//   4. dots each row of W_d's blocks k·SLICE/32 .. with them, sixteen rows a
//      lane, through the same `rows_dot16_span` as the products.
// Why: a launch on lavapipe costs 40–80 µs whatever it does (its workers
// are woken and waited for), and the down product's own launch was one of
// five a layer. The parts cost the next layer's Q|K|V launch a read of
// n_ff / SLICE more vectors of x, hence few slices: one a core.

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
    y_stride: u32,
    y_offset: u32,
    token0: u32,
    eps: f32,
    epilogue: u32,
    x_group: u32,
    norm: u32,
    parts: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatmulParams;           // gate/up
// binding 2: W_gu, binding 6: W_d, read through `wv` (ffn_weights_*.wgsl)
@group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>;
@group(0) @binding(4) var<storage, read_write> parts: array<f32>;   // (n_ff / SLICE, n_embd)
@group(0) @binding(5) var<uniform> g: array<vec4<f32>, 4096>;
@group(0) @binding(7) var<uniform> pd: MatmulParams;          // down

// The gated epilogue (gate.wgsl reads it).
var<private> EPILOGUE: u32;
// Which matrix `wv` reads: 0 W_gu, 1 W_d. Set before each phase, so that
// the compiler sees one texture a load.
var<private> PHASE: u32;

// Lanes per workgroup (`ops::MATVEC_LANES`).
const WG: u32 = 8u;

// x's vec4 k, as matvec_q8.wgsl quantizes it: the residual stream, whole.
fn x_at(k: u32) -> vec4<f32> {
    return x[k];
}

// Workgroup k takes slice k (ffn_slice.wgsl).
@compute @workgroup_size(WG)
fn ffn_matvec(@builtin(workgroup_id) wid: vec3<u32>, lane: Lane) {
    if (step.n_tokens == 0u) { return; }
    ffn_slice(wid.x, lane);
}
