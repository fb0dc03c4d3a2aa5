// Sixteen rows of W dotted with x in int8, for the rows-per-invocation
// decode kernels (matvec, qkv_matvec) on CPU adapters, for the 4-bit block
// types (Q4_0, Q4_1) and, on SwiftShader, Q8_0: the twin of matvec_row.wgsl with x_uniform.wgsl
// or x_subgroup.wgsl, which the tests hold it to. Appended to their source
// with quant.wgsl; they declare `p: MatmulParams`, the weights, `x` and `g`
// (uniforms of 4,096 vec4s).
//
// x (read through the kernel's `x_at`: x itself, or in qkv_matvec.wgsl x
// with the fused feed-forward's partial sums added) is quantized once per
// workgroup, as llama.cpp's Q8 activations: each
// block of 32 values becomes 32 int8 q = round(x / d), d = max|x| / 127,
// kept in workgroup memory with (d, Σx). A block's dot is then
// d_w·d·Σ q_w·q + m_w·Σx, with Σ q_w·q taken in 32-bit integers by
// `block_idot` (matvec_q8_pairs.wgsl for the 4-bit types: two products to
// a multiply, `pair_dot`; matvec_q8_bytes.wgsl for Q8_0: `dot4I8Packed`):
// no f32 unpacking of the weights.
// Why: CPU drivers run f32 dequantization as a shift, a mask, a convert
// and a multiply-add per value and lane; here a multiply does two values.
// Measured with scripts/lab_decode_kernels.py (`KINDS=uni|sub,q8`), ms per
// launch, against the f32 kernel in the same run: SwiftShader (x from the
// uniform) gate/up 576 → 3,072 1.29 → 1.01, down 1,536 → 576 0.86 →
// 0.52; lavapipe (x by subgroup, norm fused) gate/up 0.24–0.26 →
// 0.22–0.25, down 0.124 → 0.113. The kernel it replaces took the products
// with WGSL's `dot4I8Packed` for the 4-bit types too, which was slower than
// the f32 kernel on both (SwiftShader 1.40, lavapipe 0.24–0.26); for Q8_0's
// bytes it is faster on SwiftShader (matvec_q8_bytes.wgsl).
// With the norm fused (`norm_fused`), x is the residual stream and its RMS norm
// x / sqrt(mean(x²) + p.eps) · g is applied before quantizing (fused
// without subgroups: the workgroup sums the squares).
// The x quantization error per value is at most d / 2.

// Whether the norm is fused: from the params at run time, so that products
// with and without it share a pipeline (see matvec.wgsl's EPILOGUE).
fn norm_fused() -> bool {
    return p.norm == 1u;
}

// XBLOCKS, the blocks of x a workgroup holds (n_in / 32 ≤ 256, so n_in ≤
// 8,192: `ops::Q8_MAX_IN`), is a const put in front of this file per
// pipeline (`Variant::x_q8_blocks`): the arrays are sized to the row, as
// browsers zero workgroup memory at the start of every workgroup. (naga 30
// panics on workgroup arrays sized by an override.)

struct Lane {
    @builtin(local_invocation_index) index: u32,
}

// Block b's 32 int8 values: vec4 2b holds values 0..15, 2b + 1 values
// 16..31, four to a word, lowest byte first.
var<workgroup> xq: array<vec4<u32>, 2u * XBLOCKS>;
// Block b's (d, Σx).
var<workgroup> xds: array<vec2<f32>, XBLOCKS>;
// The lanes' sums of squares, for the fused norm (WG, the kernel's lanes
// per workgroup, is at most 64).
var<workgroup> squares: array<f32, 64>;

