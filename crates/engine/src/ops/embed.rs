//! `embed.wgsl`: x[t] = scale · E[tokens[t]].

use super::{Dispatch, Grid, Weight};
use crate::gpu::Gpu;
use crate::shaders::Kernel;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EmbedParams {
    pub dim: u32,
    /// Rows of this table (or part).
    pub vocab: u32,
    pub scale: f32,
    /// The token id of the part's first row.
    pub first_row: u32,
    /// 1: the last part, which also takes ids past the vocabulary (clamped
    /// to its last row).
    pub last: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
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
    embed_part(gpu, step, table, 0, true, tokens, x, scale)
}

/// [`embed`] for one part of a table split by rows, its first row being
/// token `first_row`: tokens of other parts are left to their launches.
#[allow(clippy::too_many_arguments)]
pub fn embed_part(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    table: &Weight,
    first_row: u32,
    last: bool,
    tokens: &wgpu::Buffer,
    x: &wgpu::Buffer,
    scale: f32,
) -> Dispatch {
    let code = table.ty.gpu_code().unwrap_or(0);
    let pipeline = gpu.pipeline(&table.key(gpu, Kernel::Embed).with("QTYPE", code));
    let params = EmbedParams {
        dim: table.n_in,
        vocab: table.n_out,
        scale,
        first_row,
        last: last as u32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    Dispatch::new_bound(
        gpu,
        "embed",
        pipeline,
        step,
        &params,
        &[table.data.bind(), tokens.into(), x.into()],
        Grid::PerToken,
    )
}
