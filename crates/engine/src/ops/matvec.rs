//! The decode products on CPU adapters: `matvec.wgsl` (rows per lane, x
//! from a uniform, by subgroup broadcast or in int8), `qkv_matvec.wgsl`
//! (Q|K|V with the rotation and the KV cache's write at its end) and
//! `ffn_matvec.wgsl` (the whole feed-forward in one launch). The weights and
//! the params are [`super::matmul`]'s.

use super::matmul::{matmul_params, Epilogue, MatmulParams, Weight};
use super::{Dispatch, Grid};
use crate::format::quant::GgmlType;
use crate::gpu::{Bind, Gpu, UNIFORM_VIEW};
use crate::ops::{KvMirror, RopeParams};
use crate::shaders::Kernel;

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