// Quantizes x (normed where `norm_fused`) into xq and xds; every lane of the
// workgroup calls it, in uniform control flow.
fn x_quantize(lane: Lane) {
    let nb = p.n_in / 32u;
    var norm = 1.0;
    if (norm_fused()) {
        var s = 0.0;
        for (var k = lane.index; k < p.n_in / 4u; k += WG) {
            let v = x_at(k);
            s += dot(v, v);
        }
        squares[lane.index] = s;
        workgroupBarrier();
        var t = 0.0;
        for (var l = 0u; l < WG; l++) { t += squares[l]; }
        norm = 1.0 / sqrt(t / f32(p.n_in) + p.eps);
    }
    for (var b = lane.index; b < nb; b += WG) {
        var v: array<vec4<f32>, 8>;
        for (var i = 0u; i < 8u; i++) {
            var xi = x_at(b * 8u + i);
            if (norm_fused()) { xi = xi * norm * g[b * 8u + i]; }
            v[i] = xi;
        }
        store_block(b, v);
    }
    workgroupBarrier();
}

// Block b's 32 values v quantized into xq and xds.
fn store_block(b: u32, v: array<vec4<f32>, 8>) {
    var amax = vec4<f32>(0.0);
    var sum = vec4<f32>(0.0);
    for (var i = 0u; i < 8u; i++) {
        amax = max(amax, abs(v[i]));
        sum += v[i];
    }
    let d = max(max(amax.x, amax.y), max(amax.z, amax.w)) / 127.0;
    let id = select(0.0, 1.0 / d, d > 0.0);
    xq[2u * b] = vec4<u32>(pack_i8(v[0] * id), pack_i8(v[1] * id), pack_i8(v[2] * id), pack_i8(v[3] * id));
    xq[2u * b + 1u] = vec4<u32>(pack_i8(v[4] * id), pack_i8(v[5] * id), pack_i8(v[6] * id), pack_i8(v[7] * id));
    xds[b] = vec2<f32>(d, sum.x + sum.y + sum.z + sum.w);
}

