// `matmul_tile.wgsl` over the whole batch in one launch, x from a storage
// buffer: for rows longer than the uniform view (n_in > 2048), and the
// reference the grouped kernel is tested against.

@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;        // (n_tokens, n_in / 4)

// Values 4k .. 4k+3 of token t0 + t's row of x.
fn load_x(t0: u32, t: u32, k: u32) -> vec4<f32> {
    return x[(t0 + t) * (p.n_in / 4u) + k];
}

@compute @workgroup_size(WG)
fn matmul_tile(lane: Lane) {
    tile(lane, lane.gid.x * R, lane.gid.y * TT);
}
