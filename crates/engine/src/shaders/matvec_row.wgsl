// One row of W dotted with x, for the one-row-per-invocation decode kernels
// (matvec, qkv_matvec). Appended to their source with quant.wgsl; they
// declare `p: MatmulParams`, `w` and `x: array<vec4<f32>, 4096>` (uniform).

// W row r dotted with x.
fn row_dot(r: u32) -> f32 {
    let nb = p.n_in / 32u;
    var acc = 0.0;
    for (var g = 0u; g < (nb + 3u) / 4u; g++) {
        var sc = vec4<u32>(0u);
        if (is_scaled()) { sc = scale_vec(p.n_out, nb, r, g); }
        for (var j = 0u; j < 4u; j++) {
            let b = g * 4u + j;
            if (b < nb) {
                var xv: array<vec4<f32>, 8>;
                for (var i = 0u; i < 8u; i++) { xv[i] = x[b * 8u + i]; }
                let q = block_qdot(nb, r, b, &xv);
                if (is_scaled()) {
                    let dm = unpack_scale(sc[j]);
                    acc += dm.x * q + dm.y * block_xsum(&xv);
                } else {
                    acc += q;
                }
            }
        }
    }
    return acc;
}
