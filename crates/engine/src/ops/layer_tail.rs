//! The rest of a decode layer after its Q|K|V product in one launch on
//! lavapipe (`layer_tail.wgsl`): lane attention merged in its workgroup,
//! the attention output product with the residual add, and the fused
//! feed-forward, the launch's workgroups meeting between them.

use super::matmul::q8_blocks;
use super::matvec::{norm_fits, MATVEC_LANES};
use super::{
    ffn_fits, lanes_fits, AttentionParams, Dispatch, Epilogue, Grid, KvMirror, MatmulParams, Weight,
};
use crate::gpu::{Bind, Gpu, UNIFORM_VIEW};
use crate::shaders::Kernel;

/// What one layer's tail reads and writes (see [`layer_tail`]).
pub struct LayerTail<'a> {
    pub attn: AttentionParams,
    /// The queries (from [`crate::gpu::Gpu::activation`], read as a uniform).
    pub q: &'a wgpu::Buffer,
    pub k_cache: &'a wgpu::Buffer,
    pub v_cache: &'a wgpu::Buffer,
    /// Where attention reads K and V from, if not the caches.
    pub mirror: Option<&'a KvMirror>,
    /// Attention's output, the output product's x.
    pub att: &'a wgpu::Buffer,
    pub wo: &'a Weight,
    /// The residual stream, read and written.
    pub x: &'a wgpu::Buffer,
    /// Gate and up interleaved, and down ([`super::ffn_matvec`]'s).
    pub gate_up: &'a Weight,
    pub down: &'a Weight,
    /// The feed-forward norm's weights and epsilon.
    pub ffn_norm: (&'a wgpu::Buffer, f32),
    /// [`Epilogue::SiluGate`] or [`Epilogue::GeluGate`].
    pub gate: Epilogue,
    /// The partial sums: the layer before's (`parts_in` of them, 0 for
    /// none) are added to x, then this layer's (`slices`) written over them.
    pub parts: &'a wgpu::Buffer,
    pub parts_in: u32,
    pub slices: u32,
    /// The launches' meeting counter (see [`meet_buffer`]).
    pub meet: &'a wgpu::Buffer,
}

/// The counter the workgroups of [`layer_tail`]'s launches meet at, and
/// its flag: cleared (its first word) before each step that runs them, and
/// nonzero in its second word once a workgroup gave up waiting.
pub fn meet_buffer(gpu: &Gpu) -> wgpu::Buffer {
    gpu.storage("layer tail meetings", 16)
}

/// Whether [`layer_tail`] takes these matrices and shapes: the fused
/// feed-forward's ([`ffn_fits`]) over `slices` workgroups, lane attention
/// in one workgroup a KV head ([`lanes_fits`]), and an output product of
/// the feed-forward's weight type and store, taken in int8, whose x blocks
/// fit the same workgroup arrays as the feed-forward's.
pub fn layer_tail_fits(gpu: &Gpu, t: &LayerTail<'_>) -> bool {
    let (g, _) = t.ffn_norm;
    ffn_fits(gpu, t.gate_up, t.down, t.slices)
        && t.gate.gated()
        && norm_fits(gpu, t.gate_up, g)
        && lanes_fits(&t.attn, 1)
        && t.q.size() >= UNIFORM_VIEW
        && t.wo.ty == t.gate_up.ty
        && t.wo.data.store() == t.gate_up.data.store()
        && t.wo.x_q8(gpu)
        && q8_blocks(t.wo.n_in) == q8_blocks(t.gate_up.n_in)
        && t.wo.n_in == t.attn.n_head * t.attn.head_dim
        && t.wo.n_out == t.gate_up.n_in
        && t.parts.size() >= t.slices.max(t.parts_in) as u64 * t.wo.n_out as u64 * 4
        && t.meet.size() >= 16
}

/// One layer's tail for one token in one launch of `t.slices` workgroups
/// (`layer_tail.wgsl`): att = attention(q, K, V) (as
/// [`super::attention_lanes_merged`]), x += Σ parts + W_o·att (as
/// [`super::matvec_adding_parts`]), then the feed-forward's partial sums
/// into `parts` (as [`super::ffn_matvec`]). The same values as those three
/// launches. `None` where [`layer_tail_fits`] says no.
/// Its workgroups wait for each other: only for an adapter that runs them
/// all at once ([`Gpu::layer_tail_runs`]).
pub fn layer_tail(gpu: &Gpu, step: &wgpu::Buffer, t: &LayerTail<'_>) -> Option<Dispatch> {
    if !layer_tail_fits(gpu, t) {
        return None;
    }
    let code = t.gate_up.ty.gpu_code().unwrap_or(0);
    let mut key = t
        .gate_up
        .key(gpu, Kernel::LayerTail)
        .with("QTYPE", code)
        .with("SLICE", t.down.n_in / t.slices)
        .with("HD", t.attn.head_dim)
        .with("GROUP", t.attn.n_head / t.attn.n_kv)
        .with("SPLITS", 1)
        .with("MERGE", 1);
    if let Some(tries) = gpu.meet_tries() {
        key = key.with("MEET_TRIES", tries);
    }
    key.variant.attention_v_loop = gpu.attention_v_loop();
    if let Some(m) = t.mirror {
        key.variant.kv_mirror = true;
        key = key.with("MIRROR_POSITIONS", m.positions());
    }
    let [k, v] = match t.mirror {
        Some(m) => m.views().map(Bind::Texture),
        None => [t.k_cache.into(), t.v_cache.into()],
    };
    let mut wo_params = MatmulParams::new(t.wo, true, Epilogue::Accumulate);
    wo_params.parts = t.parts_in;
    let (g, eps) = t.ffn_norm;
    let mut gu_params = MatmulParams::new(t.gate_up, true, t.gate);
    gu_params.eps = eps;
    gu_params.norm = 1;
    let down_params = MatmulParams::new(t.down, true, Epilogue::Store);
    let [wo_buf, gu_buf, down_buf] = [
        ("layer tail output params", &wo_params),
        ("layer tail gate/up params", &gu_params),
        ("layer tail down params", &down_params),
    ]
    .map(|(label, p)| gpu.uniform_init(label, bytemuck::bytes_of(p)));
    let d = Dispatch::new_bound(
        gpu,
        "layer_tail",
        gpu.pipeline(&key),
        step,
        &t.attn,
        &[
            Bind::Buffer(t.q, 0, Some(UNIFORM_VIEW)),
            k,
            v,
            t.att.into(),
            t.wo.data.bind(),
            (&wo_buf).into(),
            t.x.into(),
            t.parts.into(),
            t.gate_up.data.bind(),
            (&gu_buf).into(),
            Bind::Buffer(g, 0, Some(UNIFORM_VIEW)),
            t.down.data.bind(),
            (&down_buf).into(),
            t.meet.into(),
        ],
        // One workgroup a slice of the feed-forward.
        Grid::Matmul {
            rows: t.slices * MATVEC_LANES,
            rows_per_group: MATVEC_LANES,
            one_row: true,
        },
    );
    Some(d.keeping(wo_buf).keeping(gu_buf).keeping(down_buf))
}
