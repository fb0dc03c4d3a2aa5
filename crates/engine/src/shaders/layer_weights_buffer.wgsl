// layer_tail.wgsl's three matrices in storage buffers (as
// weights_buffer.wgsl's): W_o at binding 6, W_gu at 10, W_d at 13, `wv`
// reading the one the kernel's PHASE names.

@group(0) @binding(6) var<storage, read> wo_t: array<vec4<u32>>;
@group(0) @binding(10) var<storage, read> wgu_t: array<vec4<u32>>;
@group(0) @binding(13) var<storage, read> wd_t: array<vec4<u32>>;

fn wv(i: u32) -> vec4<u32> {
    if (PHASE == 0u) { return wgu_t[i]; }
    if (PHASE == 1u) { return wd_t[i]; }
    return wo_t[i];
}
