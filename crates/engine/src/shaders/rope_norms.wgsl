// The query and key norms (Gemma 3, Qwen 3) taken where a token's heads are
// rotated and cached, so that the norms cost no launches of their own:
// rope_split_normed.wgsl (a fused Q|K|V row) and rope_kv_normed.wgsl (Q, K
// and V apart), each the twin of head_norm.wgsl on the query heads and on
// the key heads, then rope_split.wgsl or rope_kv.wgsl, which the tests hold
// them to. Each query head h becomes h / sqrt(mean(h²) + eps) · q_w, each
// key head the same with k_w, eps being `rp.norm_eps`; values stay unnormed.
// Appended to the kernel's file, with rope.wgsl; the kernel declares `q_w`
// and `k_w` and `head_value(t, hh, d)`: dim d of token t's head hh (query
// heads, then key heads) as the product left it. Workgroups of 64 lanes;
// at most MAX_NORMED heads normed (`ops::rope_split_normed` checks).
// Why: Gemma 3 270M's layer took the two norms as two launches of one
// workgroup each; on a CPU adapter a launch costs more than their work.

const MAX_NORMED: u32 = 64u;

var<workgroup> partial: array<f32, 64>;
var<workgroup> inv_rms: array<f32, MAX_NORMED>;

// Fills inv_rms with 1 / sqrt(mean(h²) + eps) of token t's query and key
// heads. Every lane calls it, in uniform control flow; it ends at a
// barrier, after which a lane may overwrite values it reads.
fn head_inv_rms(t: u32, lid: u32) {
    let heads = rp.n_head + rp.n_kv;
    for (var hh = 0u; hh < heads; hh++) {
        var s = 0.0;
        for (var d = lid; d < rp.head_dim; d += 64u) {
            let v = head_value(t, hh, d);
            s += v * v;
        }
        partial[lid] = s;
        workgroupBarrier();
        for (var k = 32u; k > 0u; k >>= 1u) {
            if (lid < k) { partial[lid] += partial[lid + k]; }
            workgroupBarrier();
        }
        if (lid == 0u) { inv_rms[hh] = 1.0 / sqrt(partial[0] / f32(rp.head_dim) + rp.norm_eps); }
        workgroupBarrier();
    }
}

// Value v at dim d of head hh normed (query and key heads; a value head's
// value as it is).
fn normed(hh: u32, d: u32, v: f32) -> f32 {
    if (hh < rp.n_head) { return v * inv_rms[hh] * q_w[d]; }
    if (hh < rp.n_head + rp.n_kv) { return v * inv_rms[hh] * k_w[d]; }
    return v;
}
