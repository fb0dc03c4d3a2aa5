// Decode attention for CPU adapters, one cached position to a lane: the
// first launch of a split, whose partial results `attention_merge.wgsl`
// combines (the same format as `attention_split.wgsl`'s).
// Workgroup (KV head g, token t, split s) of LANES lanes takes the s-th of
// SPLITS runs of the positions token t sees; lane i takes every LANES-th
// position of the run from its i-th on. For each, it reads the K row and
// dots it with the GROUP queries of g, then folds the V row into its own
// running softmax for each of those queries (its max m, its sum of weights
// l, its unnormalized weighted sum of V rows). Each lane writes its three
// as one part: the merge sees SPLITS · LANES parts per head.
// Why this shape on a CPU adapter (lavapipe, SwiftShader): there a lane is a
// SIMD lane of one core, a storage or workgroup load costs a load per lane
// and 32-bit word, and a uniform load whose address is the same on every
// lane costs one. So: each K and V word is loaded once, by one lane; the
// queries come from a uniform binding (`q`, one load serves the SIMD
// group); nothing goes through workgroup memory, and no barrier is taken.
// Row attention (`attention_rows.wgsl`) takes three launches and loads
// each score from storage twice more and each query once per lane.
// Every sum is f32; the KV cache may be f16 (`kv4`, `widen`).

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: AttentionParams;
// The first 64 KiB of q (n_tokens, n_head, HD/4): the op takes only batches
// whose queries fit (`ops::attention_lanes`).
@group(0) @binding(2) var<uniform> q: array<vec4<f32>, 4096>;
@group(0) @binding(3) var<storage, read> k_cache: array<kv4>;     // (ctx, n_kv, HD/4)
@group(0) @binding(4) var<storage, read> v_cache: array<kv4>;     // (ctx, n_kv, HD/4)
@group(0) @binding(5) var<storage, read_write> parts: array<vec4<f32>>;  // (n_tokens, n_head, SPLITS · LANES, HD/4 + 1)

// The head size (a multiple of 4) and query heads per KV head, with
// GROUP · HD/4 ≤ 64 (the sums a lane keeps) and GROUP ≤ 8.
override HD: u32 = 64u;
override GROUP: u32 = 3u;
// Workgroups per KV head and token.
override SPLITS: u32 = 4u;
const LANES: u32 = 8u;

