// ffn_matvec.wgsl's two matrices in read-only storage textures (as
// weights_storage.wgsl's, lavapipe's): W_gu at binding 2, W_d at binding 6,
// `wv` reading the one the kernel's PHASE names.

@group(0) @binding(2) var w: texture_storage_2d<rgba32uint, read>;
@group(0) @binding(6) var wd: texture_storage_2d<rgba32uint, read>;

fn wv(i: u32) -> vec4<u32> {
    let c = vec2<u32>(i & 4095u, i >> 12u);
    if (PHASE == 0u) { return textureLoad(w, c); }
    return textureLoad(wd, c);
}
