//! `matmul.wgsl`: y = W·x (or y += W·x) with W dequantized in the kernel.

use std::rc::Rc;

use super::{Dispatch, Grid};
use crate::format::quant::GgmlType;
use crate::gpu::{Bind, Gpu, Pipeline, PipelineKey, UNIFORM_VIEW};
use crate::ops::{KvMirror, RopeParams};
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
    /// The fused feed-forward's partial sums ([`ffn_matvec`]) that the
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

/// Rows of W per invocation of `matvec.wgsl` and `qkv_matvec.wgsl`.
pub const MATVEC_ROWS: u32 = 16;

/// Lanes per workgroup of `matvec.wgsl` and `qkv_matvec.wgsl` (their `WG`).
pub const MATVEC_LANES: u32 = 8;

/// y = W·x for the first row of x only (decode, and the output head).
/// On CPU adapters this is `matvec.wgsl` (sixteen rows per invocation, x read
/// as a uniform); elsewhere, or for rows over 16,384 values, `matmul.wgsl` with
/// `one_row`. `x` must be an activation buffer ([`Gpu::activation`]).
pub fn matvec(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
) -> Dispatch {
    matvec_params(
        gpu,
        step,
        w,
        x,
        y,
        epilogue,
        MatmulParams::new(w, true, epilogue),
    )
}

/// [`matvec`] with its params given (a part's output offset).
pub fn matvec_params(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    params: MatmulParams,
) -> Dispatch {
    if gpu.rows_per_lane() {
        if let Some(d) = matvec_rows_params(gpu, step, w, x, None, y, epilogue, params, None) {
            return d;
        }
    }
    matmul_params(gpu, step, w, x, y, epilogue, params)
}

/// Whether a row of `w`'s inputs fits the 64 KiB uniform view of `x` that
/// the rows-per-lane decode kernels read (and `x` is an activation buffer).
fn fits_uniform_view(w: &Weight, x: &wgpu::Buffer) -> bool {
    w.n_in as u64 * 4 <= UNIFORM_VIEW
        && x.size() >= UNIFORM_VIEW
        && x.usage().contains(wgpu::BufferUsages::UNIFORM)
}

/// `matvec.wgsl` whatever the adapter, or `None` where x does not fit its
/// uniform view (rows over 16,384 values, or `x` not an activation buffer).
pub fn matvec_rows(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
) -> Option<Dispatch> {
    let params = MatmulParams::new(w, true, epilogue);
    matvec_rows_params(gpu, step, w, x, None, y, epilogue, params, None)
}

/// y += W·x + the fused feed-forward's `count` partial sums in `parts`
/// (`matvec.wgsl`'s residual add, [`ffn_matvec`]'s reader): the attention
/// output product of the layer after a fused feed-forward. `None` where
/// [`matvec_rows`] would be.
pub fn matvec_adding_parts(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    parts: &wgpu::Buffer,
    count: u32,
) -> Option<Dispatch> {
    let epilogue = Epilogue::Accumulate;
    let params = MatmulParams::new(w, true, epilogue);
    matvec_rows_params(
        gpu,
        step,
        w,
        x,
        None,
        y,
        epilogue,
        params,
        Some((parts, count)),
    )
}

/// `matvec.wgsl` with the RMS norm of x fused in front: y = W·(x / rms(x) ·
/// g), x being the residual stream, `norm` = (g, eps). `None` where the
/// decode kernels neither share x through subgroups ([`Gpu::x_subgroup`])
/// nor quantize it in workgroup memory ([`Weight::x_q8`]), or
/// x or g do not fit their uniform views (g from [`Gpu::activation`] or
/// any uniform buffer of at least [`UNIFORM_VIEW`] bytes).
#[allow(clippy::too_many_arguments)]
pub fn matvec_normed(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    g: &wgpu::Buffer,
    eps: f32,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
) -> Option<Dispatch> {
    let params = MatmulParams::new(w, true, epilogue);
    matvec_rows_params(gpu, step, w, x, Some((g, eps)), y, epilogue, params, None)
}

/// Whether [`qkv_matvec`] of `w` with input `x` can also write the KV
/// cache's mirror: its textures' bindings (10, 11) follow the fused norm's
/// (9), which the kernel binds only where it can fuse one.
pub fn qkv_matvec_mirrors(gpu: &Gpu, w: &Weight, x: &wgpu::Buffer) -> bool {
    fits_uniform_view(w, x) && fuses_norm(gpu, w)
}

