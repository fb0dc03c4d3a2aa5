// x[t] = scale · E[tokens[t]]: the embedding lookup, dequantizing the row.
//   E (vocab, dim) in the GPU layout of QTYPE; tokens (n_tokens,); x (n_tokens, dim).
// One workgroup per token; threads stride over the row's blocks. A table
// split by rows is looked up by one launch per part, each writing the
// tokens whose row it holds.

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct EmbedParams {
    dim: u32,
    // Rows of this table, or of this part of a table split by rows.
    vocab: u32,
    scale: f32,
    // Token id of the part's first row.
    first_row: u32,
    // 1: the last part, which clamps ids past the vocabulary to its last row.
    last: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: EmbedParams;
// binding 2: the weights, read through `wv` (weights_buffer.wgsl or weights_texture.wgsl)
@group(0) @binding(3) var<storage, read> tokens: array<u32>;         // (n_tokens,)
@group(0) @binding(4) var<storage, read_write> x: array<vec4<f32>>;  // (n_tokens, dim / 4)

@compute @workgroup_size(64)
fn embed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x;
    if (t >= step.n_tokens) { return; }
    var id = tokens[t];
    if (id < p.first_row) { return; }
    id -= p.first_row;
    if (id >= p.vocab) {
        if (p.last == 0u) { return; }
        id = p.vocab - 1u;
    }
    let token = id;
    let n_blocks = p.dim / 32u;
    for (var b = lid; b < n_blocks; b += 64u) {
        for (var i = 0u; i < 8u; i++) {
            x[(t * p.dim + b * 32u) / 4u + i] = block_vec4(p.vocab, n_blocks, token, b, i) * p.scale;
        }
    }
}
