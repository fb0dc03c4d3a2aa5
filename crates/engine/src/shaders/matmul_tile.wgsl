// Y = W·X for a batch of tokens (prefill) on CPU adapters, where a
// workgroup runs on one core as SIMD lanes: each invocation computes a tile
// of R = 8 output rows × TT = 8 tokens, so a weight block is loaded and
// dequantized once for 8 tokens and a token's activations once for 8 rows.
//   W (n_out, n_in) in the GPU layout of QTYPE; x (n_tokens, n_in); y (n_tokens, n_out),
//   or with EPILOGUE 2, (n_tokens, n_out / 2).
// The tile itself, `tile`; appended to one of two front files, which declare
// x (binding 3), `load_x` and the entry point (WG lanes per workgroup):
//   matmul_tile_x.wgsl: x in a storage buffer, all tokens in one launch;
//   matmul_tile_group.wgsl: one launch per 8-token group, whose x is read
//   from a 64 KiB uniform (n_in ≤ 2048), as the decode kernels read theirs.
// and then one of two files that say how each token's x reaches the lanes
// (`tile_x_block` once a block, `tile_x` for each 4 of its values):
//   tile_x_uniform.wgsl: every lane loads all eight tokens' values;
//   tile_x_subgroup.wgsl (grouped launches, subgroups of 8 lanes or more):
//   lane l loads token l's and broadcasts them.
// EPILOGUE as in `matvec.wgsl`: 0 store, 1 accumulate (the residual add),
// 2 SiLU-gated pairs (rows 2i, 2i+1 are gate_i, up_i: y[i] = silu(gate_i)·up_i),
// 3 GELU-gated pairs.
// Each value is dequantized whole (q·d + m) before its 8 products, and the
// 64 sums are 16 named vec4s (rows 0..3 and 4..7 of each token), not an
// array indexed in loops, which CPU drivers keep in memory. Measured with
// scripts/lab_prefill_kernels.py (weights from a texture, one 8-token group,
// COLD=4), ms per launch, against the tile of 4 rows × 8 tokens whose sums
// were arrays (the scales applied per block) in 64-lane workgroups (commit
// 69232c1):
//   lavapipe: 576 → 3,072 gate/up 1.38 → 0.88; 1,536 → 576 down 0.74 → 0.54;
//   SwiftShader: gate/up 14.5 → 8.3; down 7.9 → 4.4.
// x shared by subgroups (against every lane loading it, same run): lavapipe
// gate/up 0.78 → 0.55–0.58, down 0.42 → 0.40; in the model (`locum bench
// --profile`, a 64-token batch) gate/up 212–248 → 149–167 ms, down
// 119–140 → 97–111. Other tile shapes, with x shared (lavapipe, gate/up):
// 4 × 8 0.68, 8 × 4 0.88, 4 × 4 1.07, 16 × 8 0.59, 24 × 8 0.57 ms; 8 × 8
// 0.61 in that run. lavapipe lowers fma() to a multiply and an add, so
// writing the sums as fma()s changed nothing.
// A block's eight steps of four values are written out (`tile_rows`,
// `tile_add`) rather than looped: lavapipe's compiler unrolls such a loop,
// SwiftShader's does not, and there each step's quants and x were then
// picked from arrays by a runtime index. SwiftShader (lab, x from the
// uniform): gate/up 7.69 → 4.87 ms, down 5.07 → 3.72; lavapipe 0.60–0.64
// → 0.57–0.59 and 0.40–0.46 → 0.35–0.42; the page's prefill 10.2 / 10.4 →
// 17.4 / 17.7 tokens/s, its time to first token 20 → 12 s, its load
// 6.2 / 6.7 → 8.7 / 9.2 s (the larger kernel compiles longer).

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
    // The first token of the group `matmul_tile_group` computes (0 for
    // every other kernel).
    token0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatmulParams;
// binding 2: the weights, read through `wv` (weights_buffer.wgsl or weights_texture.wgsl)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;        // (n_tokens, n_out)

override EPILOGUE: u32 = 0u;
const R: u32 = 8u;
const TT: u32 = 8u;
// Lanes per workgroup: a workgroup covers R · WG = 128 rows (`ops::TILE_ROWS`).
const WG: u32 = 16u;

// Values 4i .. 4i+3 of a block from its quants (unscaled: q, not q·d + m).
fn quant_vec4(qv: ptr<function, array<vec4<u32>, 8>>, i: u32) -> vec4<f32> {
    switch QTYPE {
        case 0u: { return bitcast<vec4<f32>>((*qv)[i]); }
        case 1u: {
            let q = (*qv)[i / 2u];
            if (i % 2u == 0u) { return unpack_f16x4(q.x, q.y); }
            return unpack_f16x4(q.z, q.w);
        }
        case 8u, 14u: { return bytes_i8((*qv)[i / 4u][i % 4u]); }
        default: {
            let word = (*qv)[0][i % 4u];
            if (i < 4u) { return nibbles_lo(word); }
            return nibbles_hi(word);
        }
    }
}

