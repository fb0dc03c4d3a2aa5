// x[t] = scale · E[tokens[t]]: the embedding lookup, dequantizing the row.
//   E (vocab, dim) in the GPU layout of QTYPE; tokens (n_tokens,); x (n_tokens, dim).
// One workgroup per token; threads stride over the row's blocks.

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct EmbedParams {
    dim: u32,
    vocab: u32,
    scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: EmbedParams;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;        // (vocab, dim) packed
@group(0) @binding(3) var<storage, read> tokens: array<u32>;         // (n_tokens,)
@group(0) @binding(4) var<storage, read_write> x: array<vec4<f32>>;  // (n_tokens, dim / 4)

@compute @workgroup_size(64)
fn embed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x;
    if (t >= step.n_tokens) { return; }
    let token = min(tokens[t], p.vocab - 1u);
    let n_blocks = p.dim / 32u;
    for (var b = lid; b < n_blocks; b += 64u) {
        for (var i = 0u; i < 8u; i++) {
            x[(t * p.dim + b * 32u) / 4u + i] = block_vec4(p.vocab, n_blocks, token, b, i) * p.scale;
        }
    }
}
