// No KV mirror (`Variant::kv_mirror` off): the decode Q|K|V product writes
// the caches' buffers only.

fn mirror_pairs(k: u32, pos: u32, w: array<vec2<f32>, 8>) {}