@compute @workgroup_size(8)
fn attention_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x;
    let t = wid.y;
    let s = wid.z;
    if (t >= step.n_tokens) { return; }
    let hd4 = HD / 4u;
    let qpos = step.pos + t;
    let first = window_first(qpos);
    let end = qpos + 1u;
    // Runs of whole LANES-position rows; a short context leaves the last
    // splits empty.
    let per = ((end - first + SPLITS - 1u) / SPLITS + LANES - 1u) / LANES * LANES;
    let lo = min(first + s * per, end);
    let hi = min(lo + per, end);
    let q0 = (t * p.n_head + g * GROUP) * hd4;

    var m = array<f32, 8>(-3.0e38, -3.0e38, -3.0e38, -3.0e38, -3.0e38, -3.0e38, -3.0e38, -3.0e38);
    var l: array<f32, 8>;
    var acc: array<vec4<f32>, 64>;     // [query · HD/4 + d4]
    // Every lane runs the same passes (a loop whose bound differs from
    // lane to lane costs a mask test per load); in each it takes eight
    // positions, c + lid + LANES·i (i < 8: ja, then jb), and one past the
    // run reads the run's last row and weighs 0. Eight, not one, a pass:
    // the rescaling of a lane's sums is paid once per eight positions
    // (lavapipe, 2,048 positions: 22.8 ms a token with one and 11.7 with
    // four at 4 workgroups per KV head; 9.6 with eight at 2).
    let last = max(hi, lo + 1u) - 1u;
    // Declared once and cleared by hand: Chromium's compiler (Tint) did
    // not zero arrays declared inside the loop on each pass.
    var da: array<vec4<f32>, 8>;     // [query] → positions ja's q·k
    var db: array<vec4<f32>, 8>;     // and jb's
    var keep: array<f32, 8>;         // how much of the old sums stays
    var wa: array<vec4<f32>, 8>;     // the eight positions' weights
    var wb: array<vec4<f32>, 8>;
    for (var c = lo; c < hi; c += 8u * LANES) {
        let ja = vec4<u32>(c + lid) + vec4<u32>(0u, LANES, 2u * LANES, 3u * LANES);
        let jb = ja + vec4<u32>(4u * LANES);
        let ina = ja < vec4<u32>(hi);
        let inb = jb < vec4<u32>(hi);
        let ra = (min(ja, vec4<u32>(last)) * p.n_kv + g) * hd4;
        let rb = (min(jb, vec4<u32>(last)) * p.n_kv + g) * hd4;
        for (var h = 0u; h < GROUP; h++) {
            da[h] = vec4<f32>(0.0);
            db[h] = vec4<f32>(0.0);
        }
        for (var d = 0u; d < hd4; d++) {
            let k0 = widen(k_cache[ra.x + d]);
            let k1 = widen(k_cache[ra.y + d]);
            let k2 = widen(k_cache[ra.z + d]);
            let k3 = widen(k_cache[ra.w + d]);
            let k4 = widen(k_cache[rb.x + d]);
            let k5 = widen(k_cache[rb.y + d]);
            let k6 = widen(k_cache[rb.z + d]);
            let k7 = widen(k_cache[rb.w + d]);
            for (var h = 0u; h < GROUP; h++) {
                let qv = q[q0 + h * hd4 + d];
                da[h] += vec4<f32>(dot(qv, k0), dot(qv, k1), dot(qv, k2), dot(qv, k3));
                db[h] += vec4<f32>(dot(qv, k4), dot(qv, k5), dot(qv, k6), dot(qv, k7));
            }
        }
        for (var h = 0u; h < GROUP; h++) {
            let sa = select(vec4<f32>(-3.0e38), da[h] * p.scale, ina);
            let sb = select(vec4<f32>(-3.0e38), db[h] * p.scale, inb);
            let s8 = max(sa, sb);
            let mx = max(m[h], max(max(s8.x, s8.y), max(s8.z, s8.w)));
            keep[h] = exp(m[h] - mx);
            wa[h] = select(vec4<f32>(0.0), exp(sa - vec4<f32>(mx)), ina);
            wb[h] = select(vec4<f32>(0.0), exp(sb - vec4<f32>(mx)), inb);
            let w8 = wa[h] + wb[h];
            l[h] = l[h] * keep[h] + (w8.x + w8.y) + (w8.z + w8.w);
            m[h] = mx;
        }
        for (var d = 0u; d < hd4; d++) {
            let v0 = widen(v_cache[ra.x + d]);
            let v1 = widen(v_cache[ra.y + d]);
            let v2 = widen(v_cache[ra.z + d]);
            let v3 = widen(v_cache[ra.w + d]);
            let v4 = widen(v_cache[rb.x + d]);
            let v5 = widen(v_cache[rb.y + d]);
            let v6 = widen(v_cache[rb.z + d]);
            let v7 = widen(v_cache[rb.w + d]);
            for (var h = 0u; h < GROUP; h++) {
                let a = wa[h];
                let b = wb[h];
                acc[h * hd4 + d] = acc[h * hd4 + d] * keep[h] + a.x * v0 + a.y * v1 + a.z * v2 + a.w * v3
                    + b.x * v4 + b.y * v5 + b.z * v6 + b.w * v7;
            }
        }
    }
    // This lane's part for each query head; a lane that saw no position
    // writes max -3e38 and sum 0, which the merge weighs 0.
    let n_parts = SPLITS * LANES;
    for (var h = 0u; h < GROUP; h++) {
        let base = ((t * p.n_head + g * GROUP + h) * n_parts + s * LANES + lid) * (hd4 + 1u);
        for (var d = 0u; d < hd4; d++) { parts[base + d] = acc[h * hd4 + d]; }
        parts[base + hd4] = vec4<f32>(m[h], l[h], 0.0, 0.0);
    }
}
