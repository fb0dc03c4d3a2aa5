// Weight decoding shared by the kernels that read quantized matrices
// (matmul, matvec, embed). Appended to their source by `shaders::Kernel::source`.
// The layouts are the GPU ("split blocks") layouts of `format/quant.rs`:
// a matrix of `rows` rows of `nb` 32-value blocks holds, for the block
// types, every block's quants (row-major, 1 vec4 per block, 2 for Q8_0 and
// Q6_K) and then the scales (per row, ceil(nb / 4) vec4s, one word per
// block). Q4_K and Q6_K have a second scale plane after the first, laid out
// the same: a block's (a, b) as f32 bits (Q4_K: a·q − b; Q6_K: a·q for the
// block's first 16 values, b·q for the last 16). The float types are their
// values, row-major.
// The weights are read one vec4<u32> at a time through `wv(i)`, which
// weights_buffer.wgsl (a storage buffer) or weights_texture.wgsl (a texture,
// on CPU adapters) defines at binding 2.
//
// Everything works on vec4s with constant loop bounds, and nothing indexes a
// private array with a runtime value: on CPU Vulkan drivers (lavapipe) such
// arrays turn into per-lane memory traffic, and on GPUs into register spills.
// Every storage load fetches 16 bytes: on lavapipe a load costs a loop over
// the SIMD lanes whether it fetches one word or four.

// Which tensor type the weights are in; a GgmlType::gpu_code value.
override QTYPE: u32 = 0u;

const QT_F32: u32 = 0u;
const QT_F16: u32 = 1u;
const QT_Q4_0: u32 = 2u;
const QT_Q4_1: u32 = 3u;
const QT_Q8_0: u32 = 8u;
const QT_Q4_K: u32 = 12u;
const QT_Q6_K: u32 = 14u;

// vec4<u32>s per block of 32 values in the quants region.
fn quant_vec4s() -> u32 {
    switch QTYPE {
        case 0u: { return 8u; }
        case 1u: { return 4u; }
        case 8u, 14u: { return 2u; }
        default: { return 1u; }
    }
}

// Whether blocks carry a scale (the block types) or are plain values.
fn is_scaled() -> bool {
    return QTYPE >= 2u;
}

// Scales of blocks 4g .. 4g+3 of row r: one word each (see `unpack_scale`).
fn scale_vec(rows: u32, nb: u32, r: u32, g: u32) -> vec4<u32> {
    return wv(rows * nb * quant_vec4s() + r * ((nb + 3u) / 4u) + g);
}

// Whether the type has a second scale plane (the K-quants).
fn has_plane_b() -> bool {
    return QTYPE == QT_Q4_K || QTYPE == QT_Q6_K;
}

// The second plane's words for blocks 4g .. 4g+3 of row r.
fn scale_b_vec(rows: u32, nb: u32, r: u32, g: u32) -> vec4<u32> {
    let ns = (nb + 3u) / 4u;
    return wv(rows * nb * quant_vec4s() + rows * ns + r * ns + g);
}

// A block's factors from its scale word and its second-plane word: (d, m)
// with a value q·d + m, except for Q6_K, whose (a, b) scale the two halves
// of the block (see `inner_scale`).
fn block_dm(word: u32, word_b: u32) -> vec2<f32> {
    if (QTYPE == QT_Q4_K) { return vec2<f32>(bitcast<f32>(word), -bitcast<f32>(word_b)); }
    if (QTYPE == QT_Q6_K) { return vec2<f32>(bitcast<f32>(word), bitcast<f32>(word_b)); }
    return unpack_scale(word);
}

// The factors of block b of row r.
fn block_scale(rows: u32, nb: u32, r: u32, b: u32) -> vec2<f32> {
    let word = scale_vec(rows, nb, r, b / 4u)[b % 4u];
    var word_b = 0u;
    if (has_plane_b()) { word_b = scale_b_vec(rows, nb, r, b / 4u)[b % 4u]; }
    return block_dm(word, word_b);
}

// The factor for values 4i .. 4i+3 applied inside the block sum: Q6_K's
// half-block scales; 1 for every other type.
fn inner_scale(dm: vec2<f32>, i: u32) -> f32 {
    if (QTYPE == QT_Q6_K) { return select(dm.y, dm.x, i < 4u); }
    return 1.0;
}

// The (d, m) applied after the block sum: Q6_K's scales are already inside.
fn outer_dm(dm: vec2<f32>) -> vec2<f32> {
    if (QTYPE == QT_Q6_K) { return vec2<f32>(1.0, 0.0); }
    return dm;
}

// (d, m) of a scale word: a value is q·d + m.
fn unpack_scale(word: u32) -> vec2<f32> {
    let dm = unpack2x16float(word);
    if (QTYPE == QT_Q4_1) { return dm; }
    if (QTYPE == QT_Q4_0) { return vec2<f32>(dm.x, -8.0 * dm.x); }
    return vec2<f32>(dm.x, 0.0);
}

fn nibbles_lo(word: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) & vec4<u32>(15u));
}

fn nibbles_hi(word: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(word >> 4u, word >> 12u, word >> 20u, word >> 28u) & vec4<u32>(15u));
}

