// Picks the next token from a row of logits, on the GPU, so that only the
// token id (4 bytes) goes back to the CPU.
//   logits (vocab,); tokens (max_batch,): the pick is written to tokens[0],
//   where the next decode step's embedding lookup reads it.
// temperature ≤ 0 or top_k = 1: greedy (argmax; the lowest id wins a tie).
// Otherwise: the top_k highest logits (k ≤ 64) are found by k rounds of a
// workgroup arg-max, each round taking the best below the previous pick,
// over candidates one scan of the logits gathered: each lane's LANE_TOP
// best. That holds the top k unless a lane had more than LANE_TOP of them
// (and saw more than LANE_TOP tokens), which the rounds can tell: then
// they run again over every logit, k scans, as this kernel did for every
// sampled token before (its twin, `scan_rounds`). Why: k scans of the
// vocabulary cost a sampled token (top_k 40, the page's Regenerate)
// about 40 times a greedy one's scan.
// Then softmax(logit / temperature) over them, cut to the smallest prefix whose
// mass reaches top_p, then one draw from a counter-based hash of
// (seed, rng_step), so a seed reproduces a whole generation.
// masked = 1: only tokens whose bit is set in `mask` are candidates (the
// grammar's allowed set for constrained decoding); if none is, the pick is
// 0xffffffff, which the CPU reports.

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct SampleParams {
    vocab: u32,
    temperature: f32,
    top_k: u32,
    top_p: f32,
    seed: u32,
    masked: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: SampleParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;       // (vocab,)
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>; // (max_batch,)
@group(0) @binding(4) var<storage, read> mask: array<u32>;         // (ceil(vocab / 32),) bit i: token i allowed
// The layer tails' meetings (layer_tail.wgsl): [1] nonzero where a
// workgroup gave up waiting this step, [2] the step's input token.
@group(0) @binding(5) var<storage, read> meet: array<u32, 4>;

// The pick of a step whose layer tails did not all meet (its logits are
// not the model's): its input token with this bit set, for the CPU to run
// the step again without them.
const MISSED: u32 = 0x80000000u;

const WG: u32 = 256u;
const MAX_K: u32 = 64u;
// Candidates a lane keeps from the scan.
const LANE_TOP: u32 = 4u;

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;
var<workgroup> top_v: array<f32, 64>;
var<workgroup> top_i: array<u32, 64>;
// 1: a lane's candidates ran out inside the top k: scan every logit.
var<workgroup> rescan: u32;

// Whether (v, i) ranks before (bv, bi): higher value first, lower id on ties.
fn before(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return v > bv || (v == bv && i < bi);
}

fn allowed(i: u32) -> bool {
    return p.masked == 0u || ((mask[i >> 5u] >> (i & 31u)) & 1u) == 1u;
}

fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// The rounds' reduction: the best of the lanes' (best_v, best_i) into
// slot 0. Every lane calls it, in uniform control flow.
fn reduce_best(lid: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s && before(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid])) {
            best_v[lid] = best_v[lid + s];
            best_i[lid] = best_i[lid + s];
        }
        workgroupBarrier();
    }
}

// The top k by k rounds over every logit (each round a scan of the
// vocabulary): greedy's one round, and the candidates' exact fallback.
fn scan_rounds(lid: u32, k: u32) {
    var prev_v = 3.4e38;
    var prev_i = 0u;
    var have_prev = false;
    for (var round = 0u; round < k; round++) {
        var bv = -3.4e38;
        var bi = 0xffffffffu;
        for (var i = lid; i < p.vocab; i += WG) {
            let v = logits[i];
            let after_prev = !have_prev || before(prev_v, prev_i, v, i);
            if (after_prev && allowed(i) && before(v, i, bv, bi)) { bv = v; bi = i; }
        }
        best_v[lid] = bv;
        best_i[lid] = bi;
        reduce_best(lid);
        prev_v = best_v[0];
        prev_i = best_i[0];
        have_prev = true;
        if (lid == 0u) { top_v[round] = prev_v; top_i[round] = prev_i; }
        workgroupBarrier();
    }
}

