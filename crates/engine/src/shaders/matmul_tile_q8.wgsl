// Prefill's tile for the 4-bit block types (Q4_0, Q4_1, Q4_K: their quants
// share one layout, Q4_K's factors coming from its scale planes) on CPU adapters,
// with x in int8 and the products in 32-bit integers, two to a multiply
// (int8_pairs.wgsl): each invocation 16 rows × 8 tokens, one launch per
// 8-token group, as the f32 grouped tile (matmul_tile_group.wgsl, 8 × 8),
// its twin, which the tests hold it to. x comes quantized by
// quantize_x8.wgsl, the group's part of its output bound as a uniform (its
// layout there). A block's dot is d_w·d·Σ q_w·q + m_w·Σx (Q4_0: m_w =
// −8·d_w; Q4_K: its block's a and −b), the integer sum exact.
// Why: the f32 tile spends a shift, a mask, a convert and a multiply-add
// on each value for each row, and each of its 64 products a multiply and
// an add (lavapipe has no FMA); here a multiply and an add take two values'
// products, and a row's quants are unpacked once for the 8 tokens. Measured
// with scripts/lab_prefill_kernels.py (one 8-token group, weights from a
// texture, COLD=4; `KINDS=tile,q8`, on SwiftShader `tileu,q8u`), ms a
// launch against the f32 tile in the same run, with 8 rows an invocation:
// lavapipe (x shared by subgroups) gate/up 576 → 3,072 0.563 → 0.362, down
// 1,536 → 576 0.341 → 0.209; SwiftShader (every lane loads x) gate/up 4.85
// → 2.62, down 3.24 → 1.67. Then 16 rows, which load each block's x once
// for twice the rows (8 → 16 rows, same runs): lavapipe gate/up 0.314 →
// 0.298, down 0.199 → 0.190; SwiftShader gate/up 2.42–2.59 → 1.96–2.12,
// down 1.55 → 1.28.
// The values quantized to int8 are off by up to d/2 each, as llama.cpp's
// Q8 activations are.
// How each token's pairs reach the lanes, `x8`, comes from one of two
// files: tile_q8_x_subgroup.wgsl (subgroups of 8 lanes or more: lane l
// loads token l's and broadcasts them) or tile_q8_x_uniform.wgsl (every
// lane loads all eight).

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
    // The first token of the group.
    token0: u32,
    eps: f32,
    // The epilogue (EPILOGUE's values in matmul_tile.wgsl), read at run
    // time: one pipeline serves every product.
    epilogue: u32,
    // Vec4s from one 8-token group's x to the next in `xq`.
    x_group: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatmulParams;
// binding 2: the weights, read through `wv` (weights_buffer.wgsl or weights_texture.wgsl)
// The group's quantized x (quantize_x8.wgsl's layout, from its group's start).
@group(0) @binding(3) var<uniform> xq: array<vec4<u32>, 4096>;
// binding 4 on: what the rows are stored to, declared by the store that
// follows (tile_q8_y.wgsl with tile_store.wgsl: y; tile_store_rope.wgsl:
// q and the K and V caches).

// What tile_store.wgsl and gate.wgsl read as the epilogue, from the params.
var<private> EPILOGUE: u32;
// Where this workgroup's 8-token group starts in `xq` (a launch takes
// several groups, one a workgroup along y).
var<private> XG: u32;
// Rows a lane: 16, or 12 where a product's rows fill workgroups of 96 and
// not of 128 (`ops::tile_q8_rows`: SmolLM2's 576 and 960 rows, whose last
// workgroup of 128 would compute a quarter or a half of its rows for
// nothing). Only 12 or 16.
override R: u32 = 16u;
// Lanes per workgroup: R · WG = 128 rows (`ops::TILE_ROWS`), as the f32
// tile, or 96.
const WG: u32 = 8u;

// The eight tokens' pairs of one block.
struct X8 {
    t0: XPairs, t1: XPairs, t2: XPairs, t3: XPairs,
    t4: XPairs, t5: XPairs, t6: XPairs, t7: XPairs,
}

// Token t's (t < 8) pairs of block b.
fn x_pairs_at(b: u32, t: u32) -> XPairs {
    let i = XG + 4u * (8u * b + t);
    return XPairs(bitcast<vec4<i32>>(xq[i]), bitcast<vec4<i32>>(xq[i + 1u]),
                  bitcast<vec4<i32>>(xq[i + 2u]), bitcast<vec4<i32>>(xq[i + 3u]));
}

// One row's sums for the eight tokens: tokens 0..3 in a, 4..7 in b.
struct RowSums {
    a: vec4<f32>,
    b: vec4<f32>,
}

