// A launch that does next to nothing (each lane stores one word), for
// `Gpu::launch_cost`: what a launch costs the adapter beyond its work,
// measured with many of them in one pass as a decode step records its
// launches. On a CPU adapter that is the driver waking its worker threads
// and waiting for the last of them.

@group(0) @binding(0) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(8)
fn launch_probe(@builtin(global_invocation_id) id: vec3<u32>) {
    out[id.x] = id.x;
}
