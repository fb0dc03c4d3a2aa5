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
    /// 1: y += the normed row (a residual add, fused).
    pub add: u32,
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
    let params = RmsNormParams {
        dim,
        eps,
        last_only: last_only as u32,
        add: 0,
    };
    rms_norm_params(gpu, step, [x, w, y], params)
}

/// y += x / rms(x) · w, every row: a norm on a block's output, added into
/// the residual stream (Gemma's post-attention and post-feed-forward norms).
pub fn rms_norm_add(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    y: &wgpu::Buffer,
    dim: u32,
    eps: f32,
) -> Dispatch {
    let params = RmsNormParams {
        dim,
        eps,
        last_only: 0,
        add: 1,
    };
    rms_norm_params(gpu, step, [x, w, y], params)
}

fn rms_norm_params(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    [x, w, y]: [&wgpu::Buffer; 3],
    params: RmsNormParams,
) -> Dispatch {
    let key = PipelineKey::new(Kernel::RmsNorm).with("WG", rms_norm_lanes(gpu));
    let pipeline = gpu.pipeline(&key);
    let last_only = params.last_only == 1;
    let grid = if last_only { Grid::One } else { Grid::PerToken };
    Dispatch::new(gpu, "rms_norm", pipeline, step, &params, &[x, w, y], grid)
}

/// Threads per row of `rms_norm.wgsl` (its WG): 16 on CPU adapters, where
/// fewer lanes mean fewer barrier rounds between groups of SIMD lanes; 256
/// elsewhere.
fn rms_norm_lanes(gpu: &Gpu) -> u32 {
    match gpu.rows_per_lane() {
        true => 16,
        false => 256,
    }
}
