//! `nll.wgsl`: per-token negative log-likelihood, for perplexity.

use super::{Dispatch, Grid};
use crate::gpu::{Gpu, PipelineKey};
use crate::shaders::Kernel;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NllParams {
    pub vocab: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// `nll (n_tokens,) = logsumexp(logits[t]) − logits[t, targets[t]]`.
pub fn nll(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    vocab: u32,
    logits: &wgpu::Buffer,
    targets: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Dispatch {
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::Nll));
    let params = NllParams {
        vocab,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    Dispatch::new(
        gpu,
        "nll",
        pipeline,
        step,
        &params,
        &[logits, targets, out],
        Grid::PerToken,
    )
}
