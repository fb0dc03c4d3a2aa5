// The int8 decode kernel's block dot for the 4-bit types (Q4_0, Q4_1):
// two products to a multiply (int8_pairs.wgsl, appended after this file).
// matvec_q8_bytes.wgsl is the same for Q8_0; `Variant::x_q8_bytes` picks one,
// so that neither pipeline compiles the other's code.

// A block of x as `block_idot` takes it: its words as the pairs
// `pair_dot` multiplies by.
alias XBlock = XPairs;

fn x_block(x0: vec4<u32>, x1: vec4<u32>) -> XBlock {
    let a = bitcast<vec4<i32>>(x0);
    let b = bitcast<vec4<i32>>(x1);
    let s8 = vec4<u32>(8u);
    let s16 = vec4<u32>(16u);
    let s24 = vec4<u32>(24u);
    return XPairs((((a << s24) >> s24) << s16) + ((a << s8) >> s24),
                  (((a << s16) >> s24) << s16) + (a >> s24),
                  (((b << s24) >> s24) << s16) + ((b << s8) >> s24),
                  (((b << s16) >> s24) << s16) + (b >> s24));
}

// What `rows_dot16` keeps of row r for the blocks of group g4: the slot
// of block 4·g4, the group's blocks being side by side in the 4-bit types'
// layout (`quant_slot`).
fn group_slot(m: Span, r: u32, g4: u32) -> u32 {
    return quant_slot(m.n_out, m.nb, r, 4u * g4);
}

// Σ q_w·q over block b (the group's j-th) of the row whose group starts
// at slot s, q_w its raw quants (0..15).
fn block_idot(m: Span, s: u32, b: u32, j: u32, xb: XBlock) -> i32 {
    return pair_dot(w_pairs(wv(s + j)), xb);
}
