// How `matmul_tile.wgsl` gets its tokens' x: every lane loads all eight
// (`load_x`, which the front file defines), tokens past the batch
// repeating its last. The twin of tile_x_subgroup.wgsl.

struct Lane {
    @builtin(global_invocation_id) gid: vec3<u32>,
}

// Nothing: the loads are in `tile_x`.
fn tile_x_block(lane: Lane, t0: u32, nt: u32, b: u32) -> array<vec4<f32>, 8> {
    return array<vec4<f32>, 8>();
}

// Values k .. k + 3 of tokens t0 .. t0 + 7 (k = 8b + i).
fn tile_x(xb: ptr<function, array<vec4<f32>, 8>>, t0: u32, nt: u32, k: u32, i: u32) -> array<vec4<f32>, 8> {
    let last = nt - 1u;
    return array<vec4<f32>, 8>(
        load_x(t0, 0u, k), load_x(t0, min(1u, last), k),
        load_x(t0, min(2u, last), k), load_x(t0, min(3u, last), k),
        load_x(t0, min(4u, last), k), load_x(t0, min(5u, last), k),
        load_x(t0, min(6u, last), k), load_x(t0, min(7u, last), k));
}