// The tokens' factors for a block: d (da: tokens 0..3, db: 4..7) and Σx.
struct XScales {
    da: vec4<f32>,
    db: vec4<f32>,
    sa: vec4<f32>,
    sb: vec4<f32>,
}

fn x_scales(nb: u32, b: u32) -> XScales {
    let i = XG + 32u * nb + 4u * b;
    let q0 = bitcast<vec4<f32>>(xq[i]);
    let q1 = bitcast<vec4<f32>>(xq[i + 1u]);
    let q2 = bitcast<vec4<f32>>(xq[i + 2u]);
    let q3 = bitcast<vec4<f32>>(xq[i + 3u]);
    return XScales(vec4<f32>(q0.x, q0.z, q1.x, q1.z), vec4<f32>(q2.x, q2.z, q3.x, q3.z),
                   vec4<f32>(q0.y, q0.w, q1.y, q1.w), vec4<f32>(q2.y, q2.w, q3.y, q3.w));
}

// s plus block b of row r dotted with the eight tokens' x.
fn row_add(s: ptr<function, RowSums>, nb: u32, r: u32, b: u32, x: X8, xs: XScales) {
    let w = w_pairs(wv(quant_slot(p.n_out, nb, r, b)));
    let dm = block_scale(p.n_out, nb, r, b);
    let ia = vec4<i32>(pair_dot(w, x.t0), pair_dot(w, x.t1), pair_dot(w, x.t2), pair_dot(w, x.t3));
    let ib = vec4<i32>(pair_dot(w, x.t4), pair_dot(w, x.t5), pair_dot(w, x.t6), pair_dot(w, x.t7));
    (*s).a += vec4<f32>(ia) * (dm.x * xs.da) + dm.y * xs.sa;
    (*s).b += vec4<f32>(ib) * (dm.x * xs.db) + dm.y * xs.sb;
}

