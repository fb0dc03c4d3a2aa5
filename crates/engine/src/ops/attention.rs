//! Causal grouped-query attention over the KV cache: `attention_vec4.wgsl`,
//! and its simple twin `attention.wgsl`, the reference it is tested against
//! and the kernel for head sizes the fast one does not take; for decode at
//! long contexts, split-KV attention (`attention_split.wgsl` then
//! `attention_merge.wgsl`), the same sums spread over more workgroups; and
//! for CPU adapters row attention (`attention_rows.wgsl`: scores, softmax,
//! values), three launches that read each K and V row once per group of
//! query tokens.

use super::{Dispatch, Grid, KvMirror};
use crate::gpu::{Bind, Gpu, PipelineKey, UNIFORM_VIEW};
use crate::shaders::{Kernel, WeightStore};

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
    /// Floats per score row of row attention: the context rounded up to 4
    /// ([`row_stride`]); unused by the other kernels.
    pub stride: u32,
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
    let part = Dispatch::new(
        gpu,
        "attention",
        gpu.pipeline(
            &PipelineKey::new(Kernel::AttentionPart)
                .with("HD", params.head_dim)
                .with("SPLITS", splits),
        ),
        step,
        &params,
        &[q, k_cache, v_cache, parts],
        Grid::HeadSplits {
            heads: params.n_head,
            splits,
        },
    );
    Some([part, merge(gpu, step, params, splits, parts, out)])
}

