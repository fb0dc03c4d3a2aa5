// The feed-forward gate: g[i] = act(g[i]) · u[i], act SiLU (EPILOGUE 2,
// llama) or GELU (3, Gemma), as gate.wgsl defines them.
//   g, u (n_tokens, n_ff); g is overwritten.

struct Step {
    n_tokens: u32,
    pos: u32,
    kv_len: u32,
    rng_step: u32,
}

struct SiluMulParams {
    n_ff: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: SiluMulParams;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;  // (n_tokens, n_ff)
@group(0) @binding(3) var<storage, read> u: array<f32>;        // (n_tokens, n_ff)

override EPILOGUE: u32 = 2u;

@compute @workgroup_size(256)
fn silu_mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= step.n_tokens * p.n_ff) { return; }
    g[i] = gated(g[i], u[i]);
}