/// Whether the decode kernel for `w` can fuse a norm in front: it shares x
/// through subgroups (x_subgroup.wgsl) or quantizes it (matvec_q8.wgsl),
/// both of which read `norm` from the params and bind g.
fn fuses_norm(gpu: &Gpu, w: &Weight) -> bool {
    gpu.x_subgroup() || w.x_q8(gpu)
}

/// Whether `g` can be a fused norm's weights: a uniform view of 64 KiB, for
/// a kernel that can fuse one ([`fuses_norm`]).
pub(super) fn norm_fits(gpu: &Gpu, w: &Weight, g: &wgpu::Buffer) -> bool {
    fuses_norm(gpu, w)
        && g.size() >= UNIFORM_VIEW
        && g.usage().contains(wgpu::BufferUsages::UNIFORM)
}

/// The bindings after the kernel's own for its fused norm: g, or where no
/// norm is fused x again (the kernels that can fuse one read g either way);
/// none for the others.
fn norm_binding<'a>(
    gpu: &Gpu,
    w: &Weight,
    x: &'a wgpu::Buffer,
    norm: Option<(&'a wgpu::Buffer, f32)>,
) -> Option<Bind<'a>> {
    fuses_norm(gpu, w).then(|| {
        let g = norm.map_or(x, |(g, _)| g);
        Bind::Buffer(g, 0, Some(UNIFORM_VIEW))
    })
}

