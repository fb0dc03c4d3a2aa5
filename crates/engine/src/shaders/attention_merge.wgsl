// The second launch of split-KV attention (see `attention_split.wgsl`):
// workgroup (head h, token t) merges the SPLITS partial results of that
// head, each (sum of weighted V rows, its max m, its total weight l):
//   out = Σ_s e^(m_s − M) · sum_s / Σ_s e^(m_s − M) · l_s,  M = max_s m_s.
// An empty split has m = −3e38 and l = 0, so its weight is 0.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> ap: AttentionParams;
@group(0) @binding(2) var<storage, read> parts: array<vec4<f32>>;     // (n_tokens, n_head, SPLITS, HD/4 + 1)
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>; // (n_tokens, n_head, HD/4)

override HD: u32 = 64u;
override SPLITS: u32 = 8u;

@compute @workgroup_size(64)
fn attention_merge(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let t = wid.y;
    if (t >= step.n_tokens) { return; }
    let hd4 = HD / 4u;
    let stride = hd4 + 1u;
    let base = (t * ap.n_head + h) * SPLITS * stride;
    if (lid >= hd4) { return; }
    var mm = -3.0e38;
    for (var s = 0u; s < SPLITS; s++) { mm = max(mm, parts[base + s * stride + hd4].x); }
    var total = 0.0;
    var acc = vec4<f32>(0.0);
    for (var s = 0u; s < SPLITS; s++) {
        let o = base + s * stride;
        let ml = parts[o + hd4];
        let w = exp(ml.x - mm);
        total += w * ml.y;
        acc += w * parts[o + lid];
    }
    out[(t * ap.n_head + h) * hd4 + lid] = acc / total;
}
