// The KV cache's element type, put in front of every kernel that reads or
// writes the cache (see `Variant::kv_f16`): f32 here, on every adapter.
// Writers store `kv(x)`; the vec4 readers load `kv4` and `widen` it, the
// simple twin reads `f32(k_cache[i])`: no-ops with these aliases.
alias kv = f32;
alias kv4 = vec4<f32>;
fn widen(v: kv4) -> vec4<f32> { return v; }
