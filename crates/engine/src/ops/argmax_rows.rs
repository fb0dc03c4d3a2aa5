//! `argmax_rows.wgsl`: each row's greedy token, for checking drafted tokens.

use super::{Dispatch, Grid};
use crate::gpu::{Gpu, PipelineKey};
use crate::shaders::Kernel;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ArgmaxParams {
    pub vocab: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// out (n_tokens,) = argmax of each row of `logits` (n_tokens, vocab), the
/// lowest id winning a tie: the token the greedy sampler would take.
pub fn argmax_rows(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    vocab: u32,
    logits: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Dispatch {
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::ArgmaxRows));
    let params = ArgmaxParams {
        vocab,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    Dispatch::new(
        gpu,
        "argmax_rows",
        pipeline,
        step,
        &params,
        &[logits, out],
        Grid::PerToken,
    )
}
