// Sixteen rows of W dotted with x, for the rows-per-invocation decode
// kernels (matvec: sixteen rows in a row, qkv_matvec: the rows of eight
// rotation pairs).
// Appended to their source with quant.wgsl and one of x_uniform.wgsl /
// x_subgroup.wgsl (`x_block`); they declare `p: MatmulParams`, the weights
// and `x: array<vec4<f32>, 4096>` (uniform).
// The rows share each load of x: on lavapipe (1536 × 576 Q4_1) two rows
// were 1.7× faster than one row per invocation, and sixteen are faster
// again (matvec.wgsl says by how much).

// A row's scale words for blocks 4g .. 4g + 3: the first plane's and, for
// the K-quants, the second's (zero where the type has none).
struct Scales {
    s: vec4<u32>,
    m: vec4<u32>,
}

fn row_scales(nb: u32, r: u32, g: u32) -> Scales {
    var sc = Scales(vec4<u32>(0u), vec4<u32>(0u));
    if (is_scaled()) { sc.s = scale_vec(p.n_out, nb, r, g); }
    if (has_plane_b()) { sc.m = scale_b_vec(p.n_out, nb, r, g); }
    return sc;
}

// Block b (= 4g + j) of row r dotted with its activations xv, whose sum is
// xs; sc holds the row's scale words for the group.
fn row_block(nb: u32, r: u32, b: u32, j: u32, sc: Scales, xv: ptr<function, array<vec4<f32>, 8>>, xs: f32) -> f32 {
    if (!is_scaled()) { return block_qdot(p.n_out, nb, r, b, xv); }
    let dm = block_dm(sc.s[j], sc.m[j]);
    let o = outer_dm(dm);
    return o.x * block_qdot_scaled(p.n_out, nb, r, b, xv, dm) + o.y * xs;
}

// Sixteen rows of W dotted with x, four in each vec4: rows[0..3] in a,
// rows[4..7] in b, rows[8..11] in c, rows[12..15] in d.
struct Rows16 {
    a: vec4<f32>,
    b: vec4<f32>,
    c: vec4<f32>,
    d: vec4<f32>,
}

// W's rows `rows` dotted with x. Written out row by row: a private array
// indexed in a loop would turn into per-lane memory traffic on CPU drivers.
fn rows_dot16(lane: Lane, rows: array<u32, 16>) -> Rows16 {
    let nb = p.n_in / 32u;
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
    let norm = x_norm(lane);
    var acc = Rows16(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var g = 0u; g < (nb + 3u) / 4u; g++) {
        let s0 = row_scales(nb, r0, g);
        let s1 = row_scales(nb, r1, g);
        let s2 = row_scales(nb, r2, g);
        let s3 = row_scales(nb, r3, g);
        let s4 = row_scales(nb, r4, g);
        let s5 = row_scales(nb, r5, g);
        let s6 = row_scales(nb, r6, g);
        let s7 = row_scales(nb, r7, g);
        let s8 = row_scales(nb, r8, g);
        let s9 = row_scales(nb, r9, g);
        let s10 = row_scales(nb, r10, g);
        let s11 = row_scales(nb, r11, g);
        let s12 = row_scales(nb, r12, g);
        let s13 = row_scales(nb, r13, g);
        let s14 = row_scales(nb, r14, g);
        let s15 = row_scales(nb, r15, g);
        for (var j = 0u; j < 4u; j++) {
            let b = g * 4u + j;
            if (b < nb) {
                var xv = x_block(lane, b, norm);
                let xs = block_xsum(&xv);
                acc.a += vec4<f32>(row_block(nb, r0, b, j, s0, &xv, xs),
                                   row_block(nb, r1, b, j, s1, &xv, xs),
                                   row_block(nb, r2, b, j, s2, &xv, xs),
                                   row_block(nb, r3, b, j, s3, &xv, xs));
                acc.b += vec4<f32>(row_block(nb, r4, b, j, s4, &xv, xs),
                                   row_block(nb, r5, b, j, s5, &xv, xs),
                                   row_block(nb, r6, b, j, s6, &xv, xs),
                                   row_block(nb, r7, b, j, s7, &xv, xs));
                acc.c += vec4<f32>(row_block(nb, r8, b, j, s8, &xv, xs),
                                   row_block(nb, r9, b, j, s9, &xv, xs),
                                   row_block(nb, r10, b, j, s10, &xv, xs),
                                   row_block(nb, r11, b, j, s11, &xv, xs));
                acc.d += vec4<f32>(row_block(nb, r12, b, j, s12, &xv, xs),
                                   row_block(nb, r13, b, j, s13, &xv, xs),
                                   row_block(nb, r14, b, j, s14, &xv, xs),
                                   row_block(nb, r15, b, j, s15, &xv, xs));
            }
        }
    }
    return acc;
}
