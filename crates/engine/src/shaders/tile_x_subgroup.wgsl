// How `matmul_tile.wgsl` gets its tokens' x where subgroups have at least
// 8 lanes (lavapipe): lane l (mod 8) loads token l's 32 values of a block,
// and each is broadcast to every lane where the tile needs it. On lavapipe
// a uniform load at an offset the compiler cannot prove uniform (it
// depends on the block loop) is a gather of one word per lane with a
// bounds check, so every lane loading all eight tokens' values was 32
// such gathers for each 4 of a block's 32 values; this is 32 for the
// whole block, and 8 broadcasts (an extract and a splat each) per 4.
// Every lane of a subgroup must call both with the same block: the tile
// keeps lanes past the last row running (on a clamped row).

struct Lane {
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(subgroup_invocation_id) id: u32,
}

// This lane's token's values of block b (tokens past the batch repeat its
// last).
fn tile_x_block(lane: Lane, t0: u32, nt: u32, b: u32) -> array<vec4<f32>, 8> {
    let t = min(lane.id & 7u, nt - 1u);
    var xb: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) { xb[i] = load_x(t0, t, b * 8u + i); }
    return xb;
}

// Values k .. k + 3 of tokens t0 .. t0 + 7 (k = 8b + i), from the lanes
// that loaded them.
fn tile_x(xb: ptr<function, array<vec4<f32>, 8>>, t0: u32, nt: u32, k: u32, i: u32) -> array<vec4<f32>, 8> {
    let v = (*xb)[i];
    return array<vec4<f32>, 8>(
        subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u),
        subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u),
        subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u),
        subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}