/// The launch that combines `n_parts` partial results a head
/// (`attention_merge.wgsl`), split attention's and lane attention's second.
fn merge(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: AttentionParams,
    n_parts: u32,
    parts: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Dispatch {
    Dispatch::new(
        gpu,
        "attention merge",
        gpu.pipeline(
            &PipelineKey::new(Kernel::AttentionMerge)
                .with("HD", params.head_dim)
                .with("SPLITS", n_parts),
        ),
        step,
        &params,
        &[parts, out],
        Grid::Heads(params.n_head),
    )
}

/// Lanes per workgroup of `attention_lanes.wgsl` (its `LANES`).
const LANES: u32 = 8;

/// The query heads a lane of [`attention_lanes`] keeps sums for, times
/// the head size in vec4s, at most this.
const LANES_SUMS: u32 = 64;

/// Whether [`attention_lanes`] takes this shape and `n_tokens` query
/// tokens: a head size that is a multiple of 4, at most 8 query heads per
/// KV head whose sums (`GROUP` · `head_dim` / 4 vec4s) a lane can keep, and
/// queries that fit the uniform view it reads them through.
pub fn lanes_fits(params: &AttentionParams, n_tokens: u32) -> bool {
    let hd4 = params.head_dim / 4;
    let group = params.n_head / params.n_kv.max(1);
    params.head_dim.is_multiple_of(4)
        && hd4 > 0
        && params.n_kv > 0
        && params.n_head.is_multiple_of(params.n_kv)
        && (1..=8).contains(&group)
        && group * hd4 <= LANES_SUMS
        && n_tokens as u64 * params.n_head as u64 * params.head_dim as u64 * 4 <= UNIFORM_VIEW
}

/// Parts per head [`attention_lanes`] leaves for the merge with `splits`
/// workgroups per KV head: size its scratch with
/// [`split_scratch_bytes`]`(.., lanes_parts(splits), ..)`.
pub fn lanes_parts(splits: u32) -> u32 {
    splits * LANES
}

/// [`attention`] for CPU adapters, one cached position to a SIMD lane
/// (`attention_lanes.wgsl`, then `attention_merge.wgsl`): `splits`
/// workgroups per KV head, each lane folding its positions into its own
/// running softmax, then one workgroup per head merging the parts. `q`
/// must be readable as a uniform ([`Gpu::activation`]) and `parts`
/// [`split_scratch_bytes`]`(n_head, head_dim, `[`lanes_parts`]`(splits),
/// n_tokens)` long. `None` for shapes it does not take (see
/// [`lanes_fits`], here for one token). With `mirror`, K and V are read
/// from the cache's mirror (`attention_kv_mirror.wgsl`), which must hold
/// every row the buffers do.
#[allow(clippy::too_many_arguments)]
pub fn attention_lanes(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: AttentionParams,
    splits: u32,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    mirror: Option<&KvMirror>,
    parts: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Option<[Dispatch; 2]> {
    if !lanes_fits(&params, 1) || splits == 0 || q.size() < UNIFORM_VIEW {
        return None;
    }
    let bufs = [q, k_cache, v_cache, parts];
    let lanes = lanes_launch(gpu, step, params, splits, false, bufs, mirror);
    Some([
        lanes,
        merge(gpu, step, params, lanes_parts(splits), parts, out),
    ])
}

/// [`attention_lanes`] in one launch: one workgroup per KV head, whose
/// lanes' parts it merges itself into `out` (`MERGE = 1`), for short
/// contexts, where the merge's launch costs more than its work. `None` for
/// shapes lane attention does not take.
#[allow(clippy::too_many_arguments)]
pub fn attention_lanes_merged(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: AttentionParams,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    mirror: Option<&KvMirror>,
    out: &wgpu::Buffer,
) -> Option<Dispatch> {
    if !lanes_fits(&params, 1) || q.size() < UNIFORM_VIEW {
        return None;
    }
    let bufs = [q, k_cache, v_cache, out];
    Some(lanes_launch(gpu, step, params, 1, true, bufs, mirror))
}

/// `attention_lanes.wgsl` over `splits` workgroups per KV head, writing its
/// lanes' parts to `dest`, or, `merged` (one split), their merge; K and V
/// from the buffers, or from `mirror`.
fn lanes_launch(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: AttentionParams,
    splits: u32,
    merged: bool,
    [q, k_cache, v_cache, dest]: [&wgpu::Buffer; 4],
    mirror: Option<&KvMirror>,
) -> Dispatch {
    let mut key = PipelineKey::new(Kernel::AttentionLanes)
        .with("HD", params.head_dim)
        .with("GROUP", params.n_head / params.n_kv)
        .with("SPLITS", splits);
    key.variant.attention_v_loop = gpu.attention_v_loop();
    if let Some(m) = mirror {
        key.variant.kv_mirror = true;
        key = key.with("MIRROR_POSITIONS", m.positions());
    }
    let [k, v] = match mirror {
        Some(m) => m.views().map(Bind::Texture),
        None => [k_cache.into(), v_cache.into()],
    };
    let (label, key) = match merged {
        true => ("attention lanes merged", key.with("MERGE", 1)),
        false => ("attention lanes", key),
    };
    Dispatch::new_bound(
        gpu,
        label,
        gpu.pipeline(&key),
        step,
        &params,
        &[Bind::Buffer(q, 0, Some(UNIFORM_VIEW)), k, v, dest.into()],
        Grid::HeadSplits {
            heads: params.n_kv,
            splits,
        },
    )
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

/// Workgroups along the positions in row attention's scores launch: enough
/// to keep a CPU's cores busy when a token's 256-position chunks are few.
const ROW_CHUNKS: u32 = 8;

/// The scratch of row attention, shared by every layer: the score rows
/// (`max_tokens` × n_head rows of `stride` floats) and each row's 1 / Σ weights.
pub struct RowScratch {
    pub scores: wgpu::Buffer,
    pub inv_sum: wgpu::Buffer,
}

/// Floats per score row for a context of `ctx` positions.
pub fn row_stride(ctx: u32) -> u32 {
    ctx.next_multiple_of(4)
}

impl RowScratch {
    /// The scratch for batches of up to `max_tokens` tokens over a context
    /// of `ctx` positions.
    pub fn new(gpu: &Gpu, n_head: u32, ctx: u32, max_tokens: u32) -> RowScratch {
        let rows = max_tokens as u64 * n_head as u64;
        RowScratch {
            scores: gpu.storage("attention scores", rows * row_stride(ctx) as u64 * 4),
            inv_sum: gpu.storage("attention sums", rows * 4),
        }
    }
}

/// Query tokens per workgroup row attention takes with `n_head` / `n_kv`
/// query heads a KV head, at most `want` and at most 16 (token, head) rows
/// a workgroup (more and lavapipe spills the sums: the values launch at
/// 24 rows took 6.0 ms where 15 took 1.35, `scripts/lab_attention.py`):
/// `None` where it takes no such shape (a head size that is not a multiple
/// of 4 whose quarter divides 64, or more than 16 query heads per KV head).
pub fn rows_tokens(params: &AttentionParams, want: u32) -> Option<u32> {
    let hd4 = params.head_dim / 4;
    let group = params.n_head / params.n_kv.max(1);
    let shape_ok = params.head_dim.is_multiple_of(4)
        && hd4 > 0
        && 64 % hd4 == 0
        && params.n_kv > 0
        && params.n_head.is_multiple_of(params.n_kv)
        && (1..=16).contains(&group);
    shape_ok.then(|| want.clamp(1, 16 / group))
}

/// [`attention`] as row attention's three launches (scores, softmax,
/// values), `tq` query tokens to a workgroup (see [`rows_tokens`]), with
/// `params.stride` = [`row_stride`] of the context `scratch` was made for.
/// `None` for shapes it does not take.
#[allow(clippy::too_many_arguments)]
pub fn attention_rows(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    params: AttentionParams,
    tq: u32,
    q: &wgpu::Buffer,
    k_cache: &wgpu::Buffer,
    v_cache: &wgpu::Buffer,
    scratch: &RowScratch,
    out: &wgpu::Buffer,
) -> Option<[Dispatch; 3]> {
    if rows_tokens(&params, tq)? != tq || !params.stride.is_multiple_of(4) {
        return None;
    }
    let group = params.n_head / params.n_kv;
    // The scores kernel's queries go by subgroup broadcast where the
    // adapter has subgroups of 8 (its 64 lanes fill them).
    let key = |kernel| {
        PipelineKey::new(kernel)
            .variant(gpu.variant(kernel, WeightStore::Buffer, false))
            .with("HD", params.head_dim)
            .with("GROUP", group)
            .with("TQ", tq)
    };
    let scores = Dispatch::new(
        gpu,
        "attention scores",
        gpu.pipeline(&key(Kernel::AttentionScores).with("CHUNKS", ROW_CHUNKS)),
        step,
        &params,
        &[q, k_cache, &scratch.scores],
        Grid::TokenGroups {
            x: ROW_CHUNKS,
            y: params.n_kv,
            tq,
        },
    );
    let softmax = Dispatch::new(
        gpu,
        "attention softmax",
        gpu.pipeline(&key(Kernel::AttentionSoftmax)),
        step,
        &params,
        &[&scratch.scores, &scratch.inv_sum],
        Grid::Heads(params.n_head),
    );
    let values = Dispatch::new(
        gpu,
        "attention values",
        gpu.pipeline(&key(Kernel::AttentionValues)),
        step,
        &params,
        &[&scratch.scores, v_cache, &scratch.inv_sum, out],
        Grid::TokenGroups {
            x: params.n_kv,
            y: 1,
            tq,
        },
    );
    Some([scores, softmax, values])
}
