// Products of 4-bit quants with int8 x in 32-bit integers, two to a
// multiply: shared by the int8 decode kernel (matvec_q8.wgsl) and prefill's
// int8 tile (matmul_tile_q8.wgsl), for the 4-bit block types (Q4_0, Q4_1;
// the tile also Q4_K, whose quants are laid out the same).
// A block's 16 quant bytes (one vec4<u32>) hold values 0..15 in their low
// nibbles and 16..31 in their high ones. Masked with 0x00FF00FF, a word of
// nibbles gives a pair w = w0 + w2·65536 (its bytes 0 and 2); shifted by 8
// first, the pair of bytes 1 and 3. x's matching pairs are e = x0·65536 +
// x2 and o = x1·65536 + x3 (`XPairs`), so that w·e = w0·x2 + (w0·x0 +
// w2·x2)·65536 (mod 2³²; the w2·x0 term falls off the top): the high half
// holds the two products' sum, the low half a term under 32,768 in size
// that rounding (+ 32,768, then an arithmetic shift) takes away. Exact
// while the low terms of the words summed stay under 32,768 and the sums
// under 32,768 in size: eight words, 16 products of at most 15 · 127.
// Q8_0's signed bytes fit two products to a word, one word to a sum: on
// SwiftShader its 576 → 49,152 head took 48 ms a token that way against 27
// in f32, so Q8_0 stays on the f32 kernels.

// A block's x (int8 values c0..c3 in each of its words) as pairs: e = c0·65536
// + c2 and o = c1·65536 + c3, for values 0..15 (e0, o0: word i holds values
// 4i..4i+3) and 16..31 (e1, o1).
struct XPairs {
    e0: vec4<i32>,
    o0: vec4<i32>,
    e1: vec4<i32>,
    o1: vec4<i32>,
}

// A block's quants as pairs: low nibbles' bytes 0 and 2 (le), 1 and 3
// (lo); high nibbles' the same (he, ho).
struct WPairs {
    le: vec4<i32>,
    lo: vec4<i32>,
    he: vec4<i32>,
    ho: vec4<i32>,
}

fn w_pairs(q: vec4<u32>) -> WPairs {
    // Masked with 0x000F000F, the word's bits 0–3 and 16–19 are byte 0's
    // and byte 2's low nibbles, already a pair; shifted by 4, 8 and 12
    // first, the high nibbles of bytes 0 and 2, the low ones of bytes 1 and
    // 3, and their high ones: three shifts and four masks a word, where
    // splitting the nibbles first and the bytes after took three and six
    // (lavapipe, `lab_decode_kernels.py 576 3072 3 2 1`, KINDS=stoq8,stoq8@REV:
    // 0.235 / 0.247 / 0.244 against 0.248 / 0.251 / 0.246 ms).
    let f = vec4<u32>(0x000F000Fu);
    return WPairs(bitcast<vec4<i32>>(q & f), bitcast<vec4<i32>>((q >> vec4<u32>(8u)) & f),
                  bitcast<vec4<i32>>((q >> vec4<u32>(4u)) & f), bitcast<vec4<i32>>((q >> vec4<u32>(12u)) & f));
}

// Σ of the products summed in the high halves of s (see the top).
fn pair_sum(s: i32) -> i32 {
    return (s + 32768) >> 16u;
}

// Σ q_w·q_x over a block: its quants' pairs with x's.
fn pair_dot(w: WPairs, x: XPairs) -> i32 {
    let s0 = w.le * x.e0 + w.lo * x.o0;
    let s1 = w.he * x.e1 + w.ho * x.o1;
    return pair_sum((s0.x + s0.y) + (s0.z + s0.w)) + pair_sum((s1.x + s1.y) + (s1.z + s1.w));
}
