// How the int8 tile (matmul_tile_q8.wgsl) stores the fused Q|K|V product
// of a batch when the rotation and the caches' write are fused into it
// (`ops::matmul_tile_q8_rope`), in place of tile_store.wgsl: a token's
// eight rows r0 .. r0 + 7 are rotation pairs r0/2 .. r0/2 + 3 in llama's
// layout (pair j of a head is dims 2j and 2j + 1, see rope.wgsl), each
// turned and written to q or the K cache, or written to the V cache
// (rope.wgsl's `store_qkv_pair`), as `rope_split` would from the product's
// row. Not for the neox layout (its pairs are half a head apart) nor where
// query and key norms come between the product and the rotation.
// Why: rope_split was a launch a layer reading back the product's rows
// (lavapipe 0.4–0.6 ms a layer for 64 tokens).

@group(0) @binding(4) var<storage, read_write> q: array<f32>;       // (n_tokens, n_head·head_dim)
@group(0) @binding(5) var<storage, read_write> k_cache: array<kv>;  // (ctx, n_kv·head_dim)
@group(0) @binding(6) var<storage, read_write> v_cache: array<kv>;
@group(0) @binding(7) var<uniform> rp: RopeParams;

fn store_token(t0: u32, t: u32, r0: u32, lo: vec4<f32>, hi: vec4<f32>) {
    store_token_to(t0, t, r0, lo, hi, p.n_out);
}

// Token t0 + t's rows r0 .. r0 + 7 before `end`, as four pairs.
fn store_token_to(t0: u32, t: u32, r0: u32, lo: vec4<f32>, hi: vec4<f32>, end: u32) {
    let tok = t0 + t;
    let pos = step.pos + tok;
    let qo = tok * rp.n_head * rp.head_dim;
    let i = r0 / 2u;
    store_qkv_pair(i, pos, qo, lo.xy);
    if (r0 + 2u < end) { store_qkv_pair(i + 1u, pos, qo, lo.zw); }
    if (r0 + 4u < end) { store_qkv_pair(i + 2u, pos, qo, hi.xy); }
    if (r0 + 6u < end) { store_qkv_pair(i + 3u, pos, qo, hi.zw); }
}
