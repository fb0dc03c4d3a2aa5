// The KV cache's element type where the device has `shader-f16` (see
// `Variant::kv_f16`): K and V are stored as f16, half the bytes to write
// and to read per cached position; every sum stays in f32. Writers store
// `kv(x)` into `array<kv>` and the simple twin reads `f32(k_cache[i])`.
// The vec4 readers load four values as two words (`kv4`) and `widen` them
// with `unpack2x16float`: on CPU adapters a storage load costs a load per
// lane and word, so that is half the loads of `vec4<f32>`, where a
// `vec4<f16>` load costs as many as four f32 ones (one per element).
// Must come first in the module: `enable` precedes every declaration.
enable f16;
alias kv = f16;
alias kv4 = vec2<u32>;
fn widen(v: kv4) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
}
