//! One Rust file per kernel: its params struct (the same fields, in the same
//! order, as the WGSL struct of the same name), its bind group and its grid.
//! Each constructor runs at load time and returns a [`Dispatch`]; per token,
//! the forward pass only records dispatches.

mod argmax_rows;
mod attention;
mod embed;
mod head_norm;
mod kv_mirror;
mod layer_tail;
mod matmul;
mod matvec;
mod nll;
mod rms_norm;
mod rope_kv;
mod sample;
mod silu_mul;
mod tile;

use std::cell::OnceCell;
use std::rc::Rc;

pub use argmax_rows::{argmax_rows, ArgmaxParams};
pub use attention::{
    attention, attention_lanes, attention_lanes_merged, attention_rows, attention_simple,
    attention_split, lanes_fits, lanes_parts, row_stride, rows_tokens, split_scratch_bytes,
    AttentionParams, RowScratch,
};
pub use embed::{embed, embed_part, EmbedParams};
pub use head_norm::{head_norm, HeadNormParams};
pub use kv_mirror::KvMirror;
pub use layer_tail::{layer_tail, layer_tail_fits, meet_buffer, LayerTail};
pub use matmul::{
    matmul, matmul_params, matmul_with, Epilogue, MatmulParams, Weight, WeightData, Q8_MAX_IN,
};
pub use matvec::{
    ffn_fits, ffn_matvec, ffn_slices, matvec, matvec_adding_parts, matvec_normed, matvec_params,
    matvec_rows, qkv_matvec, qkv_matvec_mirrors, qkv_matvec_parts, FFN_MAX_SLICE,
};
pub use nll::{nll, NllParams};
pub use rms_norm::{rms_norm, rms_norm_add, RmsNormParams};
pub use rope_kv::{rope_kv, rope_kv_normed, rope_split, rope_split_normed, RopeParams};
pub use sample::{sample, SampleParams, MAX_TOP_K, MISSED};
pub use silu_mul::{silu_mul, SiluMulParams};
pub use tile::{
    matmul_batch, matmul_batch_params, matmul_batch_x8, matmul_batch_x8_normed, matmul_tile,
    matmul_tile_group, matmul_tile_q8, matmul_tile_q8_normed, matmul_tile_q8_rope, tile_q8_rows,
    x8_group_bytes, x8_scratch,
};

use crate::gpu::{bind_group, Bind, Gpu, Pipeline};

/// The per-forward values every kernel reads (binding 0), written once per
/// submission. Same layout as the WGSL `Step`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Step {
    /// Tokens in this batch (1 when decoding).
    pub n_tokens: u32,
    /// Position of the batch's first token.
    pub pos: u32,
    /// Cached positions after this batch: pos + n_tokens.
    pub kv_len: u32,
    /// Counter for the sampler's random draw.
    pub rng_step: u32,
}

/// Rows per workgroup of the prefill tile kernels (`matmul_tile.wgsl`):
/// 16 lanes of 8 rows.
pub const TILE_ROWS: u32 = 128;

/// How many workgroups a kernel launches, as a function of the batch size.
#[derive(Debug, Clone, Copy)]
pub enum Grid {
    /// One workgroup per token.
    PerToken,
    /// Exactly one workgroup.
    One,
    /// Matmul: `rows` output rows, `rows_per_group` per workgroup (folded
    /// into x·y when past the 65,535 limit of one dimension), 8 tokens per z.
    Matmul {
        rows: u32,
        rows_per_group: u32,
        one_row: bool,
    },
    /// `matmul_tile.wgsl`: [`TILE_ROWS`] rows per workgroup (x), 8 tokens
    /// per workgroup (y).
    Tile { rows: u32 },
    /// `matmul_tile_group.wgsl` and `matmul_tile_q8.wgsl`: one launch per
    /// `per` 8-token groups (workgroups along y), each launch with its own
    /// bind group, of `tile` rows per workgroup ([`TILE_ROWS`], or 96 for
    /// the int8 tile's 12 rows a lane).
    TileGroups { rows: u32, per: u32, tile: u32 },
    /// Attention: (heads, tokens).
    Heads(u32),
    /// Split-KV attention's first launch: (heads, tokens, splits).
    HeadSplits { heads: u32, splits: u32 },
    /// (x, y, one per `tq` tokens): row attention's scores and values.
    TokenGroups { x: u32, y: u32, tq: u32 },
    /// Elementwise over n_tokens × `per_token` values, 256 per workgroup.
    Elementwise(u32),
}

