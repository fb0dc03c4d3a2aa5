//! Causal grouped-query attention over the KV cache: `attention_vec4.wgsl`,
//! and its simple twin `attention.wgsl`, the reference it is tested against
//! and the kernel for head sizes the fast one does not take.

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

/// out (n_tokens, n_head, hd) = softmax(q·Kᵀ·scale) · V over cached
/// positions, with the fast kernel where the head size allows (a multiple of
/// 4, at most 256).
pub fn attention(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: AttentionParams,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Dispatch {
    let fast = params.head_dim.is_multiple_of(4) && params.head_dim <= 256;
    let kernel = if fast {
        Kernel::AttentionVec4
    } else {
        Kernel::Attention
    };
    launch(gpu, kernel, step, params, [q, k_cache, v_cache, out])
}

/// [`attention`] with the simple kernel, the reference.
pub fn attention_simple(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: AttentionParams,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Dispatch {
    launch(
        gpu,
        Kernel::Attention,
        step,
        params,
        [q, k_cache, v_cache, out],
    )
}

fn launch(
    gpu: &Gpu,
    kernel: Kernel,
    step: &wgpu::Buffer,
    params: AttentionParams,
    [q, k_cache, v_cache, out]: [&wgpu::Buffer; 4],
) -> Dispatch {
    let key = match kernel {
        Kernel::AttentionVec4 => PipelineKey::new(kernel).with("HD", params.head_dim),
        _ => PipelineKey::new(kernel),
    };
    let pipeline = gpu.pipeline(&key);
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
