// The weights in a storage buffer (binding 2): vec4 i is w[i].

@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;

fn wv(i: u32) -> vec4<u32> {
    return w[i];
}