// Four values (|v| ≤ 127) rounded to int8, packed lowest first.
fn pack_i8(v: vec4<f32>) -> u32 {
    let b = bitcast<vec4<u32>>(clamp(vec4<i32>(round(v)), vec4<i32>(-127), vec4<i32>(127))) & vec4<u32>(0xFFu);
    return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

// Block b (= 4g + j) of row r dotted with x's quantized block (xb, ds),
// s holding the row's scale words for the group.
fn row_idot(m: Span, r: u32, b: u32, j: u32, s: vec4<u32>, xb: XBlock, ds: vec2<f32>) -> f32 {
    let d = unpack_scale(s[j]);
    return d.x * ds.x * f32(block_idot(m, r, b, j, xb)) + d.y * ds.y;
}

// What a product reads of W: its rows and blocks a row, and the groups of
// four blocks g_first .. g_first + groups, dotted with x's blocks 0, 1, …
// (the whole row for the decode products; a slice of the row for the
// fused feed-forward's down part, ffn_matvec.wgsl).
struct Span {
    n_out: u32,
    nb: u32,
    g_first: u32,
    groups: u32,
}

// Sixteen rows of W dotted with x, four in each vec4: rows[0..3] in a,
// rows[4..7] in b, rows[8..11] in c, rows[12..15] in d.
struct Rows16 {
    a: vec4<f32>,
    b: vec4<f32>,
    c: vec4<f32>,
    d: vec4<f32>,
}

// W's rows `rows` dotted with x quantized (as matvec_row.wgsl's).
fn rows_dot16(lane: Lane, rows: array<u32, 16>) -> Rows16 {
    x_quantize(lane);
    let nb = p.n_in / 32u;
    return rows_dot16_span(rows, Span(p.n_out, nb, 0u, (nb + 3u) / 4u));
}

// The rows `rows` of the span m dotted with the quantized blocks in xq.
fn rows_dot16_span(rows: array<u32, 16>, m: Span) -> Rows16 {
    let r0 = rows[0];
    let r1 = rows[1];
    let r2 = rows[2];
    let r3 = rows[3];
    let r4 = rows[4];
    let r5 = rows[5];
    let r6 = rows[6];
    let r7 = rows[7];
    let r8 = rows[8];
    let r9 = rows[9];
    let r10 = rows[10];
    let r11 = rows[11];
    let r12 = rows[12];
    let r13 = rows[13];
    let r14 = rows[14];
    let r15 = rows[15];
    var acc = Rows16(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var gx = 0u; gx < m.groups; gx++) {
        let g4 = m.g_first + gx;
        let s0 = scale_vec(m.n_out, m.nb, r0, g4);
        let s1 = scale_vec(m.n_out, m.nb, r1, g4);
        let s2 = scale_vec(m.n_out, m.nb, r2, g4);
        let s3 = scale_vec(m.n_out, m.nb, r3, g4);
        let s4 = scale_vec(m.n_out, m.nb, r4, g4);
        let s5 = scale_vec(m.n_out, m.nb, r5, g4);
        let s6 = scale_vec(m.n_out, m.nb, r6, g4);
        let s7 = scale_vec(m.n_out, m.nb, r7, g4);
        let s8 = scale_vec(m.n_out, m.nb, r8, g4);
        let s9 = scale_vec(m.n_out, m.nb, r9, g4);
        let s10 = scale_vec(m.n_out, m.nb, r10, g4);
        let s11 = scale_vec(m.n_out, m.nb, r11, g4);
        let s12 = scale_vec(m.n_out, m.nb, r12, g4);
        let s13 = scale_vec(m.n_out, m.nb, r13, g4);
        let s14 = scale_vec(m.n_out, m.nb, r14, g4);
        let s15 = scale_vec(m.n_out, m.nb, r15, g4);
        let sc = array<vec4<u32>, 16>(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15);
        // Each row's place for the group (`group_slot`), found once for
        // its four blocks.
        let rs = array<u32, 16>(group_slot(m, r0, g4), group_slot(m, r1, g4), group_slot(m, r2, g4), group_slot(m, r3, g4),
                                group_slot(m, r4, g4), group_slot(m, r5, g4), group_slot(m, r6, g4), group_slot(m, r7, g4),
                                group_slot(m, r8, g4), group_slot(m, r9, g4), group_slot(m, r10, g4), group_slot(m, r11, g4),
                                group_slot(m, r12, g4), group_slot(m, r13, g4), group_slot(m, r14, g4), group_slot(m, r15, g4));
        // The group's four blocks: q8_group_unrolled.wgsl or q8_group_loop.wgsl.
        q8_group(&acc, m, rs, sc, g4, gx);
    }
    return acc;
}

// acc plus block b (= 4g + j, if it is one) of rows r dotted with x's
// block bx, sc holding the rows' scale words for the group.
fn q8_block(acc: ptr<function, Rows16>, m: Span, r: array<u32, 16>, sc: array<vec4<u32>, 16>, b: u32, j: u32, bx: u32) {
    if (b >= m.nb) { return; }
    let xb = x_block(xq[2u * bx], xq[2u * bx + 1u]);
    let ds = xds[bx];
    (*acc).a += vec4<f32>(row_idot(m, r[0], b, j, sc[0], xb, ds), row_idot(m, r[1], b, j, sc[1], xb, ds),
                          row_idot(m, r[2], b, j, sc[2], xb, ds), row_idot(m, r[3], b, j, sc[3], xb, ds));
    (*acc).b += vec4<f32>(row_idot(m, r[4], b, j, sc[4], xb, ds), row_idot(m, r[5], b, j, sc[5], xb, ds),
                          row_idot(m, r[6], b, j, sc[6], xb, ds), row_idot(m, r[7], b, j, sc[7], xb, ds));
    (*acc).c += vec4<f32>(row_idot(m, r[8], b, j, sc[8], xb, ds), row_idot(m, r[9], b, j, sc[9], xb, ds),
                          row_idot(m, r[10], b, j, sc[10], xb, ds), row_idot(m, r[11], b, j, sc[11], xb, ds));
    (*acc).d += vec4<f32>(row_idot(m, r[12], b, j, sc[12], xb, ds), row_idot(m, r[13], b, j, sc[13], xb, ds),
                          row_idot(m, r[14], b, j, sc[14], xb, ds), row_idot(m, r[15], b, j, sc[15], xb, ds));
}