// Block b of row r: its quants, and its factors (d, m) for values q·d + m
// (Q6_K's two half-block scales, which `dequant4` applies).
fn tile_quants(nb: u32, r: u32, b: u32) -> array<vec4<u32>, 8> {
    var q: array<vec4<u32>, 8>;
    for (var k = 0u; k < quant_vec4s(); k++) {
        q[k] = wv(quant_slot(p.n_out, nb, r, b) * quant_vec4s() + k);
    }
    return q;
}

fn tile_dm(nb: u32, r: u32, b: u32) -> vec2<f32> {
    if (is_scaled()) { return block_scale(p.n_out, nb, r, b); }
    return vec2<f32>(1.0, 0.0);
}

// Values 4i .. 4i+3 of a block dequantized: q from `quant_vec4`, dm the
// block's factors.
fn dequant4(q: vec4<f32>, dm: vec2<f32>, i: u32) -> vec4<f32> {
    let o = outer_dm(dm);
    return q * (inner_scale(dm, i) * o.x) + vec4<f32>(o.y);
}

// Four rows' values dotted with one token's.
fn dot4(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32>, x: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(dot(a, x), dot(b, x), dot(c, x), dot(d, x));
}

// The tile's 64 sums: token t's rows 0..3 in lo_t, rows 4..7 in hi_t (named
// vec4s, not an array indexed in loops, which CPU drivers keep in memory).
struct TileSums {
    lo0: vec4<f32>, lo1: vec4<f32>, lo2: vec4<f32>, lo3: vec4<f32>,
    lo4: vec4<f32>, lo5: vec4<f32>, lo6: vec4<f32>, lo7: vec4<f32>,
    hi0: vec4<f32>, hi1: vec4<f32>, hi2: vec4<f32>, hi3: vec4<f32>,
    hi4: vec4<f32>, hi5: vec4<f32>, hi6: vec4<f32>, hi7: vec4<f32>,
}

// Values 4i .. 4i+3 of a block of the tile's eight rows, dequantized from
// their quants (q0 .. q7, `tile_quants`) and factors.
struct TileRows {
    v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>,
    v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>,
}

// The factors of a block's eight rows (`tile_dm`).
struct TileDm {
    d0: vec2<f32>, d1: vec2<f32>, d2: vec2<f32>, d3: vec2<f32>,
    d4: vec2<f32>, d5: vec2<f32>, d6: vec2<f32>, d7: vec2<f32>,
}

fn tile_rows(q0: ptr<function, array<vec4<u32>, 8>>, q1: ptr<function, array<vec4<u32>, 8>>,
             q2: ptr<function, array<vec4<u32>, 8>>, q3: ptr<function, array<vec4<u32>, 8>>,
             q4: ptr<function, array<vec4<u32>, 8>>, q5: ptr<function, array<vec4<u32>, 8>>,
             q6: ptr<function, array<vec4<u32>, 8>>, q7: ptr<function, array<vec4<u32>, 8>>,
             dm: TileDm, i: u32) -> TileRows {
    return TileRows(dequant4(quant_vec4(q0, i), dm.d0, i), dequant4(quant_vec4(q1, i), dm.d1, i),
                    dequant4(quant_vec4(q2, i), dm.d2, i), dequant4(quant_vec4(q3, i), dm.d3, i),
                    dequant4(quant_vec4(q4, i), dm.d4, i), dequant4(quant_vec4(q5, i), dm.d5, i),
                    dequant4(quant_vec4(q6, i), dm.d6, i), dequant4(quant_vec4(q7, i), dm.d7, i));
}

// The sums plus the rows' values 4i .. 4i+3 dotted with each token's (xs).
fn tile_add(s: ptr<function, TileSums>, v: TileRows, xs: array<vec4<f32>, 8>) {
    (*s).lo0 += dot4(v.v0, v.v1, v.v2, v.v3, xs[0]);
    (*s).hi0 += dot4(v.v4, v.v5, v.v6, v.v7, xs[0]);
    (*s).lo1 += dot4(v.v0, v.v1, v.v2, v.v3, xs[1]);
    (*s).hi1 += dot4(v.v4, v.v5, v.v6, v.v7, xs[1]);
    (*s).lo2 += dot4(v.v0, v.v1, v.v2, v.v3, xs[2]);
    (*s).hi2 += dot4(v.v4, v.v5, v.v6, v.v7, xs[2]);
    (*s).lo3 += dot4(v.v0, v.v1, v.v2, v.v3, xs[3]);
    (*s).hi3 += dot4(v.v4, v.v5, v.v6, v.v7, xs[3]);
    (*s).lo4 += dot4(v.v0, v.v1, v.v2, v.v3, xs[4]);
    (*s).hi4 += dot4(v.v4, v.v5, v.v6, v.v7, xs[4]);
    (*s).lo5 += dot4(v.v0, v.v1, v.v2, v.v3, xs[5]);
    (*s).hi5 += dot4(v.v4, v.v5, v.v6, v.v7, xs[5]);
    (*s).lo6 += dot4(v.v0, v.v1, v.v2, v.v3, xs[6]);
    (*s).hi6 += dot4(v.v4, v.v5, v.v6, v.v7, xs[6]);
    (*s).lo7 += dot4(v.v0, v.v1, v.v2, v.v3, xs[7]);
    (*s).hi7 += dot4(v.v4, v.v5, v.v6, v.v7, xs[7]);
}