@compute @workgroup_size(WG)
fn matmul_tile_q8(lane: Lane) {
    EPILOGUE = p.epilogue;
    XG = lane.gid.y * p.x_group;
    let t0 = p.token0 + 8u * lane.gid.y;
    if (t0 >= step.n_tokens) { return; }
    let nt = min(8u, step.n_tokens - t0);
    let r = lane.gid.x * R;
    let nb = p.n_in / 32u;
    let last = p.n_out - 1u;
    // Lanes past the last row compute it again and store nothing (with x
    // shared by subgroups every lane of a subgroup must run the loop).
    let r0 = min(r, last);
    let r1 = min(r0 + 1u, last);
    let r2 = min(r0 + 2u, last);
    let r3 = min(r0 + 3u, last);
    let r4 = min(r0 + 4u, last);
    let r5 = min(r0 + 5u, last);
    let r6 = min(r0 + 6u, last);
    let r7 = min(r0 + 7u, last);
    let r8 = min(r0 + 8u, last);
    let r9 = min(r0 + 9u, last);
    let r10 = min(r0 + 10u, last);
    let r11 = min(r0 + 11u, last);
    let r12 = min(r0 + 12u, last);
    let r13 = min(r0 + 13u, last);
    let r14 = min(r0 + 14u, last);
    let r15 = min(r0 + 15u, last);
    let z = RowSums(vec4<f32>(0.0), vec4<f32>(0.0));
    var s0 = z;
    var s1 = z;
    var s2 = z;
    var s3 = z;
    var s4 = z;
    var s5 = z;
    var s6 = z;
    var s7 = z;
    var s8 = z;
    var s9 = z;
    var s10 = z;
    var s11 = z;
    var s12 = z;
    var s13 = z;
    var s14 = z;
    var s15 = z;
    for (var b = 0u; b < nb; b++) {
        let x = x8(lane, b);
        let xs = x_scales(nb, b);
        row_add(&s0, nb, r0, b, x, xs);
        row_add(&s1, nb, r1, b, x, xs);
        row_add(&s2, nb, r2, b, x, xs);
        row_add(&s3, nb, r3, b, x, xs);
        row_add(&s4, nb, r4, b, x, xs);
        row_add(&s5, nb, r5, b, x, xs);
        row_add(&s6, nb, r6, b, x, xs);
        row_add(&s7, nb, r7, b, x, xs);
        row_add(&s8, nb, r8, b, x, xs);
        row_add(&s9, nb, r9, b, x, xs);
        row_add(&s10, nb, r10, b, x, xs);
        row_add(&s11, nb, r11, b, x, xs);
        if (R == 16u) {
            row_add(&s12, nb, r12, b, x, xs);
            row_add(&s13, nb, r13, b, x, xs);
            row_add(&s14, nb, r14, b, x, xs);
            row_add(&s15, nb, r15, b, x, xs);
        }
    }
    if (r >= p.n_out) { return; }
    // Token t's rows r0 .. r0 + 7, from the rows' sums (tile_store.wgsl).
    store_token(t0, 0u, r0, vec4<f32>(s0.a.x, s1.a.x, s2.a.x, s3.a.x), vec4<f32>(s4.a.x, s5.a.x, s6.a.x, s7.a.x));
    if (nt > 1u) { store_token(t0, 1u, r0, vec4<f32>(s0.a.y, s1.a.y, s2.a.y, s3.a.y), vec4<f32>(s4.a.y, s5.a.y, s6.a.y, s7.a.y)); }
    if (nt > 2u) { store_token(t0, 2u, r0, vec4<f32>(s0.a.z, s1.a.z, s2.a.z, s3.a.z), vec4<f32>(s4.a.z, s5.a.z, s6.a.z, s7.a.z)); }
    if (nt > 3u) { store_token(t0, 3u, r0, vec4<f32>(s0.a.w, s1.a.w, s2.a.w, s3.a.w), vec4<f32>(s4.a.w, s5.a.w, s6.a.w, s7.a.w)); }
    if (nt > 4u) { store_token(t0, 4u, r0, vec4<f32>(s0.b.x, s1.b.x, s2.b.x, s3.b.x), vec4<f32>(s4.b.x, s5.b.x, s6.b.x, s7.b.x)); }
    if (nt > 5u) { store_token(t0, 5u, r0, vec4<f32>(s0.b.y, s1.b.y, s2.b.y, s3.b.y), vec4<f32>(s4.b.y, s5.b.y, s6.b.y, s7.b.y)); }
    if (nt > 6u) { store_token(t0, 6u, r0, vec4<f32>(s0.b.z, s1.b.z, s2.b.z, s3.b.z), vec4<f32>(s4.b.z, s5.b.z, s6.b.z, s7.b.z)); }
    if (nt > 7u) { store_token(t0, 7u, r0, vec4<f32>(s0.b.w, s1.b.w, s2.b.w, s3.b.w), vec4<f32>(s4.b.w, s5.b.w, s6.b.w, s7.b.w)); }
    // Rows r0 + 8 .. r0 + R - 1, where they are rows.
    if (r8 != r0 + 8u) { return; }
    let end = min(p.n_out, r0 + R);
    store_token_to(t0, 0u, r8, vec4<f32>(s8.a.x, s9.a.x, s10.a.x, s11.a.x), vec4<f32>(s12.a.x, s13.a.x, s14.a.x, s15.a.x), end);
    if (nt > 1u) { store_token_to(t0, 1u, r8, vec4<f32>(s8.a.y, s9.a.y, s10.a.y, s11.a.y), vec4<f32>(s12.a.y, s13.a.y, s14.a.y, s15.a.y), end); }
    if (nt > 2u) { store_token_to(t0, 2u, r8, vec4<f32>(s8.a.z, s9.a.z, s10.a.z, s11.a.z), vec4<f32>(s12.a.z, s13.a.z, s14.a.z, s15.a.z), end); }
    if (nt > 3u) { store_token_to(t0, 3u, r8, vec4<f32>(s8.a.w, s9.a.w, s10.a.w, s11.a.w), vec4<f32>(s12.a.w, s13.a.w, s14.a.w, s15.a.w), end); }
    if (nt > 4u) { store_token_to(t0, 4u, r8, vec4<f32>(s8.b.x, s9.b.x, s10.b.x, s11.b.x), vec4<f32>(s12.b.x, s13.b.x, s14.b.x, s15.b.x), end); }
    if (nt > 5u) { store_token_to(t0, 5u, r8, vec4<f32>(s8.b.y, s9.b.y, s10.b.y, s11.b.y), vec4<f32>(s12.b.y, s13.b.y, s14.b.y, s15.b.y), end); }
    if (nt > 6u) { store_token_to(t0, 6u, r8, vec4<f32>(s8.b.z, s9.b.z, s10.b.z, s11.b.z), vec4<f32>(s12.b.z, s13.b.z, s14.b.z, s15.b.z), end); }
    if (nt > 7u) { store_token_to(t0, 7u, r8, vec4<f32>(s8.b.w, s9.b.w, s10.b.w, s11.b.w), vec4<f32>(s12.b.w, s13.b.w, s14.b.w, s15.b.w), end); }
}