/// The decode kernels' binding for the fused feed-forward's partial sums:
/// `parts`, or where there are none x again (read-only, and unread with a
/// count of 0).
fn parts_binding<'a>(x: &'a wgpu::Buffer, parts: Option<(&'a wgpu::Buffer, u32)>) -> Bind<'a> {
    parts.map_or(x, |(p, _)| p).into()
}

#[allow(clippy::too_many_arguments)]
fn matvec_rows_params(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    norm: Option<(&wgpu::Buffer, f32)>,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    mut params: MatmulParams,
    parts: Option<(&wgpu::Buffer, u32)>,
) -> Option<Dispatch> {
    if !fits_uniform_view(w, x) || norm.is_some_and(|(g, _)| !norm_fits(gpu, w, g)) {
        return None;
    }
    params.eps = norm.map_or(0.0, |(_, eps)| eps);
    params.norm = norm.is_some() as u32;
    params.epilogue = epilogue.code();
    params.parts = parts.map_or(0, |(_, n)| n);
    // The epilogue and the norm are read from the params: one pipeline for
    // every product of a weight type.
    let key = w
        .key(gpu, Kernel::Matvec)
        .with("QTYPE", w.ty.gpu_code().unwrap_or(0));
    let pipeline = gpu.pipeline(&key);
    // Sixteen rows per invocation (eight gate/up pairs for the gated epilogues).
    let invocations = w.n_out.div_ceil(MATVEC_ROWS);
    Some(Dispatch::new_bound(
        gpu,
        "matvec",
        pipeline,
        step,
        &params,
        &[
            w.data.bind(),
            Bind::Buffer(x, 0, Some(UNIFORM_VIEW)),
            y.into(),
            parts_binding(x, parts),
        ]
        .into_iter()
        .chain(norm_binding(gpu, w, x, norm))
        .collect::<Vec<_>>(),
        Grid::Matmul {
            rows: invocations,
            rows_per_group: MATVEC_LANES,
            one_row: true,
        },
    ))
}

/// Y = W·X over a batch of up to `max_tokens` (prefill): on CPU adapters
/// `matmul_tile_group.wgsl` where x fits its uniform view, else
/// `matmul_tile.wgsl`; `matmul.wgsl` elsewhere.
pub fn matmul_batch(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    max_tokens: u32,
) -> Dispatch {
    let params = MatmulParams::new(w, false, epilogue);
    matmul_batch_params(gpu, step, w, x, y, epilogue, params, max_tokens)
}

/// [`matmul_batch`] for the 4-bit block types with x in int8 where the
/// adapter takes prefill that way ([`Gpu::tile_q8`]) and `x8` is given
/// ([`matmul_tile_q8`]: two dispatches, the quantization and the tiles);
/// else [`matmul_batch`], alone.
#[allow(clippy::too_many_arguments)]
pub fn matmul_batch_x8(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    x8: Option<&wgpu::Buffer>,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    max_tokens: u32,
) -> Vec<Dispatch> {
    let q8 = x8
        .filter(|_| gpu.tile_q8(w.ty))
        .and_then(|x8| matmul_tile_q8(gpu, step, w, x, x8, y, epilogue, max_tokens));
    match q8 {
        Some(ds) => ds.into(),
        None => vec![matmul_batch(gpu, step, w, x, y, epilogue, max_tokens)],
    }
}

/// Y = W·norm(x), norm(x) = x / rms(x) · g with `norm` = (g, eps), over a
/// batch, where the adapter takes `w` in int8 ([`Gpu::tile_q8`]): the norm
/// is fused into x's quantization ([`matmul_tile_q8_normed`]). `None`
/// elsewhere: the caller norms x into a row of its own first.
#[allow(clippy::too_many_arguments)]
pub fn matmul_batch_x8_normed(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    norm: (&wgpu::Buffer, f32),
    x8: Option<&wgpu::Buffer>,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    max_tokens: u32,
) -> Option<Vec<Dispatch>> {
    let x8 = x8.filter(|_| gpu.tile_q8(w.ty) && gpu.fused_prefill_norm())?;
    matmul_tile_q8_normed(gpu, step, w, x, norm, x8, y, epilogue, max_tokens).map(Vec::from)
}

/// [`matmul_batch`] with its params given (a part's output offset).
#[allow(clippy::too_many_arguments)]
pub fn matmul_batch_params(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    params: MatmulParams,
    max_tokens: u32,
) -> Dispatch {
    if gpu.rows_per_lane() {
        let group = gpu
            .tile_groups()
            .then(|| matmul_tile_group_params(gpu, step, w, x, y, epilogue, params, max_tokens))
            .flatten();
        return group.unwrap_or_else(|| matmul_tile_params(gpu, step, w, x, y, epilogue, params));
    }
    matmul_params(gpu, step, w, x, y, epilogue, params)
}

/// `matmul_tile.wgsl` whatever the adapter: tiles of 8 rows × 8 tokens, x
/// from storage, one launch.
pub fn matmul_tile(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
) -> Dispatch {
    let params = MatmulParams::new(w, false, epilogue);
    matmul_tile_params(gpu, step, w, x, y, epilogue, params)
}

fn matmul_tile_params(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    params: MatmulParams,
) -> Dispatch {
    let pipeline = quant_pipeline(gpu, Kernel::MatmulTile, w, epilogue);
    Dispatch::new_bound(
        gpu,
        "matmul_tile",
        pipeline,
        step,
        &params,
        &[w.data.bind(), x.into(), y.into()],
        Grid::Tile { rows: w.n_out },
    )
}

/// `matmul_tile_group.wgsl` whatever the adapter: the same tiles, one
/// launch per 8-token group of up to `max_tokens`, each reading its group's
/// x as a uniform. `None` where that does not fit: rows over 2,048 values,
/// or `x` not an activation buffer ([`Gpu::activation`]) of `max_tokens`.
pub fn matmul_tile_group(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    max_tokens: u32,
) -> Option<Dispatch> {
    let params = MatmulParams::new(w, false, epilogue);
    matmul_tile_group_params(gpu, step, w, x, y, epilogue, params, max_tokens)
}

#[allow(clippy::too_many_arguments)]
fn matmul_tile_group_params(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    params: MatmulParams,
    max_tokens: u32,
) -> Option<Dispatch> {
    // A group's 8 rows of x, and where each group's view starts.
    let group_bytes = 8 * w.n_in as u64 * 4;
    let groups = max_tokens.div_ceil(8).max(1);
    let align = gpu.limits.min_uniform_buffer_offset_alignment as u64;
    let last_view_end = (groups as u64 - 1) * group_bytes + UNIFORM_VIEW;
    let fits = group_bytes <= UNIFORM_VIEW
        && group_bytes.is_multiple_of(align)
        && UNIFORM_VIEW <= gpu.limits.max_uniform_buffer_binding_size
        && x.usage().contains(wgpu::BufferUsages::UNIFORM)
        && last_view_end <= x.size();
    if !fits {
        return None;
    }
    let pipeline = quant_pipeline(gpu, Kernel::MatmulTileGroup, w, epilogue);
    let tiles = GroupViews {
        x,
        group_bytes,
        groups,
        per: 1,
        tile: super::TILE_ROWS,
    };
    Some(tiles.launches(
        gpu,
        "matmul_tile_group",
        pipeline,
        step,
        w,
        &[y.into()],
        params,
    ))
}

/// The launches of a tile kernel that reads its 8-token groups' x as a
/// uniform: `per` groups a launch (workgroups along y), launch i's view
/// starting at group i · `per`, groups `group_bytes` apart.
struct GroupViews<'a> {
    x: &'a wgpu::Buffer,
    group_bytes: u64,
    groups: u32,
    per: u32,
    /// Rows a workgroup.
    tile: u32,
}

