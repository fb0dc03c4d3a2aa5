// Row attention's scores and values kernels (see `attention_rows.wgsl`),
// appended to each: the workgroup's rows' sums handed, one statement a row
// with a constant index (SwiftShader does not unroll loops), to the
// kernel's `store_row` (`at`: the scores' first position, or the values'
// output vec4).
fn store_rows(t0: u32, g: u32, last_t: u32, at: u32, acc: array<vec4<f32>, 16>) {
    let nq = TQ * GROUP;
    if (0u < nq) { store_row(0u, t0, g, last_t, at, acc[0]); }
    if (1u < nq) { store_row(1u, t0, g, last_t, at, acc[1]); }
    if (2u < nq) { store_row(2u, t0, g, last_t, at, acc[2]); }
    if (3u < nq) { store_row(3u, t0, g, last_t, at, acc[3]); }
    if (4u < nq) { store_row(4u, t0, g, last_t, at, acc[4]); }
    if (5u < nq) { store_row(5u, t0, g, last_t, at, acc[5]); }
    if (6u < nq) { store_row(6u, t0, g, last_t, at, acc[6]); }
    if (7u < nq) { store_row(7u, t0, g, last_t, at, acc[7]); }
    if (8u < nq) { store_row(8u, t0, g, last_t, at, acc[8]); }
    if (9u < nq) { store_row(9u, t0, g, last_t, at, acc[9]); }
    if (10u < nq) { store_row(10u, t0, g, last_t, at, acc[10]); }
    if (11u < nq) { store_row(11u, t0, g, last_t, at, acc[11]); }
    if (12u < nq) { store_row(12u, t0, g, last_t, at, acc[12]); }
    if (13u < nq) { store_row(13u, t0, g, last_t, at, acc[13]); }
    if (14u < nq) { store_row(14u, t0, g, last_t, at, acc[14]); }
    if (15u < nq) { store_row(15u, t0, g, last_t, at, acc[15]); }
}
