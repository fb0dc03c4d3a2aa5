// Lane attention's work (see attention_lanes.wgsl), appended to the
// kernels that run it: attention_lanes.wgsl, one workgroup a (KV head,
// token, split), and layer_tail.wgsl, whose workgroups take the KV heads in
// turn. The kernel declares `step`, `ap`, the queries `q` (a uniform of
// 4,096 vec4s), the caches' readers (attention_kv_*.wgsl) and `lanes_out`,
// where the parts or (MERGE = 1) the output go.

// The head size (a multiple of 4) and query heads per KV head, with
// GROUP · HD/4 ≤ 64 (the sums a lane keeps) and GROUP ≤ 8.
override HD: u32 = 64u;
override GROUP: u32 = 3u;
// Workgroups per KV head and token.
override SPLITS: u32 = 4u;
// 1: with SPLITS = 1, the workgroup merges its lanes' parts itself and
// writes the output (`lanes_out` is then the output, (n_tokens, n_head, HD/4)),
// one launch where the merge would be another: for short contexts, where
// a launch costs more than the work (lavapipe, context 40: the 30 layers'
// attention 5.1 ms a token with the one-pass kernel).
override MERGE: u32 = 0u;
const LANES: u32 = 8u;

// MERGE = 1: each lane's sums ([lane · GROUP + query] · HD/4 + d4) and its
// (max, sum of weights) ([lane · 8 + query]).
var<workgroup> lane_acc: array<vec4<f32>, 512>;
var<workgroup> lane_ml: array<vec2<f32>, 64>;

