//! `matmul.wgsl`: y = W·x (or y += W·x) with W dequantized in the kernel.

use super::{Dispatch, Grid};
use crate::format::quant::GgmlType;
use crate::gpu::{Gpu, PipelineKey};
use crate::shaders::Kernel;

/// A weight matrix on the GPU in the padded-block layout of `format::quant`.
pub struct Weight {
    pub buffer: wgpu::Buffer,
    pub ty: GgmlType,
    /// Row length (`ne[0]`).
    pub n_in: u32,
    /// Rows.
    pub n_out: u32,
}

impl Weight {
    /// Bytes the kernels read for one pass over the whole matrix.
    pub fn gpu_bytes(&self) -> u64 {
        self.buffer.size()
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    pub n_in: u32,
    pub n_out: u32,
    pub one_row: u32,
    pub accumulate: u32,
}

/// y (n_tokens, n_out) = W (n_out, n_in) · x (n_tokens, n_in); with
/// `one_row` only the first row of x is used (the output head in decode);
/// with `accumulate`, y += W·x (the residual add, fused).
pub fn matmul(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    one_row: bool,
    accumulate: bool,
) -> Dispatch {
    let code = w.ty.gpu_code().unwrap_or(0);
    let lanes = gpu.matmul_lanes();
    let pipeline = gpu.pipeline(
        &PipelineKey::new(Kernel::Matmul)
            .with("QTYPE", code)
            .with("LANES", lanes),
    );
    let params = MatmulParams {
        n_in: w.n_in,
        n_out: w.n_out,
        one_row: one_row as u32,
        accumulate: accumulate as u32,
    };
    Dispatch::new(
        gpu,
        "matmul",
        pipeline,
        step,
        &params,
        &[&w.buffer, x, y],
        Grid::Matmul {
            rows: w.n_out,
            rows_per_group: 64 / lanes,
            one_row,
        },
    )
}
