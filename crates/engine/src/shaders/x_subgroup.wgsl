// Block b's 32 activations for the decode kernels (matvec, qkv_matvec),
// read through the kernel's `x_at` (x, or in qkv_matvec.wgsl x with the
// fused feed-forward's partial sums added),
// where subgroups have at least 8 lanes: lane l loads the block's vec4
// l mod 8 and the eight are broadcast to every lane. On lavapipe a uniform
// load with a varying offset is a gather of one word per lane, so every
// lane loading all 32 values is 32 gathers; this is 4 and 32 broadcasts
// (an extract and a splat each). Measured on lavapipe (Q4_1 1536 × 576
// from a texture, one thread): 0.85 ms → 0.52 ms.
// Every lane of the subgroup must call it with the same b: the decode
// kernels keep lanes past the last row running (on a clamped row) and
// only skip their stores.
// With the norm fused (`norm_fused`), x is the residual stream and the
// kernel's input is its RMS norm, x / sqrt(mean(x²) + p.eps) · g (one
// launch fewer): `x_norm` is the 1 / sqrt(…), summed over the lanes, and each
// lane scales its vec4 before the broadcast. The kernel declares `g`.

// Whether the norm is fused: from the params at run time, so that products
// with and without it share a pipeline (see matvec.wgsl's EPILOGUE).
fn norm_fused() -> bool {
    return p.norm == 1u;
}

struct Lane {
    @builtin(local_invocation_index) index: u32,
    @builtin(subgroup_invocation_id) id: u32,
}

// 1 / sqrt(mean(x²) + eps) over x's n_in values (1 without a fused
// norm); the same in every lane.
fn x_norm(lane: Lane) -> f32 {
    if (!norm_fused()) { return 1.0; }
    let n4 = p.n_in / 4u;
    var s = 0.0;
    for (var k = lane.id & 7u; k < n4; k += 8u) {
        let v = x_at(k);
        s += dot(v, v);
    }
    // Lanes 8 and on (wider subgroups) repeat lanes 0..7.
    s = select(0.0, s, lane.id < 8u);
    return 1.0 / sqrt(subgroupAdd(s) / f32(p.n_in) + p.eps);
}

fn x_block(lane: Lane, b: u32, norm: f32) -> array<vec4<f32>, 8> {
    let k = b * 8u + (lane.id & 7u);
    var mine = x_at(k);
    if (norm_fused()) { mine = mine * norm * g[k]; }
    return array<vec4<f32>, 8>(
        subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u),
        subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u),
        subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u),
        subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u));
}
