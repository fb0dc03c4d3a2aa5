//! `silu_mul.wgsl`: the feed-forward gate, g = silu(g) · u or gelu(g) · u.

use super::{Dispatch, Grid};
use crate::gpu::{Gpu, PipelineKey};
use crate::shaders::Kernel;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SiluMulParams {
    pub n_ff: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// g (n_tokens, n_ff) = silu(g) · u, or with `gelu` gelu(g) · u.
pub fn silu_mul(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    g: &wgpu::Buffer,
    u: &wgpu::Buffer,
    n_ff: u32,
    gelu: bool,
) -> Dispatch {
    let epilogue = if gelu { 3 } else { 2 };
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::SiluMul).with("EPILOGUE", epilogue));
    let params = SiluMulParams {
        n_ff,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    Dispatch::new(
        gpu,
        "silu_mul",
        pipeline,
        step,
        &params,
        &[g, u],
        Grid::Elementwise(n_ff),
    )
}
