// Eight rows of W dotted with x, for the rows-per-invocation decode kernels
// (matvec: eight rows in a row, qkv_matvec: the rows of four rotation pairs).
// Appended to their source with quant.wgsl and one of x_uniform.wgsl /
// x_subgroup.wgsl (`x_block`); they declare `p: MatmulParams`, the weights
// and `x: array<vec4<f32>, 4096>` (uniform).
// The rows share each load of x: on lavapipe (1536 × 576 Q4_1) two rows
// were 1.7× faster than one row per invocation, and eight are faster again
// (matvec.wgsl says by how much).

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
    if (!is_scaled()) { return block_qdot(nb, r, b, xv); }
    let dm = block_dm(sc.s[j], sc.m[j]);
    let o = outer_dm(dm);
    return o.x * block_qdot_scaled(nb, r, b, xv, dm) + o.y * xs;
}

// Eight rows of W dotted with x: rows[0..3] in lo, rows[4..7] in hi.
struct Rows8 {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

// W's rows `rows` dotted with x. Written out row by row: a private array
// indexed in a loop would turn into per-lane memory traffic on CPU drivers.
fn rows_dot8(lane: Lane, rows: array<u32, 8>) -> Rows8 {
    let nb = p.n_in / 32u;
    let norm = x_norm(lane);
    let r0 = rows[0];
    let r1 = rows[1];
    let r2 = rows[2];
    let r3 = rows[3];
    let r4 = rows[4];
    let r5 = rows[5];
    let r6 = rows[6];
    let r7 = rows[7];
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    for (var g = 0u; g < (nb + 3u) / 4u; g++) {
        let s0 = row_scales(nb, r0, g);
        let s1 = row_scales(nb, r1, g);
        let s2 = row_scales(nb, r2, g);
        let s3 = row_scales(nb, r3, g);
        let s4 = row_scales(nb, r4, g);
        let s5 = row_scales(nb, r5, g);
        let s6 = row_scales(nb, r6, g);
        let s7 = row_scales(nb, r7, g);
        for (var j = 0u; j < 4u; j++) {
            let b = g * 4u + j;
            if (b < nb) {
                var xv = x_block(lane, b, norm);
                let xs = block_xsum(&xv);
                lo += vec4<f32>(row_block(nb, r0, b, j, s0, &xv, xs), row_block(nb, r1, b, j, s1, &xv, xs),
                                row_block(nb, r2, b, j, s2, &xv, xs), row_block(nb, r3, b, j, s3, &xv, xs));
                hi += vec4<f32>(row_block(nb, r4, b, j, s4, &xv, xs), row_block(nb, r5, b, j, s5, &xv, xs),
                                row_block(nb, r6, b, j, s6, &xv, xs), row_block(nb, r7, b, j, s7, &xv, xs));
            }
        }
    }
    return Rows8(lo, hi);
}
