// The four blocks of group g4 of matvec_q8.wgsl's rows, in a loop: for
// SwiftShader, which does not unroll it (each block's scale is then picked
// from the rows' scale words by a runtime index). Chromium's compiler for
// SwiftShader took 2.0–2.5 s over each of the three kernels that hold it
// (matvec, qkv_matvec, the Q8_0 head) with the blocks written out
// (q8_group_unrolled.wgsl), 0.9–1.0 s looped, so the page is ready about 4
// s sooner, and its decode was no slower (BENCHMARKS.md, "nineteenth
// session"). Appended after matvec_q8.wgsl (`Variant::q8_group_loop`).
fn q8_group(acc: ptr<function, Rows16>, m: Span, rs: array<u32, 16>, sc: array<vec4<u32>, 16>, g4: u32, gx: u32) {
    for (var j = 0u; j < 4u; j++) {
        q8_block(acc, m, rs, sc, g4 * 4u + j, j, gx * 4u + j);
    }
}
