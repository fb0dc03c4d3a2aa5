// The fused feed-forward's work for one slice of the hidden values (see
// ffn_matvec.wgsl), appended to the kernels that run it: ffn_matvec.wgsl,
// one workgroup a slice, and layer_tail.wgsl. The kernel declares `p` (the
// gate/up product's params) and `pd` (the down product's), the norm's `g`,
// `x_at` (the residual stream), `parts` (array<f32>, the partial sums
// out), and `wv`, which reads W_gu with PHASE 0 and W_d with PHASE 1.

// Hidden values a workgroup: n_ff / the launch's workgroups
// (`ops::ffn_slices`), a multiple of 128 (the down product's groups of four
// blocks, and rounds of 8 lanes × 8 pairs) up to MAX_SLICE.
override SLICE: u32 = 256u;
const MAX_SLICE: u32 = 1024u;

var<workgroup> hidden: array<vec4<f32>, MAX_SLICE / 4u>;

// Slice k's work (the steps above), by every lane of the workgroup in
// uniform control flow.
fn ffn_slice(k: u32, lane: Lane) {
    EPILOGUE = p.epilogue;
    PHASE = 0u;
    x_quantize(lane);
    let nb = p.n_in / 32u;
    let gu = Span(p.n_out, nb, 0u, (nb + 3u) / 4u);
    for (var round = 0u; round < SLICE / 64u; round++) {
        // This lane's hidden values o .. o + 7 of the slice: rows 2h, 2h + 1
        // of W_gu for h = k·SLICE + o + i.
        let o = round * 64u + lane.index * 8u;
        let r = 2u * (k * SLICE + o);
        let v = rows_dot16_span(array<u32, 16>(r, r + 1u, r + 2u, r + 3u, r + 4u, r + 5u, r + 6u, r + 7u,
                                               r + 8u, r + 9u, r + 10u, r + 11u, r + 12u, r + 13u, r + 14u, r + 15u), gu);
        hidden[o / 4u] = vec4<f32>(gated(v.a.x, v.a.y), gated(v.a.z, v.a.w), gated(v.b.x, v.b.y), gated(v.b.z, v.b.w));
        hidden[o / 4u + 1u] = vec4<f32>(gated(v.c.x, v.c.y), gated(v.c.z, v.c.w), gated(v.d.x, v.d.y), gated(v.d.z, v.d.w));
    }
    // Every lane is done with x's blocks before they are overwritten.
    workgroupBarrier();
    for (var b = lane.index; b < SLICE / 32u; b += WG) {
        store_block(b, array<vec4<f32>, 8>(hidden[8u * b], hidden[8u * b + 1u], hidden[8u * b + 2u], hidden[8u * b + 3u],
                                           hidden[8u * b + 4u], hidden[8u * b + 5u], hidden[8u * b + 6u], hidden[8u * b + 7u]));
    }
    workgroupBarrier();
    PHASE = 1u;
    let down = Span(pd.n_out, pd.n_in / 32u, k * (SLICE / 128u), SLICE / 128u);
    let last = pd.n_out - 1u;
    // Rows 16·rg .. 16·rg + 15 a lane (rows past the last computed again,
    // clamped, and not stored).
    for (var rg = lane.index; rg * 16u < pd.n_out; rg += WG) {
        let r = rg * 16u;
        let v = rows_dot16_span(array<u32, 16>(
            min(r, last), min(r + 1u, last), min(r + 2u, last), min(r + 3u, last),
            min(r + 4u, last), min(r + 5u, last), min(r + 6u, last), min(r + 7u, last),
            min(r + 8u, last), min(r + 9u, last), min(r + 10u, last), min(r + 11u, last),
            min(r + 12u, last), min(r + 13u, last), min(r + 14u, last), min(r + 15u, last)), down);
        put_part(k, r, v.a);
        put_part(k, r + 4u, v.b);
        put_part(k, r + 8u, v.c);
        put_part(k, r + 12u, v.d);
    }
}

// Rows r .. r + 3's partial sums from workgroup k, those that are rows.
fn put_part(k: u32, r: u32, v: vec4<f32>) {
    let base = k * pd.n_out;
    if (r < pd.n_out) { parts[base + r] = v.x; }
    if (r + 1u < pd.n_out) { parts[base + r + 1u] = v.y; }
    if (r + 2u < pd.n_out) { parts[base + r + 2u] = v.z; }
    if (r + 3u < pd.n_out) { parts[base + r + 3u] = v.w; }
}
