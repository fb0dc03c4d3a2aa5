// The weights in a 2D rgba32uint texture (binding 2), for CPU adapters:
// vec4 i is texel (i mod 4096, i / 4096), the buffer layout cut into rows
// of 64 KiB (`ops::WEIGHT_TEXTURE_WIDTH`).
// Why a texture: lavapipe (Mesa 22) loads a storage buffer one lane and one
// word at a time, each word inserted into its vector through the stack (a
// store-forwarding stall per word), while a texel fetch is one 16-byte
// load per lane and a transpose in registers. Measured on lavapipe, Q4_1
// 1536 × 576 decode, one thread: 1.9 ms from a buffer, 0.85 ms from a
// texture.

@group(0) @binding(2) var w: texture_2d<u32>;

fn wv(i: u32) -> vec4<u32> {
    return textureLoad(w, vec2<u32>(i & 4095u, i >> 12u), 0);
}
