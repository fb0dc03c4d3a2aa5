//! `sample.wgsl`: greedy, temperature, top-k and top-p sampling on the GPU.

use super::{Dispatch, Grid};
use crate::gpu::{Gpu, PipelineKey};
use crate::shaders::Kernel;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SampleParams {
    pub vocab: u32,
    /// ≤ 0: greedy.
    pub temperature: f32,
    /// Candidates kept, clamped to 1..=64.
    pub top_k: u32,
    /// Nucleus mass in (0, 1].
    pub top_p: f32,
    pub seed: u32,
    /// 1: only tokens allowed by the mask buffer are candidates.
    pub masked: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// The bit `sample.wgsl` sets in its pick where a layer tail's workgroups
/// did not all meet (`layer_tail.wgsl`): the rest is the step's input
/// token, and the step is to be run again without the tails.
pub const MISSED: u32 = 0x8000_0000;

/// The largest top-k the kernel supports.
pub const MAX_TOP_K: u32 = 64;

/// Picks a token from logits (vocab,) into `tokens[0]`. `params` lives in its
/// own uniform, returned so the caller can rewrite it per generation.
/// `mask` (ceil(vocab / 32) u32 words, bit i = token i allowed) is read when
/// `params.masked` is 1: constrained decoding's allowed set. `meet` is the
/// layer tails' meeting counter ([`super::meet_buffer`]; one never written
/// where they do not run): where its flag is set, the pick is the step's
/// input token with [`MISSED`] set.
pub fn sample(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: &SampleParams,
    logits: &wgpu::Buffer,
    tokens: &wgpu::Buffer,
    mask: &wgpu::Buffer,
    meet: &wgpu::Buffer,
) -> Dispatch {
    let pipeline = gpu.pipeline(&PipelineKey::new(Kernel::Sample));
    Dispatch::new(
        gpu,
        "sample",
        pipeline,
        step,
        params,
        &[logits, tokens, mask, meet],
        Grid::One,
    )
}
