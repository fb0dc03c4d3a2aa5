// Row attention's loads that are the same in every lane (see
// `attention_rows.wgsl`), where subgroups have at least 8 lanes (lavapipe):
// lane l (mod 8) loads rows l, l + 8, ... and broadcasts them. lavapipe
// runs a storage load as a loop over the SIMD lanes, one load each, so
// every lane loading each of nq rows cost nq such loops; this is nq / 8,
// and nq broadcasts (an extract and a splat each).
// The rows are written out one by one, with constant indices and lanes:
// a private array indexed by a loop that the compiler does not unroll is
// memory traffic per lane on CPU drivers (it made the kernel 15× slower).
// Every lane of a subgroup must call `share_rows` with the same arguments:
// the scores kernel's loops are the same in every lane of its 64.
// Measured on lavapipe (`locum bench --profile`, 64 tokens at position
// 2,048, the 30 layers' scores launches): 273–275 → 161–172 ms.

struct Lane {
    @builtin(local_invocation_index) index: u32,
    @builtin(subgroup_invocation_id) id: u32,
}

// The rows `share_rows` gathered, for `shared_row`.
var<private> rows: array<vec4<f32>, 32>;

// Vec4 `off` of each of the nq (≤ 32) rows of KV head g's queries from
// token t0 (`query_row`), read by the kernel's `load_shared`, into `rows`.
fn share_rows(lane: Lane, t0: u32, g: u32, last_t: u32, nq: u32, off: u32) {
    let l = lane.id & 7u;
    let v0 = load_shared(query_row(min(0u + l, nq - 1u), t0, g, last_t), off);
    rows[0] = subgroupBroadcast(v0, 0u);
    rows[1] = subgroupBroadcast(v0, 1u);
    rows[2] = subgroupBroadcast(v0, 2u);
    rows[3] = subgroupBroadcast(v0, 3u);
    rows[4] = subgroupBroadcast(v0, 4u);
    rows[5] = subgroupBroadcast(v0, 5u);
    rows[6] = subgroupBroadcast(v0, 6u);
    rows[7] = subgroupBroadcast(v0, 7u);
    if (nq > 8u) {
        let v1 = load_shared(query_row(min(8u + l, nq - 1u), t0, g, last_t), off);
        rows[8] = subgroupBroadcast(v1, 0u);
        rows[9] = subgroupBroadcast(v1, 1u);
        rows[10] = subgroupBroadcast(v1, 2u);
        rows[11] = subgroupBroadcast(v1, 3u);
        rows[12] = subgroupBroadcast(v1, 4u);
        rows[13] = subgroupBroadcast(v1, 5u);
        rows[14] = subgroupBroadcast(v1, 6u);
        rows[15] = subgroupBroadcast(v1, 7u);
    }
    if (nq > 16u) {
        let v2 = load_shared(query_row(min(16u + l, nq - 1u), t0, g, last_t), off);
        rows[16] = subgroupBroadcast(v2, 0u);
        rows[17] = subgroupBroadcast(v2, 1u);
        rows[18] = subgroupBroadcast(v2, 2u);
        rows[19] = subgroupBroadcast(v2, 3u);
        rows[20] = subgroupBroadcast(v2, 4u);
        rows[21] = subgroupBroadcast(v2, 5u);
        rows[22] = subgroupBroadcast(v2, 6u);
        rows[23] = subgroupBroadcast(v2, 7u);
    }
    if (nq > 24u) {
        let v3 = load_shared(query_row(min(24u + l, nq - 1u), t0, g, last_t), off);
        rows[24] = subgroupBroadcast(v3, 0u);
        rows[25] = subgroupBroadcast(v3, 1u);
        rows[26] = subgroupBroadcast(v3, 2u);
        rows[27] = subgroupBroadcast(v3, 3u);
        rows[28] = subgroupBroadcast(v3, 4u);
        rows[29] = subgroupBroadcast(v3, 5u);
        rows[30] = subgroupBroadcast(v3, 6u);
        rows[31] = subgroupBroadcast(v3, 7u);
    }
}

// Row qi's vec4 from `share_rows`.
fn shared_row(qi: u32, t0: u32, g: u32, last_t: u32, off: u32) -> vec4<f32> {
    return rows[qi];
}
