// How `matmul_tile_q8.wgsl` gets its tokens' pairs where subgroups have
// at least 8 lanes (lavapipe): lane l (mod 8) loads token l's of the block
// and each is broadcast to every lane (see tile_x_subgroup.wgsl, the f32
// tile's, for why). Every lane of a subgroup must call it with the same
// block: the tile keeps lanes past the last row running.

struct Lane {
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(subgroup_invocation_id) id: u32,
}

// The eight tokens' pairs of block b (past the batch's last token, what
// the buffer holds there: those tokens' sums are not stored).
fn x8(lane: Lane, b: u32) -> X8 {
    let m = x_pairs_at(b, lane.id & 7u);
    return X8(XPairs(subgroupBroadcast(m.e0, 0u), subgroupBroadcast(m.o0, 0u), subgroupBroadcast(m.e1, 0u), subgroupBroadcast(m.o1, 0u)),
        XPairs(subgroupBroadcast(m.e0, 1u), subgroupBroadcast(m.o0, 1u), subgroupBroadcast(m.e1, 1u), subgroupBroadcast(m.o1, 1u)),
        XPairs(subgroupBroadcast(m.e0, 2u), subgroupBroadcast(m.o0, 2u), subgroupBroadcast(m.e1, 2u), subgroupBroadcast(m.o1, 2u)),
        XPairs(subgroupBroadcast(m.e0, 3u), subgroupBroadcast(m.o0, 3u), subgroupBroadcast(m.e1, 3u), subgroupBroadcast(m.o1, 3u)),
        XPairs(subgroupBroadcast(m.e0, 4u), subgroupBroadcast(m.o0, 4u), subgroupBroadcast(m.e1, 4u), subgroupBroadcast(m.o1, 4u)),
        XPairs(subgroupBroadcast(m.e0, 5u), subgroupBroadcast(m.o0, 5u), subgroupBroadcast(m.e1, 5u), subgroupBroadcast(m.o1, 5u)),
        XPairs(subgroupBroadcast(m.e0, 6u), subgroupBroadcast(m.o0, 6u), subgroupBroadcast(m.e1, 6u), subgroupBroadcast(m.o1, 6u)),
        XPairs(subgroupBroadcast(m.e0, 7u), subgroupBroadcast(m.o0, 7u), subgroupBroadcast(m.e1, 7u), subgroupBroadcast(m.o1, 7u)));
}
