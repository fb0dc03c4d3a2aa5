//! `head_norm.wgsl`: the query/key norms, each head normed in place.

use super::{Dispatch, Grid};
use crate::gpu::{Gpu, PipelineKey};
use crate::shaders::Kernel;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct HeadNormParams {
    /// Values per token in y.
    pub stride: u32,
    /// Where token 0's first head starts.
    pub offset: u32,
    pub n_heads: u32,
    pub head_dim: u32,
    pub eps: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Norms `n_heads` heads of `head_dim` values per token of `y` in place,
/// each by `w` (head_dim,): token t's heads start at y[t · stride + offset].
pub fn head_norm(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &wgpu::Buffer,
    y: &wgpu::Buffer,
    params: HeadNormParams,
) -> Dispatch {
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::HeadNorm));
    Dispatch::new(
        gpu,
        "head_norm",
        pipeline,
        step,
        &params,
        &[w, y],
        Grid::Heads(params.n_heads),
    )
}