// Workgroup (g, t, s)'s work, lane `lid`: KV head g, token t, split s.
fn lanes_attend(g: u32, t: u32, s: u32, lid: u32) {
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
    let q0 = (t * ap.n_head + g * GROUP) * hd4;

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
        let ca = min(ja, vec4<u32>(last));
        let cb = min(jb, vec4<u32>(last));
        let a0 = kv_at(ca.x, g);
        let a1 = kv_at(ca.y, g);
        let a2 = kv_at(ca.z, g);
        let a3 = kv_at(ca.w, g);
        let a4 = kv_at(cb.x, g);
        let a5 = kv_at(cb.y, g);
        let a6 = kv_at(cb.z, g);
        let a7 = kv_at(cb.w, g);
        da = array<vec4<f32>, 8>();
        db = array<vec4<f32>, 8>();
        for (var d = 0u; d < hd4; d++) {
            let k0 = k_load(a0, d);
            let k1 = k_load(a1, d);
            let k2 = k_load(a2, d);
            let k3 = k_load(a3, d);
            let k4 = k_load(a4, d);
            let k5 = k_load(a5, d);
            let k6 = k_load(a6, d);
            let k7 = k_load(a7, d);
            // Written out, query by query (see `Fold`).
            if (0u < GROUP) { let qv = q[q0 + 0u * hd4 + d]; da[0] += dots(qv, k0, k1, k2, k3); db[0] += dots(qv, k4, k5, k6, k7); }
            if (1u < GROUP) { let qv = q[q0 + 1u * hd4 + d]; da[1] += dots(qv, k0, k1, k2, k3); db[1] += dots(qv, k4, k5, k6, k7); }
            if (2u < GROUP) { let qv = q[q0 + 2u * hd4 + d]; da[2] += dots(qv, k0, k1, k2, k3); db[2] += dots(qv, k4, k5, k6, k7); }
            if (3u < GROUP) { let qv = q[q0 + 3u * hd4 + d]; da[3] += dots(qv, k0, k1, k2, k3); db[3] += dots(qv, k4, k5, k6, k7); }
            if (4u < GROUP) { let qv = q[q0 + 4u * hd4 + d]; da[4] += dots(qv, k0, k1, k2, k3); db[4] += dots(qv, k4, k5, k6, k7); }
            if (5u < GROUP) { let qv = q[q0 + 5u * hd4 + d]; da[5] += dots(qv, k0, k1, k2, k3); db[5] += dots(qv, k4, k5, k6, k7); }
            if (6u < GROUP) { let qv = q[q0 + 6u * hd4 + d]; da[6] += dots(qv, k0, k1, k2, k3); db[6] += dots(qv, k4, k5, k6, k7); }
            if (7u < GROUP) { let qv = q[q0 + 7u * hd4 + d]; da[7] += dots(qv, k0, k1, k2, k3); db[7] += dots(qv, k4, k5, k6, k7); }
        }
        if (0u < GROUP) { let f = fold(m[0], l[0], da[0], db[0], ina, inb); keep[0] = f.keep; wa[0] = f.wa; wb[0] = f.wb; l[0] = f.l; m[0] = f.m; }
        if (1u < GROUP) { let f = fold(m[1], l[1], da[1], db[1], ina, inb); keep[1] = f.keep; wa[1] = f.wa; wb[1] = f.wb; l[1] = f.l; m[1] = f.m; }
        if (2u < GROUP) { let f = fold(m[2], l[2], da[2], db[2], ina, inb); keep[2] = f.keep; wa[2] = f.wa; wb[2] = f.wb; l[2] = f.l; m[2] = f.m; }
        if (3u < GROUP) { let f = fold(m[3], l[3], da[3], db[3], ina, inb); keep[3] = f.keep; wa[3] = f.wa; wb[3] = f.wb; l[3] = f.l; m[3] = f.m; }
        if (4u < GROUP) { let f = fold(m[4], l[4], da[4], db[4], ina, inb); keep[4] = f.keep; wa[4] = f.wa; wb[4] = f.wb; l[4] = f.l; m[4] = f.m; }
        if (5u < GROUP) { let f = fold(m[5], l[5], da[5], db[5], ina, inb); keep[5] = f.keep; wa[5] = f.wa; wb[5] = f.wb; l[5] = f.l; m[5] = f.m; }
        if (6u < GROUP) { let f = fold(m[6], l[6], da[6], db[6], ina, inb); keep[6] = f.keep; wa[6] = f.wa; wb[6] = f.wb; l[6] = f.l; m[6] = f.m; }
        if (7u < GROUP) { let f = fold(m[7], l[7], da[7], db[7], ina, inb); keep[7] = f.keep; wa[7] = f.wa; wb[7] = f.wb; l[7] = f.l; m[7] = f.m; }
        // The eight positions' V rows into the sums. On lavapipe
        // `Kernel::source` puts a call of attention_lanes_v_unrolled.wgsl's
        // `v_pass`, the steps written out, in place of this loop (the lines
        // between the two markers); SwiftShader keeps it
        // (`Variant::attention_v_loop`).
        // v-pass begin
        for (var d = 0u; d < hd4; d++) {
            let v0 = v_load(a0, d);
            let v1 = v_load(a1, d);
            let v2 = v_load(a2, d);
            let v3 = v_load(a3, d);
            let v4 = v_load(a4, d);
            let v5 = v_load(a5, d);
            let v6 = v_load(a6, d);
            let v7 = v_load(a7, d);
            let vs = V8(v0, v1, v2, v3, v4, v5, v6, v7);
            if (0u < GROUP) { acc[0u * hd4 + d] = acc[0u * hd4 + d] * keep[0] + weigh(wa[0], wb[0], vs); }
            if (1u < GROUP) { acc[1u * hd4 + d] = acc[1u * hd4 + d] * keep[1] + weigh(wa[1], wb[1], vs); }
            if (2u < GROUP) { acc[2u * hd4 + d] = acc[2u * hd4 + d] * keep[2] + weigh(wa[2], wb[2], vs); }
            if (3u < GROUP) { acc[3u * hd4 + d] = acc[3u * hd4 + d] * keep[3] + weigh(wa[3], wb[3], vs); }
            if (4u < GROUP) { acc[4u * hd4 + d] = acc[4u * hd4 + d] * keep[4] + weigh(wa[4], wb[4], vs); }
            if (5u < GROUP) { acc[5u * hd4 + d] = acc[5u * hd4 + d] * keep[5] + weigh(wa[5], wb[5], vs); }
            if (6u < GROUP) { acc[6u * hd4 + d] = acc[6u * hd4 + d] * keep[6] + weigh(wa[6], wb[6], vs); }
            if (7u < GROUP) { acc[7u * hd4 + d] = acc[7u * hd4 + d] * keep[7] + weigh(wa[7], wb[7], vs); }
        }
        // v-pass end
    }
    // MERGE = 1: the lanes' parts, through workgroup memory, into the
    // output: lane i takes output vec4s i, i + LANES, … of the KV head's
    // GROUP query heads, each weighed by its lane's max as the merge does.
    // A lane that saw no position has max -3e38 and weighs 0.
    if (MERGE == 1u) {
        for (var h = 0u; h < GROUP; h++) {
            for (var d = 0u; d < hd4; d++) { lane_acc[(lid * GROUP + h) * hd4 + d] = acc[h * hd4 + d]; }
            lane_ml[lid * 8u + h] = vec2<f32>(m[h], l[h]);
        }
        workgroupBarrier();
        for (var k = lid; k < GROUP * hd4; k += LANES) {
            let h = k / hd4;
            var mx = -3.0e38;
            for (var i = 0u; i < LANES; i++) { mx = max(mx, lane_ml[i * 8u + h].x); }
            var sum = 0.0;
            var o = vec4<f32>(0.0);
            for (var i = 0u; i < LANES; i++) {
                let ml = lane_ml[i * 8u + h];
                let w = exp(ml.x - mx);
                sum += ml.y * w;
                o += lane_acc[(i * GROUP + h) * hd4 + k - h * hd4] * w;
            }
            lanes_out[(t * ap.n_head + g * GROUP) * hd4 + k] = o / sum;
        }
        return;
    }
    // This lane's part for each query head; a lane that saw no position
    // writes max -3e38 and sum 0, which the merge weighs 0.
    let n_parts = SPLITS * LANES;
    for (var h = 0u; h < GROUP; h++) {
        let base = ((t * ap.n_head + g * GROUP + h) * n_parts + s * LANES + lid) * (hd4 + 1u);
        for (var d = 0u; d < hd4; d++) { lanes_out[base + d] = acc[h * hd4 + d]; }
        lanes_out[base + hd4] = vec4<f32>(m[h], l[h], 0.0, 0.0);
    }
}