impl GroupViews<'_> {
    /// The launches (`Dispatch::new_groups`), each one's params' `token0`
    /// its first group's first token.
    #[allow(clippy::too_many_arguments)]
    fn launches(
        &self,
        gpu: &Gpu,
        label: &'static str,
        pipeline: Rc<Pipeline>,
        step: &wgpu::Buffer,
        w: &Weight,
        outs: &[Bind<'_>],
        params: MatmulParams,
    ) -> Dispatch {
        let n = self.groups.div_ceil(self.per);
        let params: Vec<MatmulParams> = (0..n)
            .map(|i| MatmulParams {
                token0: 8 * self.per * i,
                x_group: (self.group_bytes / 16) as u32,
                ..params
            })
            .collect();
        let bindings: Vec<Vec<Bind<'_>>> = (0..n as u64)
            .map(|i| {
                vec![
                    w.data.bind(),
                    Bind::Buffer(
                        self.x,
                        i * self.per as u64 * self.group_bytes,
                        Some(UNIFORM_VIEW),
                    ),
                ]
                .into_iter()
                .chain(outs.iter().copied())
                .collect()
            })
            .collect();
        Dispatch::new_groups(
            gpu, label, pipeline, step, &params, &bindings, w.n_out, self.per, self.tile,
        )
    }
}

/// Bytes a block of 32 values takes in an 8-token group of the int8 tile's
/// quantized x (`quantize_x8.wgsl`'s layout: 8 tokens' 4 vec4s of pairs,
/// then their (d, Σx) in 4 vec4s).
const X8_BLOCK_BYTES: u64 = 36 * 16;

/// Bytes one 8-token group of `n_in`-value rows takes in the int8 tile's
/// quantized x, rounded up to the uniform offset alignment so that each
/// launch's uniform view (starting at a group) is aligned.
pub fn x8_group_bytes(gpu: &Gpu, n_in: u32) -> u64 {
    let align = gpu.limits.min_uniform_buffer_offset_alignment as u64;
    (n_in as u64 / 32 * X8_BLOCK_BYTES).next_multiple_of(align)
}

