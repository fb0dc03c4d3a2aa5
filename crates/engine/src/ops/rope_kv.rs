//! `rope_kv.wgsl`: rotary embedding of Q and K, and the KV-cache write.

use super::{Dispatch, Grid};
use crate::gpu::{Gpu, PipelineKey};
use crate::shaders::Kernel;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RopeParams {
    pub n_head: u32,
    pub n_kv: u32,
    pub head_dim: u32,
    pub rope_dim: u32,
    pub base: f32,
    /// 0: adjacent pairs (llama); 1: halves (neox: Qwen, Gemma).
    pub neox: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Rotates q (n_tokens, n_head, hd) in place and writes rotated k and plain v
/// (n_tokens, n_kv, hd) into the caches (ctx, n_kv, hd) at rows pos….
pub fn rope_kv(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: RopeParams,
    bufs: [&wgpu::Buffer; 5],
) -> Dispatch {
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::RopeKv));
    Dispatch::new(
        gpu,
        "rope_kv",
        pipeline,
        step,
        &params,
        &bufs,
        Grid::PerToken,
    )
}

/// A batch's fused Q|K|V rows `qkv` (n_tokens, (n_head + 2·n_kv)·head_dim)
/// into `q` (rotated) and the K and V caches (`rope_split.wgsl`).
pub fn rope_split(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: RopeParams,
    qkv: &wgpu::Buffer,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
) -> Dispatch {
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::RopeSplit));
    Dispatch::new(
        gpu,
        "rope_split",
        pipeline,
        step,
        &params,
        &[qkv, q, k_cache, v_cache],
        Grid::PerToken,
    )
}
