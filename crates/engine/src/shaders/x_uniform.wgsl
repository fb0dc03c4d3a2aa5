// Block b's 32 activations for the decode kernels (matvec, qkv_matvec),
// read from x (a uniform) by every lane. The entry point takes `lane`.
// Without subgroups there is no fused norm (NORM stays 0: `x_norm` is 1).

struct Lane {
    @builtin(local_invocation_index) index: u32,
}

fn x_norm(lane: Lane) -> f32 {
    return 1.0;
}

fn x_block(lane: Lane, b: u32, norm: f32) -> array<vec4<f32>, 8> {
    var xv: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) { xv[i] = x[b * 8u + i]; }
    return xv;
}