impl Grid {
    pub fn size(self, n_tokens: u32) -> [u32; 3] {
        match self {
            Grid::PerToken => [n_tokens, 1, 1],
            Grid::One => [1, 1, 1],
            Grid::Matmul {
                rows,
                rows_per_group,
                one_row,
            } => {
                let groups = rows.div_ceil(rows_per_group);
                let nt = if one_row { 1 } else { n_tokens };
                let x = groups.min(32768);
                [x, groups.div_ceil(x), nt.div_ceil(8)]
            }
            Grid::Tile { rows } => [rows.div_ceil(TILE_ROWS), n_tokens.div_ceil(8), 1],
            // Each launch; there are n_tokens / 8 of them (see `launches`).
            Grid::TileGroups { rows, per, tile } => {
                [rows.div_ceil(tile), per.min(n_tokens.div_ceil(8)).max(1), 1]
            }
            Grid::Heads(h) => [h, n_tokens, 1],
            Grid::HeadSplits { heads, splits } => [heads, n_tokens, splits],
            Grid::TokenGroups { x, y, tq } => [x, y, n_tokens.div_ceil(tq)],
            Grid::Elementwise(per) => {
                let groups = (n_tokens * per).div_ceil(256);
                let x = groups.min(32768);
                [x, groups.div_ceil(x), 1]
            }
        }
    }

    /// Launches per forward pass over `n_tokens`.
    pub fn launches(self, n_tokens: u32) -> u32 {
        match self {
            Grid::TileGroups { per, .. } => n_tokens.div_ceil(8).div_ceil(per),
            _ => 1,
        }
    }
}

/// A binding kept until its bind group is made ([`Bind`] owning what it
/// binds).
enum Bound {
    Buffer(wgpu::Buffer, u64, Option<u64>),
    Texture(wgpu::TextureView),
}

impl Bound {
    fn from(b: Bind<'_>) -> Bound {
        match b {
            Bind::Buffer(buffer, offset, size) => Bound::Buffer(buffer.clone(), offset, size),
            Bind::Texture(view) => Bound::Texture(view.clone()),
        }
    }

    fn bind(&self) -> Bind<'_> {
        match self {
            Bound::Buffer(buffer, offset, size) => Bind::Buffer(buffer, *offset, *size),
            Bound::Texture(view) => Bind::Texture(view),
        }
    }
}

/// A kernel launch made at load time: pipeline, bind group, grid. The params
/// uniform is kept alive here.
#[derive(Clone)]
pub struct Dispatch {
    pub label: &'static str,
    pipeline: Rc<Pipeline>,
    /// One bind group, or with [`Grid::TileGroups`] one per launch: made
    /// once the pipeline is compiled (see [`Gpu::pipelines_together`]).
    bind_groups: Rc<OnceCell<Box<[wgpu::BindGroup]>>>,
    grid: Grid,
    _params: wgpu::Buffer,
    /// Other uniforms the bind group holds.
    _extra: Vec<wgpu::Buffer>,
}

impl Dispatch {
    /// Builds a launch of `pipeline` with the step uniform at binding 0, the
    /// params uniform at binding 1 and `buffers` from binding 2 on.
    pub(crate) fn new<P: bytemuck::Pod>(
        gpu: &Gpu,
        label: &'static str,
        pipeline: Rc<Pipeline>,
        step: &wgpu::Buffer,
        params: &P,
        buffers: &[&wgpu::Buffer],
        grid: Grid,
    ) -> Dispatch {
        let sized: Vec<(&wgpu::Buffer, Option<u64>)> = buffers.iter().map(|&b| (b, None)).collect();
        Self::new_sized(gpu, label, pipeline, step, params, &sized, grid)
    }

    /// [`Dispatch::new`] where a binding may cover only the first bytes of
    /// its buffer (`Some(n)`).
    pub(crate) fn new_sized<P: bytemuck::Pod>(
        gpu: &Gpu,
        label: &'static str,
        pipeline: Rc<Pipeline>,
        step: &wgpu::Buffer,
        params: &P,
        buffers: &[(&wgpu::Buffer, Option<u64>)],
        grid: Grid,
    ) -> Dispatch {
        let bound: Vec<Bind<'_>> = buffers
            .iter()
            .map(|&(b, size)| Bind::Buffer(b, 0, size))
            .collect();
        Self::new_bound(gpu, label, pipeline, step, params, &bound, grid)
    }

