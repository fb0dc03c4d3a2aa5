// The int8 tile's output, for tile_store.wgsl's epilogues.
@group(0) @binding(4) var<storage, read_write> y: array<f32>;        // (n_tokens, n_out)
