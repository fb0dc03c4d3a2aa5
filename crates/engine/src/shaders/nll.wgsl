// Negative log-likelihood of each target token, for perplexity:
//   nll[t] = logsumexp(logits[t]) - logits[t, targets[t]]
//   logits (n_tokens, vocab); targets (n_tokens,); nll (n_tokens,).
// One workgroup per token: a max pass, then a sum of exp(x - max).

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct NllParams {
    vocab: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: NllParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;     // (n_tokens, vocab)
@group(0) @binding(3) var<storage, read> targets: array<u32>;    // (n_tokens,)
@group(0) @binding(4) var<storage, read_write> nll: array<f32>;  // (n_tokens,)

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn nll_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x;
    if (t >= step.n_tokens) { return; }
    let o = t * p.vocab;
    var m = -3.4e38;
    for (var i = lid; i < p.vocab; i += 256u) { m = max(m, logits[o + i]); }
    red[lid] = m;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
        workgroupBarrier();
    }
    let mx = red[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var i = lid; i < p.vocab; i += 256u) { sum += exp(logits[o + i] - mx); }
    red[lid] = sum;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
    }
    if (lid == 0u) { nll[t] = mx + log(red[0]) - logits[o + min(targets[t], p.vocab - 1u)]; }
}
