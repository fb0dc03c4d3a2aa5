// Block b's 32 activations for the decode kernels (matvec, qkv_matvec),
// read from x (a uniform) by every lane, through the kernel's `x_at` (x, or
// in qkv_matvec.wgsl x with the fused feed-forward's partial sums added).
// The entry point takes `lane`.
// Without subgroups there is no fused norm (`x_norm` is 1).

struct Lane {
    @builtin(local_invocation_index) index: u32,
}

fn x_norm(lane: Lane) -> f32 {
    return 1.0;
}

// The eight loads written out, not looped: SwiftShader does not unroll the
// loop and stored each load at a runtime index (its Q8_0 576 → 8,192
// product: 4.28 → 3.72 ms).
fn x_block(lane: Lane, b: u32, norm: f32) -> array<vec4<f32>, 8> {
    let k = b * 8u;
    return array<vec4<f32>, 8>(x_at(k), x_at(k + 1u), x_at(k + 2u), x_at(k + 3u),
                               x_at(k + 4u), x_at(k + 5u), x_at(k + 6u), x_at(k + 7u));
}
