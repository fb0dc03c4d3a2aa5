// The feed-forward gate's activation, by the kernel's EPILOGUE: 2 is SiLU
// (llama), 3 GELU in its tanh form (Gemma). Appended to the kernels that
// write gated pairs.

fn silu(a: f32) -> f32 {
    return a / (1.0 + exp(-a));
}

// 0.5·a·(1 + tanh(√(2/π)·(a + 0.044715·a³))); the tanh argument is clamped
// where tanh is ±1 in f32 anyway, so no adapter computes ∞/∞.
fn gelu(a: f32) -> f32 {
    let z = clamp(0.7978846 * (a + 0.044715 * a * a * a), -15.0, 15.0);
    return 0.5 * a * (1.0 + tanh(z));
}

fn gated(g: f32, u: f32) -> f32 {
    if (EPILOGUE == 3u) { return gelu(g) * u; }
    return silu(g) * u;
}
