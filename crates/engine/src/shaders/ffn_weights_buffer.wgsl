// ffn_matvec.wgsl's two matrices in storage buffers (as
// weights_buffer.wgsl's): W_gu at binding 2, W_d at binding 6, `wv`
// reading the one the kernel's PHASE names.

@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(6) var<storage, read> wd: array<vec4<u32>>;

fn wv(i: u32) -> vec4<u32> {
    if (PHASE == 0u) { return w[i]; }
    return wd[i];
}