// The top k (k > 1) by one scan into the lanes' candidates and k rounds over
// those; sets `rescan` where they may have missed one.
// A lane keeps its candidates in its own registers, sorted, and offers the
// first not yet taken to each round; the lane that scanned the winner (id
// mod WG) moves on to its next. Why not in workgroup arrays indexed by
// lane and count: Chromium's compiler for SwiftShader took 1.6 s over this
// kernel that way (the page's load), 0.3 s this way (BENCHMARKS.md,
// "nineteenth session").
fn candidate_rounds(lid: u32, k: u32) {
    // The scan: this lane's LANE_TOP (4) best allowed tokens, sorted (id
    // 0xffffffff: none).
    var v0 = -3.4e38;
    var v1 = -3.4e38;
    var v2 = -3.4e38;
    var v3 = -3.4e38;
    var i0 = 0xffffffffu;
    var i1 = 0xffffffffu;
    var i2 = 0xffffffffu;
    var i3 = 0xffffffffu;
    var seen = 0u;
    for (var i = lid; i < p.vocab; i += WG) {
        if (!allowed(i)) { continue; }
        seen += 1u;
        let x = logits[i];
        // Insertion: x goes before the first entry it ranks before.
        if (before(x, i, v3, i3)) {
            if (before(x, i, v2, i2)) {
                v3 = v2;
                i3 = i2;
                if (before(x, i, v1, i1)) {
                    v2 = v1;
                    i2 = i1;
                    if (before(x, i, v0, i0)) {
                        v1 = v0;
                        i1 = i0;
                        v0 = x;
                        i0 = i;
                    } else {
                        v1 = x;
                        i1 = i;
                    }
                } else {
                    v2 = x;
                    i2 = i;
                }
            } else {
                v3 = x;
                i3 = i;
            }
        }
    }
    // How many of them the rounds took, and whether it saw more allowed
    // tokens than it kept.
    var taken = 0u;
    let overflow = seen > LANE_TOP;
    if (lid == 0u) { rescan = 0u; }
    // The rounds: each takes the best first candidate of the lanes.
    for (var round = 0u; round < k; round++) {
        workgroupBarrier();
        best_v[lid] = v0;
        best_i[lid] = i0;
        reduce_best(lid);
        let win = best_i[0];
        if (lid == 0u) {
            top_v[round] = best_v[0];
            top_i[round] = win;
        }
        if (win != 0xffffffffu && win % WG == lid) {
            v0 = v1;
            i0 = i1;
            v1 = v2;
            i1 = i2;
            v2 = v3;
            i2 = i3;
            v3 = -3.4e38;
            i3 = 0xffffffffu;
            taken += 1u;
            // Every candidate of a lane that saw more was taken, and the
            // top k is not complete: its next best may be in it.
            if (taken == LANE_TOP && overflow && round + 1u < k) { rescan = 1u; }
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn sample(@builtin(local_invocation_index) lid: u32) {
    if (meet[1] != 0u) {
        if (lid == 0u) { tokens[0] = MISSED | meet[2]; }
        return;
    }
    var k = min(max(p.top_k, 1u), MAX_K);
    if (p.temperature <= 0.0) { k = 1u; }
    if (k == 1u) {
        scan_rounds(lid, 1u);
    } else {
        candidate_rounds(lid, k);
        if (workgroupUniformLoad(&rescan) == 1u) { scan_rounds(lid, k); }
    }
    if (lid != 0u) { return; }
    if (k == 1u || top_i[1] == 0xffffffffu) { tokens[0] = top_i[0]; return; }
    // Fewer allowed tokens than k: the rounds past them found nothing.
    for (var j = 1u; j < k; j++) {
        if (top_i[j] == 0xffffffffu) { k = j; break; }
    }
    // Softmax over the k candidates (top_v is sorted, top_v[0] the max).
    // The max is kept aside: the loop overwrites top_v[0] with exp(0) first.
    let max_v = top_v[0];
    var total = 0.0;
    for (var j = 0u; j < k; j++) {
        let e = exp((top_v[j] - max_v) / p.temperature);
        top_v[j] = e;
        total += e;
    }
    // Nucleus: keep the smallest prefix whose probability reaches top_p.
    var kept = k;
    var mass = 0.0;
    for (var j = 0u; j < k; j++) {
        mass += top_v[j] / total;
        if (mass >= p.top_p) { kept = j + 1u; break; }
    }
    var kept_total = 0.0;
    for (var j = 0u; j < kept; j++) { kept_total += top_v[j]; }
    let u = f32(pcg(p.seed ^ pcg(step.rng_step)) >> 8u) / 16777216.0 * kept_total;
    var c = 0.0;
    var pick = top_i[kept - 1u];
    for (var j = 0u; j < kept; j++) {
        c += top_v[j];
        if (u < c) { pick = top_i[j]; break; }
    }
    tokens[0] = pick;
}
