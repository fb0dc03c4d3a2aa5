//! `rms_norm.wgsl`: y = x / rms(x) · w, per row.

use super::{Dispatch, Grid};
use crate::gpu::{Gpu, PipelineKey};
use crate::shaders::Kernel;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RmsNormParams {
    pub dim: u32,
    pub eps: f32,
    pub last_only: u32,
    pub _pad: u32,
}

/// Norms every row of x (n_tokens, dim) into y, or with `last_only` the last
/// row into y's row 0. `w` holds dim f32 values.
// Three buffers and three scalars, each named at the call site: a params
// struct would only move the same eight names.
#[allow(clippy::too_many_arguments)]
pub fn rms_norm(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    y: &wgpu::Buffer,
    dim: u32,
    eps: f32,
    last_only: bool,
) -> Dispatch {
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::RmsNorm));
    let params = RmsNormParams {
        dim,
        eps,
        last_only: last_only as u32,
        _pad: 0,
    };
    let grid = if last_only { Grid::One } else { Grid::PerToken };
    Dispatch::new(gpu, "rms_norm", pipeline, step, &params, &[x, w, y], grid)
}
