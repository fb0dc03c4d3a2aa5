// How the tile kernels (matmul_tile.wgsl, matmul_tile_q8.wgsl) store a
// token's eight rows; they declare `p` and `y`.

// Token t0 + t's values of rows r0 .. r0 + 7 (those that are rows), by EPILOGUE.
fn store_token(t0: u32, t: u32, r0: u32, lo: vec4<f32>, hi: vec4<f32>) {
    store_token_to(t0, t, r0, lo, hi, p.n_out);
}

// `store_token` of the rows before `end` (at most p.n_out).
fn store_token_to(t0: u32, t: u32, r0: u32, lo: vec4<f32>, hi: vec4<f32>, end: u32) {
    let o = (t0 + t) * p.y_stride + p.y_offset;
    switch EPILOGUE {
        case 2u, 3u: {
            // r0 is a multiple of 8 and n_out even: rows come in gate/up pairs.
            let g = o + r0 / 2u;
            y[g] = gated(lo.x, lo.y);
            if (r0 + 2u < end) { y[g + 1u] = gated(lo.z, lo.w); }
            if (r0 + 4u < end) { y[g + 2u] = gated(hi.x, hi.y); }
            if (r0 + 6u < end) { y[g + 3u] = gated(hi.z, hi.w); }
        }
        default: {
            put_row(o + r0, lo.x);
            if (r0 + 1u < end) { put_row(o + r0 + 1u, lo.y); }
            if (r0 + 2u < end) { put_row(o + r0 + 2u, lo.z); }
            if (r0 + 3u < end) { put_row(o + r0 + 3u, lo.w); }
            if (r0 + 4u < end) { put_row(o + r0 + 4u, hi.x); }
            if (r0 + 5u < end) { put_row(o + r0 + 5u, hi.y); }
            if (r0 + 6u < end) { put_row(o + r0 + 6u, hi.z); }
            if (r0 + 7u < end) { put_row(o + r0 + 7u, hi.w); }
        }
    }
}

// y[i] = v, or with EPILOGUE 1, y[i] += v.
fn put_row(i: u32, v: f32) {
    if (EPILOGUE == 1u) {
        y[i] += v;
    } else {
        y[i] = v;
    }
}
