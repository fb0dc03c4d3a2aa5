// Split-KV attention for one token over a long context, in two launches
// (the "flash-decoding" split): decode has one workgroup per head in
// `attention_vec4.wgsl`, 9 for SmolLM2 and 4 for Gemma 3 270M, too few to
// keep a GPU's cores busy, while the context is thousands of positions.
//   1. `attention_part` (this file, with `attention_vec4.wgsl`'s `attend`):
//      workgroup (head h, token t, split s) attends to the s-th of SPLITS
//      equal runs of the positions token t sees (runs rounded up to whole
//      64-position chunks, so a short context leaves the last splits empty)
//      and writes, instead of the output, its unnormalized sum of V rows and
//      that sum's max and total weight to `out`, here the split buffer:
//        (n_tokens, n_head, SPLITS, HD/4 + 1) vec4s, the last (m, l, 0, 0).
//   2. `attention_merge` (`attention_merge.wgsl`): each head's splits,
//      weighed by exp(m_s − max m), summed and divided by Σ weights · l_s.
// The result is `attention_vec4.wgsl`'s softmax, reassociated.

override SPLITS: u32 = 8u;

@compute @workgroup_size(64)
fn attention_part(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let t = wid.y;
    let s = wid.z;
    if (t >= step.n_tokens) { return; }
    let qpos = step.pos + t;
    let first = window_first(qpos);
    let per = ((qpos + 1u - first + SPLITS - 1u) / SPLITS + WG - 1u) / WG * WG;
    let lo = min(first + s * per, qpos + 1u);
    let hi = min(lo + per, qpos + 1u);
    attend(h, t, lo, hi, lid);
    let hd4 = HD / 4u;
    let base = ((t * ap.n_head + h) * SPLITS + s) * (hd4 + 1u);
    if (lid < hd4) { out[base + lid] = partial[lid]; }
    if (lid == 0u) { out[base + hd4] = vec4<f32>(part_m[0], part_l[0], 0.0, 0.0); }
}
