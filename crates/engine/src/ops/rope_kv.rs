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
    /// The query and key norms' epsilon, for the kernels that take those
    /// norms as they rotate ([`rope_split_normed`], [`rope_kv_normed`]);
    /// the others ignore it.
    pub norm_eps: f32,
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

/// Heads the normed kernels take at most (`rope_norms.wgsl`'s MAX_NORMED).
const MAX_NORMED_HEADS: u32 = 64;

/// [`rope_split`] with the query and key norms taken first
/// (`rope_split_normed.wgsl`): every query head normed by `q_w`, every key
/// head by `k_w` (head_dim,), with `params.norm_eps`. The twin of
/// [`crate::ops::head_norm`] on the query heads and on the key heads, then
/// [`rope_split`]: one launch where they are three. `None` past 64 query
/// and key heads.
#[allow(clippy::too_many_arguments)]
pub fn rope_split_normed(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: RopeParams,
    qkv: &wgpu::Buffer,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    q_w: &wgpu::Buffer,
    k_w: &wgpu::Buffer,
) -> Option<Dispatch> {
    if params.n_head + params.n_kv > MAX_NORMED_HEADS {
        return None;
    }
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::RopeSplitNormed));
    Some(Dispatch::new(
        gpu,
        "rope_split_normed",
        pipeline,
        step,
        &params,
        &[qkv, q, k_cache, v_cache, q_w, k_w],
        Grid::PerToken,
    ))
}

/// [`rope_kv`] with the query and key norms taken first
/// (`rope_kv_normed.wgsl`), `bufs` as [`rope_kv`]'s: the twin of
/// [`crate::ops::head_norm`] on q and on k, then [`rope_kv`]. `None` past
/// 64 query and key heads.
pub fn rope_kv_normed(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: RopeParams,
    bufs: [&wgpu::Buffer; 5],
    q_w: &wgpu::Buffer,
    k_w: &wgpu::Buffer,
) -> Option<Dispatch> {
    if params.n_head + params.n_kv > MAX_NORMED_HEADS {
        return None;
    }
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::RopeKvNormed));
    let [q, k, v, k_cache, v_cache] = bufs;
    Some(Dispatch::new(
        gpu,
        "rope_kv_normed",
        pipeline,
        step,
        &params,
        &[q, k, v, k_cache, v_cache, q_w, k_w],
        Grid::PerToken,
    ))
}
