// The weights in a read-only storage texture (rgba32uint, binding 2), laid
// out as in weights_texture.wgsl (vec4 i is texel (i mod 4096, i / 4096)):
// for lavapipe. There an image load is compiled inline, where a sampled
// texture's fetch is a call to a generated function of about 150
// instructions for 8 lanes' 16 bytes. Measured on lavapipe (Mesa 22.3,
// scripts/lab_decode_kernels.py, KINDS=sub,stosub, COLD=20 and 60, ms a launch,
// sampled → storage): the Q8_0 head 576 → 49,152 7.99 → 5.29, down
// 1,536 → 576 0.213 → 0.158, gate|up 576 → 3,072 0.374 → 0.322. Not on
// SwiftShader, where it is the other way round (head 56.3 → 78.6 ms).

@group(0) @binding(2) var w: texture_storage_2d<rgba32uint, read>;

fn wv(i: u32) -> vec4<u32> {
    return textureLoad(w, vec2<u32>(i & 4095u, i >> 12u));
}
