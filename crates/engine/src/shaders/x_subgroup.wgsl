// Block b's 32 activations for the decode kernels (matvec, qkv_matvec),
// where subgroups have at least 8 lanes: lane l loads the block's vec4
// l mod 8 and the eight are broadcast to every lane. On lavapipe a uniform
// load with a varying offset is a gather of one word per lane, so every
// lane loading all 32 values is 32 gathers; this is 4 and 32 broadcasts
// (an extract and a splat each). Measured on lavapipe (Q4_1 1536 × 576
// from a texture, one thread): 0.85 ms → 0.52 ms.
// Every lane of the subgroup must call it with the same b: the decode
// kernels keep lanes past the last row running (on a clamped row) and
// only skip their stores.

struct Lane {
    @builtin(local_invocation_index) index: u32,
    @builtin(subgroup_invocation_id) id: u32,
}

fn x_block(lane: Lane, b: u32) -> array<vec4<f32>, 8> {
    let mine = x[b * 8u + (lane.id & 7u)];
    return array<vec4<f32>, 8>(
        subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u),
        subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u),
        subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u),
        subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u));
}
