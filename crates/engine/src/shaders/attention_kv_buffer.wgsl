// Lane attention's KV cache as the storage buffers every writer fills
// (`Variant::kv_mirror` off): K and V rows of (ctx, n_kv, HD/4) `kv4`s.

@group(0) @binding(3) var<storage, read> k_cache: array<kv4>;
@group(0) @binding(4) var<storage, read> v_cache: array<kv4>;

// Where KV head g's row at position j starts.
alias KvAt = u32;

fn kv_at(j: u32, g: u32) -> KvAt {
    return (j * ap.n_kv + g) * (HD / 4u);
}

// Four values (d4 = d) of the K or V row at `at`, widened to f32.
fn k_load(at: KvAt, d: u32) -> vec4<f32> {
    return widen(k_cache[at + d]);
}

fn v_load(at: KvAt, d: u32) -> vec4<f32> {
    return widen(v_cache[at + d]);
}