// The tile of rows r0 .. r0 + 7 and tokens t0 .. t0 + 7 (rows past n_out
// repeat the last row and are not written; tokens past the batch repeat
// the last token and are not written).
fn tile(lane: Lane, r: u32, t0: u32) {
    if (t0 >= step.n_tokens) { return; }
    let nt = min(TT, step.n_tokens - t0);
    let nb = p.n_in / 32u;
    let last = p.n_out - 1u;
    // Lanes past the last row compute it again and store nothing: with x
    // shared by subgroups (tile_x_subgroup.wgsl), every lane of a subgroup
    // must run the loop.
    let r0 = min(r, last);
    let r1 = min(r0 + 1u, last);
    let r2 = min(r0 + 2u, last);
    let r3 = min(r0 + 3u, last);
    let r4 = min(r0 + 4u, last);
    let r5 = min(r0 + 5u, last);
    let r6 = min(r0 + 6u, last);
    let r7 = min(r0 + 7u, last);
    var s = TileSums(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0),
                     vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0),
                     vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0),
                     vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var b = 0u; b < nb; b++) {
        var xb = tile_x_block(lane, t0, nt, b);
        var q0 = tile_quants(nb, r0, b);
        var q1 = tile_quants(nb, r1, b);
        var q2 = tile_quants(nb, r2, b);
        var q3 = tile_quants(nb, r3, b);
        var q4 = tile_quants(nb, r4, b);
        var q5 = tile_quants(nb, r5, b);
        var q6 = tile_quants(nb, r6, b);
        var q7 = tile_quants(nb, r7, b);
        let dm = TileDm(tile_dm(nb, r0, b), tile_dm(nb, r1, b), tile_dm(nb, r2, b), tile_dm(nb, r3, b),
                        tile_dm(nb, r4, b), tile_dm(nb, r5, b), tile_dm(nb, r6, b), tile_dm(nb, r7, b));
        // The block's eight steps of 4 values, written out: SwiftShader does
        // not unroll loops, and in a loop each step indexed the quants and
        // x's values by a runtime value (lab, SwiftShader gate/up: 7.06 ms
        // as a loop, 4.88 written out; lavapipe unrolls it either way).
        let k = b * 8u;
        tile_add(&s, tile_rows(&q0, &q1, &q2, &q3, &q4, &q5, &q6, &q7, dm, 0u), tile_x(&xb, t0, nt, k, 0u));
        tile_add(&s, tile_rows(&q0, &q1, &q2, &q3, &q4, &q5, &q6, &q7, dm, 1u), tile_x(&xb, t0, nt, k + 1u, 1u));
        tile_add(&s, tile_rows(&q0, &q1, &q2, &q3, &q4, &q5, &q6, &q7, dm, 2u), tile_x(&xb, t0, nt, k + 2u, 2u));
        tile_add(&s, tile_rows(&q0, &q1, &q2, &q3, &q4, &q5, &q6, &q7, dm, 3u), tile_x(&xb, t0, nt, k + 3u, 3u));
        tile_add(&s, tile_rows(&q0, &q1, &q2, &q3, &q4, &q5, &q6, &q7, dm, 4u), tile_x(&xb, t0, nt, k + 4u, 4u));
        tile_add(&s, tile_rows(&q0, &q1, &q2, &q3, &q4, &q5, &q6, &q7, dm, 5u), tile_x(&xb, t0, nt, k + 5u, 5u));
        tile_add(&s, tile_rows(&q0, &q1, &q2, &q3, &q4, &q5, &q6, &q7, dm, 6u), tile_x(&xb, t0, nt, k + 6u, 6u));
        tile_add(&s, tile_rows(&q0, &q1, &q2, &q3, &q4, &q5, &q6, &q7, dm, 7u), tile_x(&xb, t0, nt, k + 7u, 7u));
    }
    if (r >= p.n_out) { return; }
    store_token(t0, 0u, r0, s.lo0, s.hi0);
    if (nt > 1u) { store_token(t0, 1u, r0, s.lo1, s.hi1); }
    if (nt > 2u) { store_token(t0, 2u, r0, s.lo2, s.hi2); }
    if (nt > 3u) { store_token(t0, 3u, r0, s.lo3, s.hi3); }
    if (nt > 4u) { store_token(t0, 4u, r0, s.lo4, s.hi4); }
    if (nt > 5u) { store_token(t0, 5u, r0, s.lo5, s.hi5); }
    if (nt > 6u) { store_token(t0, 6u, r0, s.lo6, s.hi6); }
    if (nt > 7u) { store_token(t0, 7u, r0, s.lo7, s.hi7); }
}
