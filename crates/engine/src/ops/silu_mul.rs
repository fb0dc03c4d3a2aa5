//! `silu_mul.wgsl`: the SwiGLU gate, g = silu(g) · u.

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

/// g (n_tokens, n_ff) = silu(g) · u.
pub fn silu_mul(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    g: &wgpu::Buffer,
    u: &wgpu::Buffer,
    n_ff: u32,
) -> Dispatch {
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::SiluMul));
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
