//! `matmul.wgsl`: y = W·x (or y += W·x) with W dequantized in the kernel,
//! the GPUs' product; and what every product shares: [`Weight`], the params
//! ([`MatmulParams`]) and the [`Epilogue`]. The decode products on CPU
//! adapters are in `matvec.rs`, prefill's tiles in `tile.rs`.

use super::{Dispatch, Grid};
use crate::format::quant::GgmlType;
use crate::gpu::{Bind, Gpu, PipelineKey};
use crate::shaders::{Kernel, WeightStore};

/// A weight matrix on the GPU in the padded-block layout of `format::quant`.
pub struct Weight {
    pub data: WeightData,
    pub ty: GgmlType,
    /// Row length (`ne[0]`).
    pub n_in: u32,
    /// Rows.
    pub n_out: u32,
}

/// Where a matrix's bytes live: a storage buffer, or on CPU adapters a
/// texture (`Gpu::weight_textures`) holding the same bytes in texel order,
/// sampled or, on lavapipe, read as a storage texture
/// (`Gpu::weight_storage_textures`).
#[derive(Clone)]
pub enum WeightData {
    Buffer(wgpu::Buffer),
    Texture {
        texture: wgpu::Texture,
        view: wgpu::TextureView,
        /// The matrix's bytes (the texture's last row may be partly padding).
        bytes: u64,
        /// Read as a read-only storage texture, not sampled.
        storage: bool,
    },
}

impl WeightData {
    /// A texture for `bytes` bytes where the adapter wants weights in
    /// textures and one is tall enough, else a storage buffer.
    pub fn allocate(gpu: &Gpu, label: &str, bytes: u64) -> WeightData {
        if gpu.weight_textures() {
            if let Some(data) = WeightData::texture(gpu, label, bytes) {
                return data;
            }
        }
        WeightData::Buffer(gpu.storage(label, bytes))
    }

    /// A texture for `bytes` bytes, read as the adapter reads them best,
    /// or `None` where it would be too tall.
    pub fn texture(gpu: &Gpu, label: &str, bytes: u64) -> Option<WeightData> {
        WeightData::texture_as(gpu, label, bytes, gpu.weight_storage_textures())
    }

    /// A texture for `bytes` bytes, read as a storage texture or sampled.
    pub fn texture_as(gpu: &Gpu, label: &str, bytes: u64, storage: bool) -> Option<WeightData> {
        let texture = gpu.weight_texture(label, bytes, storage)?;
        let view = texture.create_view(&Default::default());
        Some(WeightData::Texture {
            texture,
            view,
            bytes,
            storage,
        })
    }

    /// Bytes it holds.
    pub fn bytes(&self) -> u64 {
        match self {
            WeightData::Buffer(b) => b.size(),
            WeightData::Texture { bytes, .. } => *bytes,
        }
    }

    /// Writes the matrix's bytes (its GPU layout) from the start.
    pub fn write(&self, gpu: &Gpu, data: &[u8]) {
        match self {
            WeightData::Buffer(b) => gpu.queue.write_buffer(b, 0, data),
            WeightData::Texture { texture, .. } => gpu.write_weight_texture(texture, data),
        }
    }

    /// Its binding (binding 2 of the kernels that read weights).
    pub fn bind(&self) -> Bind<'_> {
        match self {
            WeightData::Buffer(b) => b.into(),
            WeightData::Texture { view, .. } => Bind::Texture(view),
        }
    }

    /// How kernels read it.
    pub fn store(&self) -> WeightStore {
        match self {
            WeightData::Buffer(_) => WeightStore::Buffer,
            WeightData::Texture { storage: false, .. } => WeightStore::Texture,
            WeightData::Texture { storage: true, .. } => WeightStore::StorageTexture,
        }
    }
}

impl Weight {
    /// A matrix holding `data` (its GPU layout), where the adapter keeps
    /// weights ([`WeightData::allocate`]).
    pub fn upload(
        gpu: &Gpu,
        label: &str,
        data: &[u8],
        ty: GgmlType,
        n_out: u32,
        n_in: u32,
    ) -> Weight {
        let store = WeightData::allocate(gpu, label, data.len() as u64);
        store.write(gpu, data);
        Weight {
            data: store,
            ty,
            n_in,
            n_out,
        }
    }

    /// Bytes the kernels read for one pass over the whole matrix.
    pub fn gpu_bytes(&self) -> u64 {
        self.data.bytes()
    }

    /// The pipeline key of `kernel` reading this matrix.
    pub fn key(&self, gpu: &Gpu, kernel: Kernel) -> PipelineKey {
        let mut variant = gpu.variant(kernel, self.data.store(), self.x_q8(gpu));
        if variant.x_q8 {
            variant.x_q8_blocks = q8_blocks(self.n_in);
            variant.x_q8_bytes = self.ty == GgmlType::Q8_0;
        }
        PipelineKey::new(kernel).variant(variant)
    }

    /// Whether the decode kernels take this matrix's products in int8
    /// (`matvec_q8.wgsl`): [`Gpu::x_q8`] for its type, and rows whose x fits
    /// the kernel's workgroup memory.
    pub fn x_q8(&self, gpu: &Gpu) -> bool {
        gpu.x_q8(self.ty) && self.n_in <= Q8_MAX_IN
    }
}

/// The longest row `matvec_q8.wgsl` quantizes x for: 256 blocks of 32 in
/// its workgroup memory (10 KiB of the 16 KiB every adapter has).
pub const Q8_MAX_IN: u32 = 8192;

