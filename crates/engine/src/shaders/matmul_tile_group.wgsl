// `matmul_tile.wgsl` for one group of 8 tokens, starting at p.token0, with
// the group's rows of x read from a uniform (bound at the group's offset):
// lavapipe turns a storage load into a gather over the SIMD lanes, a
// uniform load into one broadcast load, and every lane of a tile reads the
// same x. A batch is one launch per group, each with its own bind group.
// Measured on lavapipe (1536 × 576 Q4_1, one group): 2.3–3.4× faster than
// matmul_tile_x.wgsl (scripts/lab_prefill_uniform_x.sh).

@group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>;        // (8, n_in / 4), n_in ≤ 2048

// Values 4k .. 4k+3 of token t0 + t's row of x (the view starts at t0).
fn load_x(t0: u32, t: u32, k: u32) -> vec4<f32> {
    return x[t * (p.n_in / 4u) + k];
}

@compute @workgroup_size(WG)
fn matmul_tile_group(lane: Lane) {
    tile(lane, lane.gid.x * R, p.token0);
}
