// Y = W·X for a batch of tokens (prefill) on CPU adapters, where a
// workgroup runs on one core as SIMD lanes: each invocation computes a tile
// of R = 4 output rows × TT = 8 tokens, so a weight block is loaded once for
// 8 tokens and a token's activations once for 4 rows.
//   W (n_out, n_in) in the GPU layout of QTYPE; x (n_tokens, n_in); y (n_tokens, n_out),
//   or with EPILOGUE 2, (n_tokens, n_out / 2).
// The tile itself, `tile`; appended to one of two front files, which declare
// x (binding 3), `load_x` and the entry point:
//   matmul_tile_x.wgsl: x in a storage buffer, all tokens in one launch;
//   matmul_tile_group.wgsl: one launch per 8-token group, whose x is read
//   from a 64 KiB uniform (n_in ≤ 2048), as the decode kernels read theirs.
// EPILOGUE as in `matvec.wgsl`: 0 store, 1 accumulate (the residual add),
// 2 SiLU-gated pairs (rows 2i, 2i+1 are gate_i, up_i: y[i] = silu(gate_i)·up_i),
// 3 GELU-gated pairs.
// Measured on lavapipe (1536 × 576 Q4_1): with x from storage, 2 × 8 was
// the fastest of 1×1 … 8×4 for 64 tokens; once x loads were cheaper (one
// 8-token group, 2026-12-02, three runs each), 4 × 8 took 0.88–1.02 ms
// against 2 × 8's 1.32–1.58 with x as a uniform, and 0.96–1.46 against
// 1.63–2.30 from storage.

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct MatmulParams {
    n_in: u32,
    n_out: u32,
    one_row: u32,
    accumulate: u32,
    // Token t's output row starts at y[t · y_stride + y_offset] (a part of
    // a row-split matrix writes its rows into the whole output).
    y_stride: u32,
    y_offset: u32,
    // The first token of the group `matmul_tile_group` computes (0 for
    // every other kernel).
    token0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatmulParams;
// binding 2: the weights, read through `wv` (weights_buffer.wgsl or weights_texture.wgsl)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;        // (n_tokens, n_out)

override EPILOGUE: u32 = 0u;
const R: u32 = 4u;
const TT: u32 = 8u;

// Values 4i .. 4i+3 of a block from its quants (unscaled: q, not q·d + m).
fn quant_vec4(qv: ptr<function, array<vec4<u32>, 8>>, i: u32) -> vec4<f32> {
    switch QTYPE {
        case 0u: { return bitcast<vec4<f32>>((*qv)[i]); }
        case 1u: {
            let q = (*qv)[i / 2u];
            if (i % 2u == 0u) { return unpack_f16x4(q.x, q.y); }
            return unpack_f16x4(q.z, q.w);
        }
        case 8u, 14u: { return bytes_i8((*qv)[i / 4u][i % 4u]); }
        default: {
            let word = (*qv)[0][i % 4u];
            if (i < 4u) { return nibbles_lo(word); }
            return nibbles_hi(word);
        }
    }
}

// The tile of rows r0 .. r0 + 3 and tokens t0 .. t0 + 7 (rows past n_out
// repeat the last row and are not written).
fn tile(r0: u32, t0: u32) {
    if (r0 >= p.n_out || t0 >= step.n_tokens) { return; }
    let nt = min(TT, step.n_tokens - t0);
    let nr = min(R, p.n_out - r0);
    let nb = p.n_in / 32u;
    let r1 = min(r0 + 1u, p.n_out - 1u);
    let r2 = min(r0 + 2u, p.n_out - 1u);
    let r3 = min(r0 + 3u, p.n_out - 1u);
    var acc = array<f32, 32>();              // [row][token]
    for (var b = 0u; b < nb; b++) {
        var q0: array<vec4<u32>, 8>;
        var q1: array<vec4<u32>, 8>;
        var q2: array<vec4<u32>, 8>;
        var q3: array<vec4<u32>, 8>;
        for (var k = 0u; k < quant_vec4s(); k++) {
            q0[k] = wv((r0 * nb + b) * quant_vec4s() + k);
            q1[k] = wv((r1 * nb + b) * quant_vec4s() + k);
            q2[k] = wv((r2 * nb + b) * quant_vec4s() + k);
            q3[k] = wv((r3 * nb + b) * quant_vec4s() + k);
        }
        var dm0 = vec2<f32>(1.0, 0.0);
        var dm1 = vec2<f32>(1.0, 0.0);
        var dm2 = vec2<f32>(1.0, 0.0);
        var dm3 = vec2<f32>(1.0, 0.0);
        if (is_scaled()) {
            dm0 = block_scale(p.n_out, nb, r0, b);
            dm1 = block_scale(p.n_out, nb, r1, b);
            dm2 = block_scale(p.n_out, nb, r2, b);
            dm3 = block_scale(p.n_out, nb, r3, b);
        }
        // Initialized explicitly: Tint (Chromium) zeroes a loop-scoped
        // `var` once, not on every iteration.
        var s = array<f32, 32>();
        var xs = array<f32, 8>();
        for (var i = 0u; i < 8u; i++) {
            let v0 = quant_vec4(&q0, i) * inner_scale(dm0, i);
            let v1 = quant_vec4(&q1, i) * inner_scale(dm1, i);
            let v2 = quant_vec4(&q2, i) * inner_scale(dm2, i);
            let v3 = quant_vec4(&q3, i) * inner_scale(dm3, i);
            for (var t = 0u; t < TT; t++) {
                // Tokens past the batch read the last one's row (and are not written).
                let xi = load_x(t0, min(t, nt - 1u), b * 8u + i);
                xs[t] += xi.x + xi.y + xi.z + xi.w;
                s[t] += dot(v0, xi);
                s[TT + t] += dot(v1, xi);
                s[2u * TT + t] += dot(v2, xi);
                s[3u * TT + t] += dot(v3, xi);
            }
        }
        let o0 = outer_dm(dm0);
        let o1 = outer_dm(dm1);
        let o2 = outer_dm(dm2);
        let o3 = outer_dm(dm3);
        for (var t = 0u; t < TT; t++) {
            acc[t] += o0.x * s[t] + o0.y * xs[t];
            acc[TT + t] += o1.x * s[TT + t] + o1.y * xs[t];
            acc[2u * TT + t] += o2.x * s[2u * TT + t] + o2.y * xs[t];
            acc[3u * TT + t] += o3.x * s[3u * TT + t] + o3.y * xs[t];
        }
    }
    for (var t = 0u; t < TT; t++) {
        if (t >= nt) { break; }
        let o = (t0 + t) * p.y_stride + p.y_offset;
        switch EPILOGUE {
            case 2u, 3u: {
                // r0 is a multiple of 4 and n_out even: rows (r0, r0 + 1)
                // and (r0 + 2, r0 + 3) are gate/up pairs.
                y[o + r0 / 2u] = gated(acc[t], acc[TT + t]);
                if (nr == 4u) { y[o + r0 / 2u + 1u] = gated(acc[2u * TT + t], acc[3u * TT + t]); }
            }
            case 1u: {
                y[o + r0] += acc[t];
                if (nr > 1u) { y[o + r0 + 1u] += acc[TT + t]; }
                if (nr > 2u) { y[o + r0 + 2u] += acc[2u * TT + t]; }
                if (nr > 3u) { y[o + r0 + 3u] += acc[3u * TT + t]; }
            }
            default: {
                y[o + r0] = acc[t];
                if (nr > 1u) { y[o + r0 + 1u] = acc[TT + t]; }
                if (nr > 2u) { y[o + r0 + 2u] = acc[2u * TT + t]; }
                if (nr > 3u) { y[o + r0 + 3u] = acc[3u * TT + t]; }
            }
        }
    }
}
