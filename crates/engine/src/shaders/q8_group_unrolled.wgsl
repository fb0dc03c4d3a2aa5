// The four blocks of group g4 of matvec_q8.wgsl's rows, written out: for
// lavapipe, whose compiler would unroll the loop of q8_group_loop.wgsl
// anyway and ran decode 2–5% slower with it (BENCHMARKS.md, "nineteenth
// session"). Appended after matvec_q8.wgsl (`Variant::q8_group_loop` off).
fn q8_group(acc: ptr<function, Rows16>, m: Span, rs: array<u32, 16>, sc: array<vec4<u32>, 16>, g4: u32, gx: u32) {
    q8_block(acc, m, rs, sc, g4 * 4u, 0u, gx * 4u);
    q8_block(acc, m, rs, sc, g4 * 4u + 1u, 1u, gx * 4u + 1u);
    q8_block(acc, m, rs, sc, g4 * 4u + 2u, 2u, gx * 4u + 2u);
    q8_block(acc, m, rs, sc, g4 * 4u + 3u, 3u, gx * 4u + 3u);
}
