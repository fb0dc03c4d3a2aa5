// Weight decoding shared by the kernels that read quantized matrices
// (matmul, matvec, embed). Appended to their source by `shaders::Kernel::source`.
// The layouts are the GPU ("split blocks", tiled) layouts of
// `format/quant/layout.rs`: a matrix of `rows` rows of `nb` 32-value blocks holds,
// for the block types, every block's quants (1 vec4 per block, 2 for Q8_0
// and Q6_K) and then the scales (ceil(nb / 4) vec4s a row, one word per
// block). Q4_K and Q6_K have a second scale plane after the first, laid out
// the same: a block's (a, b) as f32 bits (Q4_K: a·q − b; Q6_K: a·q for the
// block's first 16 values, b·q for the last 16). The float types are their
// values, a block being 32 of them. Quants and scales are in tiles of 128
// rows (`quant_slot`, `scale_slot`).
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

// The tiled layout (format/quant/layout.rs, "Tiles"): rows go in tiles of
// TILE_ROWS, and a tile holds its rows' blocks 0..3, then their blocks
// 4..7, and so on, each row's four blocks together (or, for the larger
// blocks, the rows' first blocks, then their second: `block_major`);
// within a tile the rows go in the order the decode kernels' lanes read
// them (`tile_row`). So a workgroup of the decode products (8 lanes × 16
// rows = one tile) reads one stretch of memory in order, where the rows
// one after another had it read 128 stretches a few blocks long each,
// which the CPU's prefetchers did not follow: on lavapipe the product
// waited on memory, not on its arithmetic.
const TILE_ROWS: u32 = 128u;
// Rows an invocation of the decode products owns (`matvec.wgsl`).
const LANE_ROWS: u32 = 16u;

// Row r's place (0 ≤ r < n) in a tile of n rows: the tile's lanes' rows
// interleaved (row 16l + k at 8k + l, with n / 16 lanes), so that
// the lanes' loads of their k-th rows fall side by side; the rows past the
// last whole 16 (a tile's n need not be a multiple of 16) keep their order.
fn tile_row(n: u32, r: u32) -> u32 {
    let m = n - n % LANE_ROWS;
    if (r >= m) { return r; }
    return (r % LANE_ROWS) * (m / LANE_ROWS) + r / LANE_ROWS;
}

// Whether a tile's group holds its rows' first blocks, then their second
// ones and so on (blocks of 32 bytes or more: Q8_0, Q6_K, the floats), or
// each row's blocks together (the 16-byte blocks of Q4_0, Q4_1, Q4_K).
// Measured on lavapipe (scripts/lab_decode_kernels.py, LP_NUM_THREADS=2,
// COLD=3, four runs, ms a launch): SmolLM2's Q8_0 head 576 → 49,152
// 3.8–5.0 block by block against 7.1–8.3 row by row; the Q4_1 products
// (COLD=60) within their scatter either way. Row by row keeps a row's four
// 16-byte blocks in one 64-byte stretch for a GPU's lanes (matmul.wgsl),
// where block by block would leave them half a 32-byte sector each.
fn block_major() -> bool {
    return quant_vec4s() >= 2u;
}

// The slot of block b of row r in a matrix of `rows` rows of nb blocks:
// its quants are vec4s slot · quant_vec4s() onwards.
fn quant_slot(rows: u32, nb: u32, r: u32, b: u32) -> u32 {
    let t = r / TILE_ROWS;
    let n = min(TILE_ROWS, rows - t * TILE_ROWS);
    let g = b / 4u;
    let group = t * TILE_ROWS * nb + n * 4u * g;
    if (block_major()) { return group + (b % 4u) * n + tile_row(n, r % TILE_ROWS); }
    // The row's blocks in this group: four, fewer in a row's last group.
    let w = min(4u, nb - 4u * g);
    return group + tile_row(n, r % TILE_ROWS) * w + b % 4u;
}

// The vec4 of scale words for blocks 4g .. 4g+3 of row r within a plane
// (ceil(nb / 4) vec4s a row, tiled as the quants).
fn scale_slot(rows: u32, nb: u32, r: u32, g: u32) -> u32 {
    let t = r / TILE_ROWS;
    let n = min(TILE_ROWS, rows - t * TILE_ROWS);
    return t * TILE_ROWS * ((nb + 3u) / 4u) + n * g + tile_row(n, r % TILE_ROWS);
}

// Scales of blocks 4g .. 4g+3 of row r: one word each (see `unpack_scale`).
fn scale_vec(rows: u32, nb: u32, r: u32, g: u32) -> vec4<u32> {
    return wv(rows * nb * quant_vec4s() + scale_slot(rows, nb, r, g));
}

// Whether the type has a second scale plane (the K-quants).
fn has_plane_b() -> bool {
    return QTYPE == QT_Q4_K || QTYPE == QT_Q6_K;
}

// The second plane's words for blocks 4g .. 4g+3 of row r.
fn scale_b_vec(rows: u32, nb: u32, r: u32, g: u32) -> vec4<u32> {
    return wv(rows * nb * quant_vec4s() + rows * ((nb + 3u) / 4u) + scale_slot(rows, nb, r, g));
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
fn block_qdot(rows: u32, nb: u32, r: u32, b: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    let base = quant_slot(rows, nb, r, b) * quant_vec4s();
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
fn block_qdot_scaled(rows: u32, nb: u32, r: u32, b: u32, xv: ptr<function, array<vec4<f32>, 8>>, dm: vec2<f32>) -> f32 {
    if (QTYPE != QT_Q6_K) { return block_qdot(rows, nb, r, b, xv); }
    let base = quant_slot(rows, nb, r, b) * 2u;
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
    if (!is_scaled()) { return block_qdot(rows, nb, r, b, xv); }
    let dm = block_scale(rows, nb, r, b);
    let q = block_qdot_scaled(rows, nb, r, b, xv, dm);
    let o = outer_dm(dm);
    return o.x * q + o.y * block_xsum(xv);
}

// Values 4i .. 4i+3 of block b of row r, dequantized (i < 8).
fn block_vec4(rows: u32, nb: u32, r: u32, b: u32, i: u32) -> vec4<f32> {
    let base = quant_slot(rows, nb, r, b) * quant_vec4s();
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