/// The buffer the int8 tile's quantized x goes in for batches of up to
/// `max_tokens` tokens of rows up to `n_in` values: storage for
/// `quantize_x8.wgsl` to write, read by each group as a uniform.
pub fn x8_scratch(gpu: &Gpu, n_in: u32, max_tokens: u32) -> wgpu::Buffer {
    let groups = max_tokens.div_ceil(8).max(1) as u64;
    gpu.activation("x8", groups * x8_group_bytes(gpu, n_in))
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct QuantizeParams {
    n_in: u32,
    group_words: u32,
    eps: f32,
    _pad: u32,
}

/// Y = W·X over a batch of up to `max_tokens` (prefill) with x in int8 and
/// the products in 32-bit integers: `quantize_x8.wgsl` quantizes x into
/// `x8` ([`x8_scratch`] for at least these rows and tokens), then
/// `matmul_tile_q8.wgsl` runs one launch per 8-token group, as
/// `matmul_tile_group.wgsl` does in f32. For the 4-bit block types (Q4_0,
/// Q4_1, Q4_K) only, and rows whose group fits a uniform view; `None`
/// otherwise.
#[allow(clippy::too_many_arguments)]
pub fn matmul_tile_q8(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    x8: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    max_tokens: u32,
) -> Option<[Dispatch; 2]> {
    matmul_tile_q8_to(
        gpu,
        step,
        w,
        x,
        None,
        x8,
        TileOut::Y(y),
        epilogue,
        max_tokens,
    )
}

/// [`matmul_tile_q8`] of x's RMS norm, x / rms(x) · g with `norm` = (g,
/// eps): the norm is taken as x is quantized (`quantize_x8_normed`), so
/// Y = W·norm(x) costs the same two dispatches as Y = W·x, where
/// [`crate::ops::rms_norm`] then [`matmul_tile_q8`] (its twin) cost three.
/// `None` where [`matmul_tile_q8`] would be.
#[allow(clippy::too_many_arguments)]
pub fn matmul_tile_q8_normed(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    norm: (&wgpu::Buffer, f32),
    x8: &wgpu::Buffer,
    y: &wgpu::Buffer,
    epilogue: Epilogue,
    max_tokens: u32,
) -> Option<[Dispatch; 2]> {
    matmul_tile_q8_to(
        gpu,
        step,
        w,
        x,
        Some(norm),
        x8,
        TileOut::Y(y),
        epilogue,
        max_tokens,
    )
}

#[allow(clippy::too_many_arguments)]
fn matmul_tile_q8_to(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    norm: Option<(&wgpu::Buffer, f32)>,
    x8: &wgpu::Buffer,
    out: TileOut<'_>,
    epilogue: Epilogue,
    max_tokens: u32,
) -> Option<[Dispatch; 2]> {
    let params = MatmulParams::new(w, false, epilogue);
    let group_bytes = x8_group_bytes(gpu, w.n_in);
    let groups = max_tokens.div_ceil(8).max(1);
    // As many groups a launch as one uniform view holds: fewer launches
    // (on lavapipe each wakes its threads, ~20 µs), and more workgroups a
    // launch to share between the cores (a 576-row product was 5).
    let per = ((UNIFORM_VIEW / group_bytes) as u32).clamp(1, groups);
    let last_view_end = (groups.div_ceil(per) as u64 - 1) * per as u64 * group_bytes + UNIFORM_VIEW;
    let fits = w.ty.nibble_quants()
        && w.n_in.is_multiple_of(32)
        && w.n_in as u64 / 32 * X8_BLOCK_BYTES <= UNIFORM_VIEW
        && UNIFORM_VIEW <= gpu.limits.max_uniform_buffer_binding_size
        && x8.usage().contains(wgpu::BufferUsages::UNIFORM)
        && last_view_end <= x8.size()
        && x.size() >= max_tokens as u64 * w.n_in as u64 * 4;
    if !fits {
        return None;
    }
    let quantize = match norm {
        None => Dispatch::new(
            gpu,
            "quantize_x8",
            gpu.pipeline(&PipelineKey::new(Kernel::QuantizeX8)),
            step,
            &QuantizeParams {
                n_in: w.n_in,
                group_words: (group_bytes / 4) as u32,
                eps: 0.0,
                _pad: 0,
            },
            &[x, x8],
            Grid::Elementwise(w.n_in / 32),
        ),
        Some((g, eps)) => Dispatch::new(
            gpu,
            "quantize_x8_normed",
            gpu.pipeline(&PipelineKey::new(Kernel::QuantizeX8Normed).with("NORM_LANES", 8)),
            step,
            &QuantizeParams {
                n_in: w.n_in,
                group_words: (group_bytes / 4) as u32,
                eps,
                _pad: 0,
            },
            &[x, x8, g],
            Grid::PerToken,
        ),
    };
    // The epilogue comes from the params (see `MatmulParams::epilogue`).
    let rows = tile_q8_rows(gpu, w.n_out, epilogue);
    let kernel = match out {
        TileOut::Y(_) => Kernel::MatmulTileQ8,
        TileOut::Rope { .. } => Kernel::MatmulTileQ8Rope,
    };
    let pipeline = gpu.pipeline(
        &w.key(gpu, kernel)
            .with("QTYPE", w.ty.gpu_code().unwrap_or(0))
            .with("R", rows),
    );
    let tiles = GroupViews {
        x: x8,
        group_bytes,
        groups,
        per,
        tile: 8 * rows,
    };
    let tile = match out {
        TileOut::Y(y) => tiles.launches(
            gpu,
            "matmul_tile_q8",
            pipeline,
            step,
            w,
            &[y.into()],
            params,
        ),
        TileOut::Rope {
            rope,
            q,
            k_cache,
            v_cache,
        } => {
            let rope_buf = gpu.uniform_init("rope", bytemuck::bytes_of(&rope));
            let outs = [q.into(), k_cache.into(), v_cache.into(), (&rope_buf).into()];
            tiles
                .launches(gpu, "matmul_tile_q8_rope", pipeline, step, w, &outs, params)
                .keeping(rope_buf)
        }
    };
    Some([quantize, tile])
}

/// Where the int8 tile stores its rows: y, or rotated into q and the
/// caches ([`matmul_tile_q8_rope`]).
enum TileOut<'a> {
    Y(&'a wgpu::Buffer),
    Rope {
        rope: RopeParams,
        q: &'a wgpu::Buffer,
        k_cache: &'a wgpu::Buffer,
        v_cache: &'a wgpu::Buffer,
    },
}

/// The fused Q|K|V product of a batch, normed as x is quantized
/// ([`matmul_tile_q8_normed`]) and with `rope_split`'s work fused into the
/// tile's stores (`tile_store_rope.wgsl`): each token's Q rows rotated
/// into `q`, its K rows rotated and its V rows into the caches at the
/// step's positions. Two dispatches where the norm, product and split took
/// four. `None` for the neox layout (whose pairs are half a head apart,
/// in two lanes), and where [`matmul_tile_q8`] would be.
#[allow(clippy::too_many_arguments)]
pub fn matmul_tile_q8_rope(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    norm: (&wgpu::Buffer, f32),
    x8: &wgpu::Buffer,
    rope: RopeParams,
    [q, k_cache, v_cache]: [&wgpu::Buffer; 3],
    max_tokens: u32,
) -> Option<[Dispatch; 2]> {
    let shape_ok = rope.neox == 0
        && rope.head_dim.is_multiple_of(8)
        && w.n_out == (rope.n_head + 2 * rope.n_kv) * rope.head_dim;
    if !shape_ok {
        return None;
    }
    let out = TileOut::Rope {
        rope,
        q,
        k_cache,
        v_cache,
    };
    matmul_tile_q8_to(
        gpu,
        step,
        w,
        x,
        Some(norm),
        x8,
        out,
        Epilogue::Store,
        max_tokens,
    )
}

/// Rows a lane of the int8 tile takes for a product of `n_out` rows: 16
/// (a workgroup of 128), or 12 where the rows fill workgroups of 96 and
/// not of 128 (SmolLM2's 576 and 960), whose last workgroup would
/// otherwise compute rows past the end (a quarter or half of it) and
/// store nothing, and where the adapter takes that form
/// ([`Gpu::tile_rows12`]: only when asked for). Gated products keep 16 (their
/// pairs' store takes 8 rows). lavapipe, 64-token batch, the 30 layers'
/// products in three alternated profiles each (`locum bench --profile`):
/// down 64–75 → 58–60 ms, Q|K|V 50–57 → 45–50, output 33–37 → 28–30.
pub fn tile_q8_rows(gpu: &Gpu, n_out: u32, epilogue: Epilogue) -> u32 {
    let twelve = n_out.is_multiple_of(96) && !n_out.is_multiple_of(128) && !epilogue.gated();
    match twelve && gpu.tile_rows12() {
        true => 12,
        false => 16,
    }
}

/// `kernel` compiled for `w`'s weight type and `epilogue` (the QTYPE and
/// EPILOGUE override constants).
fn quant_pipeline(gpu: &Gpu, kernel: Kernel, w: &Weight, epilogue: Epilogue) -> Rc<Pipeline> {
    gpu.pipeline(&quant_key(gpu, kernel, w, epilogue))
}

/// The pipeline key of `kernel` for `w`'s weight type and `epilogue`.
fn quant_key(gpu: &Gpu, kernel: Kernel, w: &Weight, epilogue: Epilogue) -> PipelineKey {
    w.key(gpu, kernel)
        .with("QTYPE", w.ty.gpu_code().unwrap_or(0))
        .with("EPILOGUE", epilogue.code())
}

impl Epilogue {
    /// The kernels' EPILOGUE override value.
    fn code(self) -> u32 {
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

/// The most hidden values one workgroup of [`ffn_matvec`] takes
/// (`ffn_matvec.wgsl`'s MAX_SLICE).
pub const FFN_MAX_SLICE: u32 = 1024;

/// How many workgroups [`ffn_matvec`] splits a feed-forward of `n_ff`
/// hidden values over, and so how many partial sums it writes: the most up
/// to `cores` (one a core, at least two) that leaves each a slice of a
/// multiple of 128 values, up to [`FFN_MAX_SLICE`]; `None` where there is
/// none. Few: every reader of the sums adds them all in.
pub fn ffn_slices(n_ff: u32, cores: u32) -> Option<u32> {
    (1..=cores.max(2)).rev().find(|&k| {
        n_ff.is_multiple_of(k) && (n_ff / k).is_multiple_of(128) && n_ff / k <= FFN_MAX_SLICE
    })
}

/// Whether [`ffn_matvec`] takes this feed-forward over `slices`
/// workgroups: both matrices of one 4-bit type taken in int8
/// ([`Weight::x_q8`]) and kept alike, gate and up interleaved in `gate_up`
/// (2·n_ff × n_embd), `down` n_embd × n_ff with n_ff in slices of a
/// multiple of 128 values up to [`FFN_MAX_SLICE`], and rows of n_embd that
/// fit the uniform view of x.
pub fn ffn_fits(gpu: &Gpu, gate_up: &Weight, down: &Weight, slices: u32) -> bool {
    matches!(gate_up.ty, GgmlType::Q4_0 | GgmlType::Q4_1)
        && gate_up.ty == down.ty
        && gate_up.data.store() == down.data.store()
        && gate_up.x_q8(gpu)
        && down.x_q8(gpu)
        && gate_up.n_out == 2 * down.n_in
        && down.n_out == gate_up.n_in
        && slices > 0
        && down.n_in.is_multiple_of(slices)
        && (down.n_in / slices).is_multiple_of(128)
        && down.n_in / slices <= FFN_MAX_SLICE
        && gate_up.n_in as u64 * 4 <= UNIFORM_VIEW
}

/// A layer's feed-forward block for one token in one launch
/// (`ffn_matvec.wgsl`): the RMS norm of x (the residual stream; `norm` =
/// (g, eps)), the gate/up product and its gated activation (`epilogue`,
/// [`Epilogue::SiluGate`] or [`Epilogue::GeluGate`]), and the down product,
/// whose sums come out as `slices` partial sums (n_embd each, one a
/// workgroup; see [`ffn_slices`]) in `parts` for the next layer's
/// [`qkv_matvec_parts`] and [`matvec_adding_parts`] to add. `None` where
/// [`ffn_fits`] says no, x or g is not an activation buffer, or `parts`
/// is too small.
#[allow(clippy::too_many_arguments)]
pub fn ffn_matvec(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    gate_up: &Weight,
    down: &Weight,
    x: &wgpu::Buffer,
    (g, eps): (&wgpu::Buffer, f32),
    epilogue: Epilogue,
    (parts, slices): (&wgpu::Buffer, u32),
) -> Option<Dispatch> {
    if !ffn_fits(gpu, gate_up, down, slices)
        || !epilogue.gated()
        || !fits_uniform_view(gate_up, x)
        || !norm_fits(gpu, gate_up, g)
        || parts.size() < slices as u64 * down.n_out as u64 * 4
    {
        return None;
    }
    let code = gate_up.ty.gpu_code().unwrap_or(0);
    let key = gate_up.key(gpu, Kernel::FfnMatvec).with("QTYPE", code);
    let pipeline = gpu.pipeline(&key.with("SLICE", down.n_in / slices));
    let mut params = MatmulParams::new(gate_up, true, epilogue);
    params.eps = eps;
    params.norm = 1;
    let down_params = MatmulParams::new(down, true, Epilogue::Store);
    let down_buf = gpu.uniform_init("ffn down params", bytemuck::bytes_of(&down_params));
    let d = Dispatch::new_bound(
        gpu,
        "ffn_matvec",
        pipeline,
        step,
        &params,
        &[
            gate_up.data.bind(),
            Bind::Buffer(x, 0, Some(UNIFORM_VIEW)),
            parts.into(),
            Bind::Buffer(g, 0, Some(UNIFORM_VIEW)),
            down.data.bind(),
            (&down_buf).into(),
        ],
        // One workgroup a slice.
        Grid::Matmul {
            rows: slices * MATVEC_LANES,
            rows_per_group: MATVEC_LANES,
            one_row: true,
        },
    );
    Some(d.keeping(down_buf))
}

/// Q, K and V of one token from the fused Q|K|V matrix `w`, rotated and
/// written to `q` and the caches at the step's position
/// (`qkv_matvec.wgsl`), or `None` where x does not fit its uniform view.
/// With `norm` = (g, eps), x is the residual stream and its RMS norm is
/// fused in front (as [`matvec_normed`]; `None` where that cannot be).
/// With `mirror`, the K and V rows also go into the KV cache's mirror
/// (`kv_mirror_write.wgsl`; `None` where [`qkv_matvec_mirrors`] says no).
#[allow(clippy::too_many_arguments)]
pub fn qkv_matvec(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    norm: Option<(&wgpu::Buffer, f32)>,
    rope: RopeParams,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    mirror: Option<&KvMirror>,
) -> Option<Dispatch> {
    let caches = [q, k_cache, v_cache];
    qkv_matvec_parts(gpu, step, w, x, norm, rope, caches, mirror, None)
}

/// [`qkv_matvec`] of x plus the fused feed-forward's `count` partial sums
/// in `parts` ([`ffn_matvec`]), x being the residual stream short of them:
/// the Q|K|V product of the layer after a fused feed-forward. `[q, k_cache,
/// v_cache]` as for [`qkv_matvec`].
#[allow(clippy::too_many_arguments)]
pub fn qkv_matvec_parts(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    norm: Option<(&wgpu::Buffer, f32)>,
    rope: RopeParams,
    [q, k_cache, v_cache]: [&wgpu::Buffer; 3],
    mirror: Option<&KvMirror>,
    parts: Option<(&wgpu::Buffer, u32)>,
) -> Option<Dispatch> {
    if !fits_uniform_view(w, x)
        || norm.is_some_and(|(g, _)| !norm_fits(gpu, w, g))
        || (mirror.is_some() && !qkv_matvec_mirrors(gpu, w, x))
    {
        return None;
    }
    let code = w.ty.gpu_code().unwrap_or(0);
    let mut key = w.key(gpu, Kernel::QkvMatvec).with("QTYPE", code);
    if let Some(m) = mirror {
        key.variant.kv_mirror = true;
        key = key.with("MIRROR_POSITIONS", m.positions());
    }
    let pipeline = gpu.pipeline(&key);
    let mut params = MatmulParams::new(w, true, Epilogue::Store);
    params.eps = norm.map_or(0.0, |(_, eps)| eps);
    params.norm = norm.is_some() as u32;
    params.parts = parts.map_or(0, |(_, n)| n);
    let rope_buf = gpu.uniform_init("rope", bytemuck::bytes_of(&rope));
    let d = Dispatch::new_bound(
        gpu,
        "qkv_matvec",
        pipeline,
        step,
        &params,
        &[
            w.data.bind(),
            Bind::Buffer(x, 0, Some(UNIFORM_VIEW)),
            q.into(),
            k_cache.into(),
            v_cache.into(),
            (&rope_buf).into(),
            parts_binding(x, parts),
        ]
        .into_iter()
        .chain(norm_binding(gpu, w, x, norm))
        .chain(
            mirror
                .into_iter()
                .flat_map(|m| m.views().map(Bind::Texture)),
        )
        .collect::<Vec<_>>(),
        // Eight rotation pairs (sixteen rows) per invocation.
        Grid::Matmul {
            rows: w.n_out.div_ceil(MATVEC_ROWS),
            rows_per_group: MATVEC_LANES,
            one_row: true,
        },
    );
    Some(d.keeping(rope_buf))
}

#[cfg(test)]
mod tests {
    use super::ffn_slices;

    #[test]
    fn the_feed_forward_takes_a_slice_a_core_of_whole_groups() {
        // SmolLM2's 1,536 hidden values: two slices on two cores (and on
        // one: at least two), six on eight (1,536 / 8 is not a multiple of
        // 128), twelve on sixteen.
        assert_eq!(ffn_slices(1536, 2), Some(2));
        assert_eq!(ffn_slices(1536, 1), Some(2));
        assert_eq!(ffn_slices(1536, 8), Some(6));
        assert_eq!(ffn_slices(1536, 16), Some(12));
        // Slices of at most 1,024 values: 2,048 in two, 4,096 in four.
        assert_eq!(ffn_slices(2048, 2), Some(2));
        assert_eq!(ffn_slices(4096, 2), None);
        assert_eq!(ffn_slices(4096, 4), Some(4));
        // No slice of whole groups of 128.
        assert_eq!(ffn_slices(1000, 4), None);
    }
}
