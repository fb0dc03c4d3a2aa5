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

// Hidden values a workgroup: n_ff / the launch's workgroups
// (`ops::ffn_slices`), a multiple of 128 (the down product's groups of four
// blocks, and rounds of 8 lanes × 8 pairs) up to MAX_SLICE.
override SLICE: u32 = 256u;
const MAX_SLICE: u32 = 1024u;

// The gated epilogue (gate.wgsl reads it).
var<private> EPILOGUE: u32;
// Which matrix `wv` reads: 0 W_gu, 1 W_d. Set before each phase, so that
// the compiler sees one texture a load.
var<private> PHASE: u32;

// Lanes per workgroup (`ops::MATVEC_LANES`).
const WG: u32 = 8u;

var<workgroup> hidden: array<vec4<f32>, MAX_SLICE / 4u>;

// x's vec4 k, as matvec_q8.wgsl quantizes it: the residual stream, whole.
fn x_at(k: u32) -> vec4<f32> {
    return x[k];
}

@compute @workgroup_size(WG)
fn ffn_matvec(@builtin(workgroup_id) wid: vec3<u32>, lane: Lane) {
    EPILOGUE = p.epilogue;
    PHASE = 0u;
    if (step.n_tokens == 0u) { return; }
    let k = wid.x;
    x_quantize(lane);
    let nb = p.n_in / 32u;
    let gu = Span(p.n_out, nb, 0u, (nb + 3u) / 4u);
    for (var round = 0u; round < SLICE / 64u; round++) {
        // This lane's hidden values o .. o + 7 of the slice: rows 2h, 2h + 1
        // of W_gu for h = k·SLICE + o + i.
        let o = round * 64u + lane.index * 8u;
        let r = 2u * (k * SLICE + o);
        let v = rows_dot16_span(array<u32, 16>(r, r + 1u, r + 2u, r + 3u, r + 4u, r + 5u, r + 6u, r + 7u,
                                               r + 8u, r + 9u, r + 10u, r + 11u, r + 12u, r + 13u, r + 14u, r + 15u), gu);
        hidden[o / 4u] = vec4<f32>(gated(v.a.x, v.a.y), gated(v.a.z, v.a.w), gated(v.b.x, v.b.y), gated(v.b.z, v.b.w));
        hidden[o / 4u + 1u] = vec4<f32>(gated(v.c.x, v.c.y), gated(v.c.z, v.c.w), gated(v.d.x, v.d.y), gated(v.d.z, v.d.w));
    }
    // Every lane is done with x's blocks before they are overwritten.
    workgroupBarrier();
    for (var b = lane.index; b < SLICE / 32u; b += WG) {
        store_block(b, array<vec4<f32>, 8>(hidden[8u * b], hidden[8u * b + 1u], hidden[8u * b + 2u], hidden[8u * b + 3u],
                                           hidden[8u * b + 4u], hidden[8u * b + 5u], hidden[8u * b + 6u], hidden[8u * b + 7u]));
    }
    workgroupBarrier();
    PHASE = 1u;
    let down = Span(pd.n_out, pd.n_in / 32u, k * (SLICE / 128u), SLICE / 128u);
    let last = pd.n_out - 1u;
    // Rows 16·rg .. 16·rg + 15 a lane (rows past the last computed again,
    // clamped, and not stored).
    for (var rg = lane.index; rg * 16u < pd.n_out; rg += WG) {
        let r = rg * 16u;
        let v = rows_dot16_span(array<u32, 16>(
            min(r, last), min(r + 1u, last), min(r + 2u, last), min(r + 3u, last),
            min(r + 4u, last), min(r + 5u, last), min(r + 6u, last), min(r + 7u, last),
            min(r + 8u, last), min(r + 9u, last), min(r + 10u, last), min(r + 11u, last),
            min(r + 12u, last), min(r + 13u, last), min(r + 14u, last), min(r + 15u, last)), down);
        put_part(k, r, v.a);
        put_part(k, r + 4u, v.b);
        put_part(k, r + 8u, v.c);
        put_part(k, r + 12u, v.d);
    }
}

// Rows r .. r + 3's partial sums from workgroup k, those that are rows.
fn put_part(k: u32, r: u32, v: vec4<f32>) {
    let base = k * pd.n_out;
    if (r < pd.n_out) { parts[base + r] = v.x; }
    if (r + 1u < pd.n_out) { parts[base + r + 1u] = v.y; }
    if (r + 2u < pd.n_out) { parts[base + r + 2u] = v.z; }
    if (r + 3u < pd.n_out) { parts[base + r + 3u] = v.w; }
}