// The four signed bytes of a word.
fn bytes_i8(word: u32) -> vec4<f32> {
    let v = bitcast<i32>(word);
    return vec4<f32>(f32((v << 24u) >> 24u), f32((v << 16u) >> 24u), f32((v << 8u) >> 24u), f32(v >> 24u));
}

fn unpack_f16x4(a: u32, b: u32) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(a), unpack2x16float(b));
}

// Σⱼ qⱼ·xⱼ over block b of row r (nb blocks per row), where xv holds the
// block's 32 activations and qⱼ are its raw quants (for the float types,
// its values). A block type's dot is then d·this + m·Σx.
fn block_qdot(nb: u32, r: u32, b: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    let base = (r * nb + b) * quant_vec4s();
    var s = vec4<f32>(0.0);
    switch QTYPE {
        case 0u: {
            for (var i = 0u; i < 8u; i++) { s += bitcast<vec4<f32>>(wv(base + i)) * (*xv)[i]; }
        }
        case 1u: {
            for (var i = 0u; i < 4u; i++) {
                let q = wv(base + i);
                s += unpack_f16x4(q.x, q.y) * (*xv)[2u * i] + unpack_f16x4(q.z, q.w) * (*xv)[2u * i + 1u];
            }
        }
        case 8u, 14u: {
            let q0 = wv(base);
            let q1 = wv(base + 1u);
            s = bytes_i8(q0.x) * (*xv)[0] + bytes_i8(q0.y) * (*xv)[1] + bytes_i8(q0.z) * (*xv)[2] + bytes_i8(q0.w) * (*xv)[3]
              + bytes_i8(q1.x) * (*xv)[4] + bytes_i8(q1.y) * (*xv)[5] + bytes_i8(q1.z) * (*xv)[6] + bytes_i8(q1.w) * (*xv)[7];
        }
        default: {
            // Q4: values 0..15 are the low nibbles of the 16 bytes, 16..31 the high.
            let q = wv(base);
            s = nibbles_lo(q.x) * (*xv)[0] + nibbles_lo(q.y) * (*xv)[1] + nibbles_lo(q.z) * (*xv)[2] + nibbles_lo(q.w) * (*xv)[3]
              + nibbles_hi(q.x) * (*xv)[4] + nibbles_hi(q.y) * (*xv)[5] + nibbles_hi(q.z) * (*xv)[6] + nibbles_hi(q.w) * (*xv)[7];
        }
    }
    return s.x + s.y + s.z + s.w;
}

// `block_qdot` with the inner scales of `dm` applied (Q6_K's halves).
fn block_qdot_scaled(nb: u32, r: u32, b: u32, xv: ptr<function, array<vec4<f32>, 8>>, dm: vec2<f32>) -> f32 {
    if (QTYPE != QT_Q6_K) { return block_qdot(nb, r, b, xv); }
    let base = (r * nb + b) * 2u;
    let q0 = wv(base);
    let q1 = wv(base + 1u);
    let lo = bytes_i8(q0.x) * (*xv)[0] + bytes_i8(q0.y) * (*xv)[1] + bytes_i8(q0.z) * (*xv)[2] + bytes_i8(q0.w) * (*xv)[3];
    let hi = bytes_i8(q1.x) * (*xv)[4] + bytes_i8(q1.y) * (*xv)[5] + bytes_i8(q1.z) * (*xv)[6] + bytes_i8(q1.w) * (*xv)[7];
    return dm.x * (lo.x + lo.y + lo.z + lo.w) + dm.y * (hi.x + hi.y + hi.z + hi.w);
}

// Σ of the 32 activations of a block.
fn block_xsum(xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    let s = ((*xv)[0] + (*xv)[1]) + ((*xv)[2] + (*xv)[3]) + ((*xv)[4] + (*xv)[5]) + ((*xv)[6] + (*xv)[7]);
    return s.x + s.y + s.z + s.w;
}

// The dot of block b of row r with xv: the block's scale applied.
fn block_dot(rows: u32, nb: u32, r: u32, b: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    if (!is_scaled()) { return block_qdot(nb, r, b, xv); }
    let dm = block_scale(rows, nb, r, b);
    let q = block_qdot_scaled(nb, r, b, xv, dm);
    let o = outer_dm(dm);
    return o.x * q + o.y * block_xsum(xv);
}

// Values 4i .. 4i+3 of block b of row r, dequantized (i < 8).
fn block_vec4(rows: u32, nb: u32, r: u32, b: u32, i: u32) -> vec4<f32> {
    let base = (r * nb + b) * quant_vec4s();
    switch QTYPE {
        case 0u: { return bitcast<vec4<f32>>(wv(base + i)); }
        case 1u: {
            let q = wv(base + i / 2u);
            if (i % 2u == 0u) { return unpack_f16x4(q.x, q.y); }
            return unpack_f16x4(q.z, q.w);
        }
        default: {}
    }
    let dm = block_scale(rows, nb, r, b);
    if (QTYPE == QT_Q8_0) {
        return bytes_i8(wv(base + i / 4u)[i % 4u]) * dm.x;
    }
    if (QTYPE == QT_Q6_K) {
        return bytes_i8(wv(base + i / 4u)[i % 4u]) * inner_scale(dm, i);
    }
    let word = wv(base)[i % 4u];
    var q = nibbles_lo(word);
    if (i >= 4u) { q = nibbles_hi(word); }
    return q * dm.x + vec4<f32>(dm.y);
}
