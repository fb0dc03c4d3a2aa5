// The greedy token after each row of logits: its argmax, the lowest id
// winning a tie, as sample.wgsl's greedy path chooses. Checks the tokens a
// lookup drafted (`Model::verify`): logits (n_tokens, vocab); out (n_tokens,).
// One workgroup per token: each lane scans a stride of the row, then a tree
// keeps the larger value, or the lower id of two equal ones.

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct ArgmaxParams {
    vocab: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: ArgmaxParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;    // (n_tokens, vocab)
@group(0) @binding(3) var<storage, read_write> out: array<u32>; // (n_tokens,)

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

@compute @workgroup_size(256)
fn argmax_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x;
    if (t >= step.n_tokens) { return; }
    let o = t * p.vocab;
    // Ids rise along a lane's stride, so `>` keeps the lowest of its ties.
    var v = -3.4e38;
    var i = p.vocab;
    for (var j = lid; j < p.vocab; j += 256u) {
        let x = logits[o + j];
        if (x > v || i == p.vocab) { v = x; i = j; }
    }
    best_v[lid] = v;
    best_i[lid] = i;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let ov = best_v[lid + s];
            let oi = best_i[lid + s];
            if (ov > best_v[lid] || (ov == best_v[lid] && oi < best_i[lid])) {
                best_v[lid] = ov;
                best_i[lid] = oi;
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u) { out[t] = best_i[0]; }
}
