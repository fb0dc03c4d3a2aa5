//! Causal grouped-query attention over the KV cache: `attention_vec4.wgsl`,
//! and its simple twin `attention.wgsl`, the reference it is tested against
//! and the kernel for head sizes the fast one does not take; for decode at
//! long contexts, split-KV attention (`attention_split.wgsl` then
//! `attention_merge.wgsl`), the same sums spread over more workgroups.

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
    let kernel = if fast(&params) {
        Kernel::AttentionVec4
    } else {
        Kernel::Attention
    };
    launch(gpu, kernel, step, params, [q, k_cache, v_cache, out])
}

/// Whether the vec4 kernel (and so the split one) takes this head size.
fn fast(params: &AttentionParams) -> bool {
    params.head_dim.is_multiple_of(4) && params.head_dim <= 256
}

/// Bytes of the split buffer [`attention_split`] needs for `n_tokens`.
pub fn split_scratch_bytes(n_head: u32, head_dim: u32, splits: u32, n_tokens: u32) -> u64 {
    let per_split = (head_dim / 4 + 1) as u64 * 16;
    n_tokens as u64 * n_head as u64 * splits as u64 * per_split
}

/// [`attention`] as two launches: each of `splits` workgroups per head
/// attends to its run of the positions and writes a partial result to
/// `parts` ([`split_scratch_bytes`] long), then one workgroup per head
/// merges them into `out`. For decode at long contexts, where one
/// workgroup per head leaves most of a GPU idle. `None` for head sizes the
/// vec4 kernel does not take.
#[allow(clippy::too_many_arguments)]
pub fn attention_split(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: AttentionParams,
    splits: u32,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    parts: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Option<[Dispatch; 2]> {
    if !fast(&params) || splits == 0 {
        return None;
    }
    let key = |kernel| {
        PipelineKey::new(kernel)
            .with("HD", params.head_dim)
            .with("SPLITS", splits)
    };
    let part = Dispatch::new(
        gpu,
        "attention",
        gpu.pipeline(&key(Kernel::AttentionPart)),
        step,
        &params,
        &[q, k_cache, v_cache, parts],
        Grid::HeadSplits {
            heads: params.n_head,
            splits,
        },
    );
    let merge = Dispatch::new(
        gpu,
        "attention merge",
        gpu.pipeline(&key(Kernel::AttentionMerge)),
        step,
        &params,
        &[parts, out],
        Grid::Heads(params.n_head),
    );
    Some([part, merge])
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
