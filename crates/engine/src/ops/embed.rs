//! `embed.wgsl`: x[t] = scale · E[tokens[t]].

use super::{Dispatch, Grid, Weight};
use crate::gpu::{Gpu, PipelineKey};
use crate::shaders::Kernel;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EmbedParams {
    pub dim: u32,
    pub vocab: u32,
    pub scale: f32,
    pub _pad: u32,
}

/// Looks up each token's row of `table` (vocab, dim) into x (n_tokens, dim).
pub fn embed(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    table: &Weight,
    tokens: &wgpu::Buffer,
    x: &wgpu::Buffer,
    scale: f32,
) -> Dispatch {
    let code = table.ty.gpu_code().unwrap_or(0);
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::Embed).with("QTYPE", code));
    let params = EmbedParams {
        dim: table.n_in,
        vocab: table.n_out,
        scale,
        _pad: 0,
    };
    Dispatch::new(
        gpu,
        "embed",
        pipeline,
        step,
        &params,
        &[&table.buffer, tokens, x],
        Grid::PerToken,
    )
}
