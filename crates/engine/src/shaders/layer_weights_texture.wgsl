// layer_tail.wgsl's three matrices in sampled textures (as
// weights_texture.wgsl's): W_o at binding 6, W_gu at 10, W_d at 13, `wv`
// reading the one the kernel's PHASE names.

@group(0) @binding(6) var wo_t: texture_2d<u32>;
@group(0) @binding(10) var wgu_t: texture_2d<u32>;
@group(0) @binding(13) var wd_t: texture_2d<u32>;

fn wv(i: u32) -> vec4<u32> {
    let c = vec2<u32>(i & 4095u, i >> 12u);
    if (PHASE == 0u) { return textureLoad(wgu_t, c, 0); }
    if (PHASE == 1u) { return textureLoad(wd_t, c, 0); }
    return textureLoad(wo_t, c, 0);
}
