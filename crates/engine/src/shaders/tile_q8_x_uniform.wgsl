// How `matmul_tile_q8.wgsl` gets its tokens' pairs: every lane loads all
// eight. The twin of tile_q8_x_subgroup.wgsl.

struct Lane {
    @builtin(global_invocation_id) gid: vec3<u32>,
}

// The eight tokens' pairs of block b (past the batch's last token, what
// the buffer holds there: those tokens' sums are not stored).
fn x8(lane: Lane, b: u32) -> X8 {
    return X8(x_pairs_at(b, 0u), x_pairs_at(b, 1u), x_pairs_at(b, 2u), x_pairs_at(b, 3u), x_pairs_at(b, 4u), x_pairs_at(b, 5u), x_pairs_at(b, 6u), x_pairs_at(b, 7u));
}