// Query qv dotted with four K rows' vec4s.
fn dots(qv: vec4<f32>, a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(dot(qv, a), dot(qv, b), dot(qv, c), dot(qv, d));
}

// One query's running softmax after a pass of eight positions: the
// kernel's steps over its GROUP queries are written out, one statement a
// query with a constant index, since SwiftShader's compiler does not unroll
// loops and an array indexed by a loop's counter lives in memory there (lab,
// `scripts/lab_attention.py`, KINDS=lanes at position 1,088: SwiftShader
// 1.16 -> 0.64 ms a launch, lavapipe the same).
struct Fold {
    keep: f32,       // how much of the old sums stays
    wa: vec4<f32>,   // the eight positions' weights
    wb: vec4<f32>,
    l: f32,          // the new sum of weights
    m: f32,          // the new max
}

fn fold(m: f32, l: f32, da: vec4<f32>, db: vec4<f32>, ina: vec4<bool>, inb: vec4<bool>) -> Fold {
    let sa = select(vec4<f32>(-3.0e38), da * ap.scale, ina);
    let sb = select(vec4<f32>(-3.0e38), db * ap.scale, inb);
    let s8 = max(sa, sb);
    let mx = max(m, max(max(s8.x, s8.y), max(s8.z, s8.w)));
    let keep = exp(m - mx);
    let wa = select(vec4<f32>(0.0), exp(sa - vec4<f32>(mx)), ina);
    let wb = select(vec4<f32>(0.0), exp(sb - vec4<f32>(mx)), inb);
    let w8 = wa + wb;
    return Fold(keep, wa, wb, l * keep + (w8.x + w8.y) + (w8.z + w8.w), mx);
}

// The eight positions' V vec4s.
struct V8 {
    v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>,
    v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>,
}

// The eight V vec4s weighed by one query's weights.
fn weigh(a: vec4<f32>, b: vec4<f32>, v: V8) -> vec4<f32> {
    return a.x * v.v0 + a.y * v.v1 + a.z * v.v2 + a.w * v.v3
        + b.x * v.v4 + b.y * v.v5 + b.z * v.v6 + b.w * v.v7;
}