    /// [`Dispatch::new`] with any bindings from binding 2 on (a weight
    /// texture among them).
    pub(crate) fn new_bound<P: bytemuck::Pod>(
        gpu: &Gpu,
        label: &'static str,
        pipeline: Rc<Pipeline>,
        step: &wgpu::Buffer,
        params: &P,
        bindings: &[Bind<'_>],
        grid: Grid,
    ) -> Dispatch {
        let params_buf = gpu.uniform_init(label, bytemuck::bytes_of(params));
        let mut all: Vec<Bind<'_>> = vec![step.into(), (&params_buf).into()];
        all.extend_from_slice(bindings);
        Self::bound(gpu, label, pipeline, vec![all], grid, params_buf.clone())
    }

    /// The dispatch, its bind groups (one a launch, of `bindings`) made
    /// once `pipeline` is compiled.
    fn bound(
        gpu: &Gpu,
        label: &'static str,
        pipeline: Rc<Pipeline>,
        bindings: Vec<Vec<Bind<'_>>>,
        grid: Grid,
        params: wgpu::Buffer,
    ) -> Dispatch {
        let bind_groups = Rc::new(OnceCell::new());
        let owned: Vec<Vec<Bound>> = bindings
            .iter()
            .map(|b| b.iter().map(|&b| Bound::from(b)).collect())
            .collect();
        let (device, p, groups) = (gpu.device.clone(), pipeline.clone(), bind_groups.clone());
        gpu.when_compiled(&pipeline, move || {
            let made: Box<[wgpu::BindGroup]> = owned
                .iter()
                .map(|b| {
                    let b: Vec<Bind<'_>> = b.iter().map(Bound::bind).collect();
                    bind_group(&device, label, p.get(), &b)
                })
                .collect();
            let _ = groups.set(made);
        });
        Dispatch {
            label,
            pipeline,
            bind_groups,
            grid,
            _params: params,
            _extra: Vec::new(),
        }
    }

    /// A launch per `per` 8-token groups (`Grid::TileGroups`): launch i's
    /// bind group has the step uniform at binding 0, `params[i]` at binding
    /// 1 and `groups[i]` from binding 2 on. The params share one uniform
    /// buffer, each at a multiple of the offset alignment.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_groups<P: bytemuck::Pod>(
        gpu: &Gpu,
        label: &'static str,
        pipeline: Rc<Pipeline>,
        step: &wgpu::Buffer,
        params: &[P],
        groups: &[Vec<Bind<'_>>],
        rows: u32,
        per: u32,
        tile: u32,
    ) -> Dispatch {
        let size = std::mem::size_of::<P>() as u64;
        let stride = size.next_multiple_of(gpu.limits.min_uniform_buffer_offset_alignment as u64);
        let mut bytes = vec![0u8; (stride * params.len() as u64) as usize];
        for (i, p) in params.iter().enumerate() {
            let at = i * stride as usize;
            bytes[at..at + size as usize].copy_from_slice(bytemuck::bytes_of(p));
        }
        let params_buf = gpu.uniform_init(label, &bytes);
        let bindings: Vec<Vec<Bind<'_>>> = groups
            .iter()
            .enumerate()
            .map(|(i, buffers)| {
                let mut all = vec![
                    Bind::from(step),
                    Bind::Buffer(&params_buf, i as u64 * stride, Some(size)),
                ];
                all.extend_from_slice(buffers);
                all
            })
            .collect();
        let grid = Grid::TileGroups { rows, per, tile };
        Self::bound(gpu, label, pipeline, bindings, grid, params_buf.clone())
    }

    /// Whether its pipeline is compiled and its bind groups made, so that
    /// it can be recorded (not yet inside [`Gpu::pipelines_together`]).
    pub fn ready(&self) -> bool {
        self.bind_groups.get().is_some()
    }

    /// Its pipeline's key.
    pub fn pipeline_key(&self) -> &crate::gpu::PipelineKey {
        self.pipeline.key()
    }

    /// Launches per forward pass over `n_tokens`.
    pub fn launches(&self, n_tokens: u32) -> u32 {
        self.grid.launches(n_tokens)
    }

    /// Keeps `buffer` (a second uniform of the bind group) alive with it.
    pub(crate) fn keeping(mut self, buffer: wgpu::Buffer) -> Dispatch {
        self._extra.push(buffer);
        self
    }

    /// The params uniform, for kernels whose params change between
    /// generations (the sampler's).
    pub fn params(&self) -> &wgpu::Buffer {
        &self._params
    }

    /// Records this launch (or its launches, one per group) for a batch of
    /// `n_tokens`.
    ///
    /// # Panics
    /// With more tokens than the groups it was built for: a batch larger
    /// than the model's activations, which the forward pass never records.
    ///
    /// Also while its pipeline waits to be compiled (a dispatch built inside
    /// [`Gpu::pipelines_together`] and recorded before it returned).
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        let [x, y, z] = self.grid.size(n_tokens);
        let launches = self.grid.launches(n_tokens) as usize;
        let bind_groups = self
            .bind_groups
            .get()
            .unwrap_or_else(|| panic!("{}: recorded before its pipeline was compiled", self.label));
        assert!(
            launches <= bind_groups.len(),
            "{}: {n_tokens} tokens, bind groups for {}",
            self.label,
            8 * bind_groups.len()
        );
        pass.set_pipeline(self.pipeline.get());
        for bind_group in &bind_groups[..launches] {
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(x, y, z);
        }
    }
}
