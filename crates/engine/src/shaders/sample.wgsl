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

const WG: u32 = 256u;
const MAX_K: u32 = 64u;
// Candidates a lane keeps from the scan.
const LANE_TOP: u32 = 4u;

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;
// The slot (lane · LANE_TOP + j) the best came from.
var<workgroup> best_s: array<u32, 256>;
var<workgroup> top_v: array<f32, 64>;
var<workgroup> top_i: array<u32, 64>;
// Lane l's candidates, best first, in slots l · LANE_TOP … (id 0xffffffff:
// none).
var<workgroup> cand_v: array<f32, 1024>;
var<workgroup> cand_i: array<u32, 1024>;
// How many of lane l's candidates the rounds took, and whether the lane saw
// more allowed tokens than it kept.
var<workgroup> taken: array<u32, 256>;
var<workgroup> overflow: array<u32, 256>;
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

// The rounds' reduction: the best of the lanes' (best_v, best_i, best_s)
// into slot 0. Every lane calls it, in uniform control flow.
fn reduce_best(lid: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s && before(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid])) {
            best_v[lid] = best_v[lid + s];
            best_i[lid] = best_i[lid + s];
            best_s[lid] = best_s[lid + s];
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
fn candidate_rounds(lid: u32, k: u32) {
    // The scan: this lane's LANE_TOP best allowed tokens, sorted.
    var v = array<f32, 4>(-3.4e38, -3.4e38, -3.4e38, -3.4e38);
    var id = array<u32, 4>(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu);
    var seen = 0u;
    for (var i = lid; i < p.vocab; i += WG) {
        if (!allowed(i)) { continue; }
        seen += 1u;
        var x = logits[i];
        var xi = i;
        // Insertion: x moves down the list while it ranks before an entry.
        for (var j = 0u; j < LANE_TOP; j++) {
            if (before(x, xi, v[j], id[j])) {
                let tv = v[j];
                let ti = id[j];
                v[j] = x;
                id[j] = xi;
                x = tv;
                xi = ti;
            }
        }
    }
    for (var j = 0u; j < LANE_TOP; j++) {
        cand_v[lid * LANE_TOP + j] = v[j];
        cand_i[lid * LANE_TOP + j] = id[j];
    }
    taken[lid] = 0u;
    overflow[lid] = select(0u, 1u, seen > LANE_TOP);
    if (lid == 0u) { rescan = 0u; }
    // The rounds: each takes the best candidate not taken yet. A lane's
    // candidates are sorted, so its next one is at slot `taken`.
    for (var round = 0u; round < k; round++) {
        workgroupBarrier();
        let next = taken[lid];
        if (next < LANE_TOP) {
            best_v[lid] = cand_v[lid * LANE_TOP + next];
            best_i[lid] = cand_i[lid * LANE_TOP + next];
        } else {
            best_v[lid] = -3.4e38;
            best_i[lid] = 0xffffffffu;
        }
        best_s[lid] = lid;
        reduce_best(lid);
        if (lid == 0u) {
            top_v[round] = best_v[0];
            top_i[round] = best_i[0];
            if (best_i[0] != 0xffffffffu) {
                let l = best_s[0];
                taken[l] += 1u;
                // Every candidate of a lane that saw more was taken, and
                // the top k is not complete: its next best may be in it.
                if (taken[l] == LANE_TOP && overflow[l] == 1u && round + 1u < k) { rescan = 1u; }
            }
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn sample(@builtin(local_invocation_index) lid: u32) {
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
