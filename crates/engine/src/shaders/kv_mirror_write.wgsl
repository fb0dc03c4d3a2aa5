// The decode Q|K|V product's new K and V rows, also into the KV cache's
// mirror (`Variant::kv_mirror`; attention_kv_mirror.wgsl reads it, where
// the layout is said): each lane's eight rotation pairs k .. k + 7 of one
// head cover whole texels of four f16 values, as the model takes the
// mirror only with the rotation over the whole head and heads a multiple
// of 16 wide (`ops::KvMirror::fits`).

@group(0) @binding(10) var k_mirror: texture_storage_2d<rg32uint, write>;
@group(0) @binding(11) var v_mirror: texture_storage_2d<rg32uint, write>;

override MIRROR_POSITIONS: u32 = 1u;

// Pairs k .. k + 7 (k a multiple of 8) as written (`w`, rotated where
// they are K), at position `pos`: their texels, if they are K or V.
fn mirror_pairs(k: u32, pos: u32, w: array<vec2<f32>, 8>) {
    let hd = rp.head_dim;
    let hh = k / (hd / 2u);
    if (hh < rp.n_head) { return; }
    let is_k = hh < rp.n_head + rp.n_kv;
    let head = select(hh - rp.n_head - rp.n_kv, hh - rp.n_head, is_k);
    let j = k % (hd / 2u);
    let x0 = ((pos % MIRROR_POSITIONS) * rp.n_kv + head) * (hd / 4u);
    let y = pos / MIRROR_POSITIONS;
    if (rp.neox == 1u) {
        // Pair j's dims are j and j + hd/2: the x's make texels j/4 and
        // j/4 + 1, the y's the two at (j + hd/2)/4.
        let lo = j / 4u;
        let hi = (j + hd / 2u) / 4u;
        mirror_texel(is_k, x0 + lo, y, vec2<u32>(pack2x16float(vec2<f32>(w[0].x, w[1].x)), pack2x16float(vec2<f32>(w[2].x, w[3].x))));
        mirror_texel(is_k, x0 + lo + 1u, y, vec2<u32>(pack2x16float(vec2<f32>(w[4].x, w[5].x)), pack2x16float(vec2<f32>(w[6].x, w[7].x))));
        mirror_texel(is_k, x0 + hi, y, vec2<u32>(pack2x16float(vec2<f32>(w[0].y, w[1].y)), pack2x16float(vec2<f32>(w[2].y, w[3].y))));
        mirror_texel(is_k, x0 + hi + 1u, y, vec2<u32>(pack2x16float(vec2<f32>(w[4].y, w[5].y)), pack2x16float(vec2<f32>(w[6].y, w[7].y))));
    } else {
        // Pair j's dims are 2j and 2j + 1: two pairs to a texel.
        let t = j / 2u;
        mirror_texel(is_k, x0 + t, y, vec2<u32>(pack2x16float(w[0]), pack2x16float(w[1])));
        mirror_texel(is_k, x0 + t + 1u, y, vec2<u32>(pack2x16float(w[2]), pack2x16float(w[3])));
        mirror_texel(is_k, x0 + t + 2u, y, vec2<u32>(pack2x16float(w[4]), pack2x16float(w[5])));
        mirror_texel(is_k, x0 + t + 3u, y, vec2<u32>(pack2x16float(w[6]), pack2x16float(w[7])));
    }
}

fn mirror_texel(is_k: bool, x: u32, y: u32, words: vec2<u32>) {
    let v = vec4<u32>(words, 0u, 0u);
    if (is_k) {
        textureStore(k_mirror, vec2<u32>(x, y), v);
    } else {
        textureStore(v_mirror, vec2<u32>(x, y), v);
    }
}
