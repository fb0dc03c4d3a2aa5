// Causal grouped-query attention over the KV cache, one pass, online
// softmax, every load 16 bytes: the fast twin of `attention.wgsl` (same
// bindings, same results), which stays as the simple reference.
//   q (n_tokens, n_head, head_dim); k_cache, v_cache (ctx, n_kv, head_dim);
//   out (n_tokens, n_head, head_dim). head_dim a multiple of 4, ≤ 256.
// Workgroup (head h, token t) attends from position step.pos + t to every
// cached position up to it (within `window` positions when window > 0).
// Query head h reads KV head h / (n_head / n_kv).
// q is read once, into registers. Positions go in chunks of 64:
//   1. thread j scores position j of the chunk (q·k in vec4s);
//   2. thread (d, part), d < 16, part < 4, takes its part's 16 scores (4
//      vec4 loads), updates the part's running max and sum (the online
//      softmax of "Self-attention does not need O(n²) memory", per part:
//      no reduction across the workgroup), and adds the weighted V rows of
//      those positions to output vec4s d, d+16, d+32, d+48.
// At the end the four parts are combined, each weighed by its max. On CPU adapters every storage or
// workgroup load is a loop over the SIMD lanes, so loads are what is
// counted here: per position about hd/2 vec4 loads, where the simple kernel
// spends several per output value.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> ap: AttentionParams;
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;          // (n_tokens, n_head, head_dim / 4)
@group(0) @binding(3) var<storage, read> k_cache: array<kv4>;     // (ctx, n_kv, head_dim / 4)
@group(0) @binding(4) var<storage, read> v_cache: array<kv4>;     // (ctx, n_kv, head_dim / 4)
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;  // (n_tokens, n_head, head_dim / 4)

const WG: u32 = 64u;
// The head size, a pipeline constant: loops over it unroll and q stays in
// registers for the whole pass.
override HD: u32 = 64u;

var<workgroup> scores: array<vec4<f32>, 16>;      // the chunk's 64 scores
var<workgroup> partial: array<vec4<f32>, 256>;    // [part][d4] at the end
var<workgroup> part_m: array<f32, 4>;
var<workgroup> part_l: array<f32, 4>;

// Attends query head h of token t to cached positions lo..hi (hi
// exclusive; none when lo >= hi). Leaves in workgroup memory the
// unnormalized weighted sum of V rows, `partial[0..HD/4]`, with its max and
// sum of weights, `part_m[0]` and `part_l[0]`: the output is partial / l.
// Every invocation of the workgroup calls it with the same arguments.
fn attend(h: u32, t: u32, lo: u32, hi: u32, lid: u32) {
    let hd4 = HD / 4u;
    let kvh = h / (ap.n_head / ap.n_kv);
    let kv_row = ap.n_kv * hd4;
    let qo = (t * ap.n_head + h) * hd4;

    var qv: array<vec4<f32>, 64>;
    for (var i = 0u; i < hd4; i++) { qv[i] = q[qo + i] * ap.scale; }

    let d4 = lid % 16u;
    let part = lid / 16u;
    // Each part (16 threads, 16 positions of every chunk) keeps its own
    // running max and sum; the parts are combined at the end.
    var m = -3.0e38;
    var l = 0.0;
    var acc: array<vec4<f32>, 4>;    // output vec4s d4 + 16i, this part's positions

    for (var c = lo; c < hi; c += WG) {
        let n = min(WG, hi - c);
        // 1. scores
        var s = -3.0e38;
        if (lid < n) {
            let ko = (c + lid) * kv_row + kvh * hd4;
            var dot4 = vec4<f32>(0.0);
            for (var i = 0u; i < hd4; i++) { dot4 += qv[i] * widen(k_cache[ko + i]); }
            s = dot4.x + dot4.y + dot4.z + dot4.w;
        }
        let lane4 = lid / 4u;
        // Written one component at a time; read back as vec4s.
        switch lid % 4u {
            case 0u: { scores[lane4].x = s; }
            case 1u: { scores[lane4].y = s; }
            case 2u: { scores[lane4].z = s; }
            default: { scores[lane4].w = s; }
        }
        workgroupBarrier();
        // 2. this part's 16 positions: its max, the rescaling of what came
        // before, then the weighted V rows.
        if (part * 16u < n) {
            let sc = array<vec4<f32>, 4>(scores[part * 4u], scores[part * 4u + 1u],
                                         scores[part * 4u + 2u], scores[part * 4u + 3u]);
            let mx = max(max(sc[0], sc[1]), max(sc[2], sc[3]));
            let cm = max(m, max(max(mx.x, mx.y), max(mx.z, mx.w)));
            let corr = exp(m - cm);
            l *= corr;
            for (var i = 0u; i < 4u; i++) { acc[i] *= corr; }
            m = cm;
            for (var jj = 0u; jj < 4u; jj++) {
                let e = exp(sc[jj] - vec4<f32>(cm));
                for (var k = 0u; k < 4u; k++) {
                    let j = part * 16u + jj * 4u + k;
                    if (j < n) {
                        let ek = e[k];
                        l += ek;
                        let vo = (c + j) * kv_row + kvh * hd4;
                        for (var i = 0u; i < 4u; i++) {
                            let dd = d4 + 16u * i;
                            if (dd < hd4) { acc[i] += ek * widen(v_cache[vo + dd]); }
                        }
                    }
                }
            }
        }
        workgroupBarrier();
    }
    // The four parts, each weighed by how its max compares with the largest
    // (a part that saw no position has max -3e38 and sum 0).
    for (var i = 0u; i < 4u; i++) { partial[part * 64u + d4 + 16u * i] = acc[i]; }
    if (d4 == 0u) {
        part_m[part] = m;
        part_l[part] = l;
    }
    workgroupBarrier();
    let mm = max(max(part_m[0], part_m[1]), max(part_m[2], part_m[3]));
    let wt = exp(vec4<f32>(part_m[0], part_m[1], part_m[2], part_m[3]) - vec4<f32>(mm));
    let total = dot(wt, vec4<f32>(part_l[0], part_l[1], part_l[2], part_l[3]));
    var sums: array<vec4<f32>, 4>;
    if (part == 0u) {
        for (var i = 0u; i < 4u; i++) {
            let dd = d4 + 16u * i;
            if (dd < hd4) {
                sums[i] = wt.x * partial[dd] + wt.y * partial[64u + dd] + wt.z * partial[128u + dd]
                    + wt.w * partial[192u + dd];
            }
        }
    }
    workgroupBarrier();
    if (part == 0u) {
        for (var i = 0u; i < 4u; i++) {
            let dd = d4 + 16u * i;
            if (dd < hd4) { partial[dd] = sums[i]; }
        }
        if (d4 == 0u) {
            part_m[0] = mm;
            part_l[0] = total;
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let t = wid.y;
    if (t >= step.n_tokens) { return; }
    let qpos = step.pos + t;
    attend(h, t, window_first(qpos), qpos + 1u, lid);
    let hd4 = HD / 4u;
    let qo = (t * ap.n_head + h) * hd4;
    if (lid < hd4) { out[qo + lid] = partial[lid] / part_l[0]; }
}
