// The int8 decode kernel's block dot for Q8_0 (on SwiftShader: `Gpu::x_q8`),
// whose signed bytes take WGSL's `dot4I8Packed` with x's words as they
// are, four products a call. Lab, SmolLM2's 576 → 49,152 head on native
// SwiftShader: 58.1 ms with the f32 kernel, 47.9 with this; on lavapipe
// slower (5.39 → 6.31), so not there.

// A block of x as `block_idot` takes it: its 32 int8 values, four to a word.
struct XBlock {
    lo: vec4<u32>,
    hi: vec4<u32>,
}

fn x_block(x0: vec4<u32>, x1: vec4<u32>) -> XBlock {
    return XBlock(x0, x1);
}

// What `rows_dot16` keeps of row r for a group: the row itself, Q8_0's
// blocks of a group lying a tile's rows apart (`quant_slot`).
fn group_slot(m: Span, r: u32, g4: u32) -> u32 {
    return r;
}

// Σ q_w·q over block b (the group's j-th) of row r (its two vec4s of quants).
fn block_idot(m: Span, r: u32, b: u32, j: u32, xb: XBlock) -> i32 {
    let base = quant_slot(m.n_out, m.nb, r, b) * 2u;
    let q0 = wv(base);
    let q1 = wv(base + 1u);
    return (dot4I8Packed(q0.x, xb.lo.x) + dot4I8Packed(q0.y, xb.lo.y)) + (dot4I8Packed(q0.z, xb.lo.z) + dot4I8Packed(q0.w, xb.lo.w))
         + (dot4I8Packed(q1.x, xb.hi.x) + dot4I8Packed(q1.y, xb.hi.y)) + (dot4I8Packed(q1.z, xb.hi.z) + dot4I8Packed(q1.w, xb.hi.w));
}
