// Row attention's loads that are the same in every lane (see
// `attention_rows.wgsl`), made by every lane where the kernel needs them.
// The twin of attention_share_subgroup.wgsl.

struct Lane {
    @builtin(local_invocation_index) index: u32,
}

// Nothing: `shared_row` loads.
fn share_rows(lane: Lane, t0: u32, g: u32, last_t: u32, nq: u32, off: u32) {}

// Vec4 `off` of the row of KV head g's query qi from token t0
// (`query_row`), read by the kernel's `load_shared`.
fn shared_row(qi: u32, t0: u32, g: u32, last_t: u32, off: u32) -> vec4<f32> {
    return load_shared(query_row(qi, t0, g, last_t), off);
}
