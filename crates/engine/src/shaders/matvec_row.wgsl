// Two rows of W dotted with x, for the rows-per-invocation decode kernels
// (matvec, qkv_matvec). Appended to their source with quant.wgsl and one of
// x_uniform.wgsl / x_subgroup.wgsl (`x_block`); they declare
// `p: MatmulParams`, the weights and `x: array<vec4<f32>, 4096>` (uniform).
// Two rows share each load of x: on lavapipe (1536 × 576 Q4_1) that is
// 1.7× faster than one row per invocation.

// (W row ra · x, W row rb · x).
fn rows_dot(lane: Lane, ra: u32, rb: u32) -> vec2<f32> {
    let nb = p.n_in / 32u;
    let norm = x_norm(lane);
    var acc = vec2<f32>(0.0);
    for (var g = 0u; g < (nb + 3u) / 4u; g++) {
        var sa = vec4<u32>(0u);
        var sb = vec4<u32>(0u);
        var ma = vec4<u32>(0u);
        var mb = vec4<u32>(0u);
        if (is_scaled()) {
            sa = scale_vec(p.n_out, nb, ra, g);
            sb = scale_vec(p.n_out, nb, rb, g);
        }
        if (has_plane_b()) {
            ma = scale_b_vec(p.n_out, nb, ra, g);
            mb = scale_b_vec(p.n_out, nb, rb, g);
        }
        for (var j = 0u; j < 4u; j++) {
            let b = g * 4u + j;
            if (b < nb) {
                var xv = x_block(lane, b, norm);
                if (is_scaled()) {
                    let da = block_dm(sa[j], ma[j]);
                    let db = block_dm(sb[j], mb[j]);
                    let qa = block_qdot_scaled(nb, ra, b, &xv, da);
                    let qb = block_qdot_scaled(nb, rb, b, &xv, db);
                    let xs = block_xsum(&xv);
                    let oa = outer_dm(da);
                    let ob = outer_dm(db);
                    acc += vec2<f32>(oa.x * qa + oa.y * xs, ob.x * qb + ob.y * xs);
                } else {
                    acc += vec2<f32>(block_qdot(nb, ra, b, &xv), block_qdot(nb, rb, b, &xv));
                }
            }
        }
    }
    return acc;
}
