//! The prefill products: `matmul_tile.wgsl` and `matmul_tile_group.wgsl`
//! (8 tokens a tile in f32) and, on CPU adapters, x quantized to int8
//! (`quantize_x8.wgsl`) for `matmul_tile_q8.wgsl`, whose stores can rotate
//! and cache Q|K|V. [`matmul_batch`] picks one for the adapter. The weights
//! and the params are [`super::matmul`]'s.

use std::rc::Rc;

use super::matmul::{matmul_params, Epilogue, MatmulParams, Weight};
use super::{Dispatch, Grid};
use crate::gpu::{Bind, Gpu, Pipeline, PipelineKey, UNIFORM_VIEW};
use crate::ops::RopeParams;
use crate::shaders::Kernel;

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
