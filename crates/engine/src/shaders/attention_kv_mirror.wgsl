// Lane attention's KV cache from its mirror in read-only storage textures
// (`Variant::kv_mirror`, lavapipe with an f16 cache): the same rows as the
// buffers, four f16 values to an `rg32uint` texel, MIRROR_POSITIONS
// positions to a texture row (`ops::KvMirror`). Why: lavapipe compiles an
// image load inline as a gather of the 8 lanes' texels, where a storage
// load is a loop over the lanes with a bounds check each. Lab (SmolLM2's
// shape, one launch, two splits): 512 positions 0.173 → 0.14 ms, 2,048
// 0.41 → 0.30.

@group(0) @binding(3) var k_mirror: texture_storage_2d<rg32uint, read>;
@group(0) @binding(4) var v_mirror: texture_storage_2d<rg32uint, read>;

// Positions to a texture row: a power of two that makes a row's bytes a
// multiple of 256, as buffer-to-texture copies need.
override MIRROR_POSITIONS: u32 = 1u;

// The texel (x, y) where KV head g's row at position j starts.
alias KvAt = vec2<u32>;

fn kv_at(j: u32, g: u32) -> KvAt {
    return vec2<u32>(((j % MIRROR_POSITIONS) * ap.n_kv + g) * (HD / 4u), j / MIRROR_POSITIONS);
}

fn k_load(at: KvAt, d: u32) -> vec4<f32> {
    return widen(textureLoad(k_mirror, vec2<u32>(at.x + d, at.y)).xy);
}

fn v_load(at: KvAt, d: u32) -> vec4<f32> {
    return widen(textureLoad(v_mirror, vec2<u32>(at.x + d, at.y)).xy);
}