/// The blocks of x `matvec_q8.wgsl`'s workgroup arrays hold for rows of
/// `n_in` values: 64 (2.5 KiB) up to 2,048 values, else 256. Two sizes, not
/// one a row length, so that the products of a model share pipelines (each
/// is about 0.4 s of SwiftShader's compile time at the page's load);
/// browsers zero the arrays for every workgroup, a few µs.
pub(super) fn q8_blocks(n_in: u32) -> u32 {
    match n_in / 32 {
        0..=64 => 64,
        _ => Q8_MAX_IN / 32,
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    pub n_in: u32,
    pub n_out: u32,
    pub one_row: u32,
    pub accumulate: u32,
    /// Token t's output row starts at y[t · y_stride + y_offset].
    pub y_stride: u32,
    pub y_offset: u32,
    /// The first token of the group `matmul_tile_group.wgsl` computes (0
    /// for every other kernel).
    pub token0: u32,
    /// The fused norm's epsilon (`matvec.wgsl` and `qkv_matvec.wgsl` with
    /// `norm` = 1; 0 otherwise).
    pub eps: f32,
    /// The epilogue's code (`Epilogue::code`), for the kernels that read it
    /// at run time rather than as their EPILOGUE override
    /// (`matmul_tile_q8.wgsl` and `matvec.wgsl`: one pipeline for every
    /// epilogue, so one compile fewer for SwiftShader, 0.4–0.6 s each, in
    /// the page's load).
    pub epilogue: u32,
    /// Vec4s from one 8-token group's x to the next in the int8 tile's x
    /// view (`matmul_tile_q8.wgsl`, whose launches take several groups).
    pub x_group: u32,
    /// 1: the decode kernels' input is the RMS norm of x, the residual
    /// stream (`matvec.wgsl`, `qkv_matvec.wgsl`: the norm fused), read at
    /// run time so that products with and without it share a pipeline.
    pub norm: u32,
    /// The fused feed-forward's partial sums ([`ffn_matvec`](super::ffn_matvec)) that the
    /// decode kernels add in: `matvec.wgsl` to the residual in its
    /// accumulating epilogue, `qkv_matvec.wgsl` to its x; 0: none.
    pub parts: u32,
}

impl MatmulParams {
    /// Params for `w` writing `epilogue` into a dense y (n_tokens, outputs).
    pub fn new(w: &Weight, one_row: bool, epilogue: Epilogue) -> MatmulParams {
        let outputs = match epilogue.gated() {
            true => w.n_out / 2,
            false => w.n_out,
        };
        MatmulParams {
            n_in: w.n_in,
            n_out: w.n_out,
            one_row: one_row as u32,
            accumulate: (epilogue == Epilogue::Accumulate) as u32,
            y_stride: outputs,
            y_offset: 0,
            token0: 0,
            eps: 0.0,
            epilogue: epilogue.code(),
            x_group: 0,
            norm: 0,
            parts: 0,
        }
    }

    /// The same, writing into rows `first_row`… of a y `stride` wide: one
    /// part of a matrix split by rows.
    pub fn at(mut self, first_row: u32, stride: u32) -> MatmulParams {
        self.y_offset = first_row;
        self.y_stride = stride;
        self
    }
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
    let epilogue = match accumulate {
        true => Epilogue::Accumulate,
        false => Epilogue::Store,
    };
    matmul_with(gpu, step, w, x, y, one_row, epilogue)
}

/// [`matmul`] with any [`Epilogue`] (the gated ones need an even number of
/// rows in a workgroup: LANES ≤ 32).
pub fn matmul_with(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    one_row: bool,
    epilogue: Epilogue,
) -> Dispatch {
    let params = MatmulParams::new(w, one_row, epilogue);
    matmul_params(gpu, step, w, x, y, epilogue, params)
}

/// [`matmul_with`] with its params given (a part's output offset).
pub fn matmul_params(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    params: MatmulParams,
) -> Dispatch {
    let one_row = params.one_row == 1;
    let code = w.ty.gpu_code().unwrap_or(0);
    let mut lanes = gpu.matmul_lanes();
    if epilogue.gated() {
        lanes = lanes.min(32);
    }
    let pipeline = gpu.pipeline(
        &w.key(gpu, Kernel::Matmul)
            .with("QTYPE", code)
            .with("LANES", lanes)
            .with("EPILOGUE", epilogue.code()),
    );
    Dispatch::new_bound(
        gpu,
        "matmul",
        pipeline,
        step,
        &params,
        &[w.data.bind(), x.into(), y.into()],
        Grid::Matmul {
            rows: w.n_out,
            rows_per_group: 64 / lanes,
            one_row,
        },
    )
}

/// What a decode matrix-vector product writes (`matvec.wgsl`'s EPILOGUE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// y = W·x
    Store,
    /// y += W·x: the residual add, fused.
    Accumulate,
    /// W holds gate and up rows interleaved (2i, 2i+1): `y[i] = silu(gate)·up`.
    SiluGate,
    /// The same with GELU (tanh form): `y[i] = gelu(gate)·up`.
    GeluGate,
}

impl Epilogue {
    /// The kernels' EPILOGUE override value.
    pub(super) fn code(self) -> u32 {
        match self {
            Epilogue::Store => 0,
            Epilogue::Accumulate => 1,
            Epilogue::SiluGate => 2,
            Epilogue::GeluGate => 3,
        }
    }

    /// Whether the rows are gate/up pairs, one output each.
    pub fn gated(self) -> bool {
        matches!(self, Epilogue::SiluGate | Epilogue::GeluGate)
    }
}
