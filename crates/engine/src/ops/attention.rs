//! `attention.wgsl`: causal grouped-query attention over the KV cache.

use super::{Dispatch, Grid};
use crate::gpu::{Gpu, PipelineKey};
use crate::shaders::Kernel;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AttentionParams {
    pub n_head: u32,
    pub n_kv: u32,
    pub head_dim: u32,
    /// 0: full causal attention; else a sliding window of this many positions.
    pub window: u32,
    /// Multiplies q·k (1/sqrt(head_dim) for llama).
    pub scale: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// out (n_tokens, n_head, hd) = softmax(q·Kᵀ·scale) · V over cached positions.
pub fn attention(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: AttentionParams,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Dispatch {
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::Attention));
    Dispatch::new(
        gpu,
        "attention",
        pipeline,
        step,
        &params,
        &[q, k_cache, v_cache, out],
        Grid::Heads(params.n_head),
    )
}
