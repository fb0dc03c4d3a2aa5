// Causal grouped-query attention over the KV cache, one pass, online softmax.
//   q (n_tokens, n_head, head_dim); k_cache, v_cache (ctx, n_kv, head_dim);
//   out (n_tokens, n_head, head_dim).
// Workgroup (head h, token t) attends from position step.pos + t to every
// cached position up to it (within `window` positions when window > 0).
// Query head h reads KV head h / (n_head / n_kv).
// Positions are taken in chunks of 64: thread j scores position j of the
// chunk, then thread d accumulates output dims d, d+64, … with the running
// max and sum rescaled as the chunk's max grows (the online softmax of
// "Self-attention does not need O(n²) memory"). head_dim ≤ 256.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> ap: AttentionParams;
@group(0) @binding(2) var<storage, read> q: array<f32>;           // (n_tokens, n_head, head_dim)
@group(0) @binding(3) var<storage, read> k_cache: array<kv>;      // (ctx, n_kv, head_dim)
@group(0) @binding(4) var<storage, read> v_cache: array<kv>;      // (ctx, n_kv, head_dim)
@group(0) @binding(5) var<storage, read_write> out: array<f32>;   // (n_tokens, n_head, head_dim)

const WG: u32 = 64u;

var<workgroup> q_s: array<f32, 256>;
var<workgroup> scores: array<f32, 64>;

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let t = wid.y;
    if (t >= step.n_tokens) { return; }
    let hd = ap.head_dim;
    let kvh = h / (ap.n_head / ap.n_kv);
    let kv_row = ap.n_kv * hd;
    let qpos = step.pos + t;
    var first = 0u;
    if (ap.window > 0u && qpos + 1u > ap.window) { first = qpos + 1u - ap.window; }

    for (var d = lid; d < hd; d += WG) { q_s[d] = q[(t * ap.n_head + h) * hd + d] * ap.scale; }
    workgroupBarrier();

    var m = -3.0e38;     // running max
    var l = 0.0;         // running sum of exp(score - m)
    var acc: array<f32, 4>; // dims lid, lid+64, lid+128, lid+192

    for (var c = first; c <= qpos; c += WG) {
        let n = min(WG, qpos + 1u - c);
        var s = -3.0e38;
        if (lid < n) {
            let ko = (c + lid) * kv_row + kvh * hd;
            s = 0.0;
            for (var d = 0u; d < hd; d++) { s += q_s[d] * f32(k_cache[ko + d]); }
        }
        scores[lid] = s;
        workgroupBarrier();
        var cm = m;
        for (var j = 0u; j < n; j++) { cm = max(cm, scores[j]); }
        let corr = exp(m - cm);
        l *= corr;
        for (var i = 0u; i < 4u; i++) { acc[i] *= corr; }
        for (var j = 0u; j < n; j++) {
            let e = exp(scores[j] - cm);
            l += e;
            let vo = (c + j) * kv_row + kvh * hd;
            for (var i = 0u; i < 4u; i++) {
                let d = lid + i * WG;
                if (d < hd) { acc[i] += e * f32(v_cache[vo + d]); }
            }
        }
        m = cm;
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let d = lid + i * WG;
        if (d < hd) { out[(t * ap.n_head + h) * hd + d] = acc[i] / l; }
    }
}
