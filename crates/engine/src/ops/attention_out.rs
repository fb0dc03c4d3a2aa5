//! Decode's attention and its output product in one launch on CPU adapters
//! (`attention_out.wgsl`): one workgroup a KV head, each writing W_o times
//! its own heads' columns of att as a partial sum for the launches after it
//! to add, so that no workgroup waits for another.

use super::{
    lanes_fits, AttentionParams, Dispatch, Epilogue, Grid, KvMirror, MatmulParams, Weight,
};
use crate::format::quant::GgmlType;
use crate::gpu::{Bind, Gpu, UNIFORM_VIEW};
use crate::shaders::Kernel;

/// The columns of att (and of W_o's rows) one workgroup's product reads:
/// whole groups of four blocks (128 values) around a KV head's columns,
/// the most any head needs.
fn window(attn: &AttentionParams) -> u32 {
    let head = attn.n_head / attn.n_kv * attn.head_dim;
    (0..attn.n_kv)
        .map(|h| (h * head + head).div_ceil(128) - h * head / 128)
        .max()
        .unwrap_or(0)
        * 128
}

/// Whether [`attention_out`] takes this attention and output matrix: lane
/// attention in one workgroup a KV head ([`lanes_fits`]), W_o of a 4-bit
/// type taken in int8 ([`Weight::x_q8`]) with rows of the attention's
/// width, and room in `parts` for `first_row` + one partial sum a KV head.
pub fn attention_out_fits(
    gpu: &Gpu,
    attn: &AttentionParams,
    wo: &Weight,
    parts: &wgpu::Buffer,
    first_row: u32,
) -> bool {
    lanes_fits(attn, 1)
        && matches!(wo.ty, GgmlType::Q4_0 | GgmlType::Q4_1)
        && wo.x_q8(gpu)
        && wo.n_in == attn.n_head * attn.head_dim
        && wo.n_in.is_multiple_of(32)
        && parts.size() >= (first_row + attn.n_kv) as u64 * wo.n_out as u64 * 4
}

/// att = attention(q, K, V) for one token (as
/// [`super::attention_lanes_merged`], written to `att`), then for each KV
/// head h, W_o · (att's columns of h's query heads, zeros elsewhere) into
/// row `first_row + h` of `parts` (rows of n_embd f32s): W_o · att is their
/// sum. The launches after it add the rows in (`ffn_matvec.wgsl`'s `x_at`
/// with its params' `parts`, `qkv_matvec.wgsl`'s). `None` where
/// [`attention_out_fits`] says no.
#[allow(clippy::too_many_arguments)]
pub fn attention_out(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    attn: AttentionParams,
    [q, k_cache, v_cache]: [&wgpu::Buffer; 3],
    mirror: Option<&KvMirror>,
    att: &wgpu::Buffer,
    wo: &Weight,
    (parts, first_row): (&wgpu::Buffer, u32),
) -> Option<Dispatch> {
    if !attention_out_fits(gpu, &attn, wo, parts, first_row) || q.size() < UNIFORM_VIEW {
        return None;
    }
    let code = wo.ty.gpu_code().unwrap_or(0);
    let mut key = wo
        .key(gpu, Kernel::AttentionOut)
        .with("QTYPE", code)
        .with("HD", attn.head_dim)
        .with("GROUP", attn.n_head / attn.n_kv)
        .with("SPLITS", 1)
        .with("MERGE", 1);
    key.variant.attention_v_loop = gpu.attention_v_loop();
    if let Some(m) = mirror {
        key.variant.kv_mirror = true;
        key = key.with("MIRROR_POSITIONS", m.positions());
    }
    let [k, v] = match mirror {
        Some(m) => m.views().map(Bind::Texture),
        None => [k_cache.into(), v_cache.into()],
    };
    let mut params = MatmulParams::new(wo, true, Epilogue::Store);
    params.n_in = window(&attn);
    params.y_offset = first_row * wo.n_out;
    params.y_stride = wo.n_out;
    let params_buf = gpu.uniform_init("attention out params", bytemuck::bytes_of(&params));
    let d = Dispatch::new_bound(
        gpu,
        "attention_out",
        gpu.pipeline(&key),
        step,
        &attn,
        &[
            Bind::Buffer(q, 0, Some(UNIFORM_VIEW)),
            k,
            v,
            att.into(),
            wo.data.bind(),
            (&params_buf).into(),
            parts.into(),
        ],
        Grid::HeadSplits {
            heads: attn.n_kv,
            splits: 1,
        },
    );
    Some(d.keeping(params_buf))
}

#[cfg(test)]
mod tests {
    use super::{window, AttentionParams};

    fn attn(n_head: u32, n_kv: u32, head_dim: u32) -> AttentionParams {
        AttentionParams {
            n_head,
            n_kv,
            head_dim,
            window: 0,
            scale: 1.0,
            stride: 0,
            _pad1: 0,
            _pad2: 0,
        }
    }

    #[test]
    fn the_window_covers_every_heads_groups_of_four_blocks() {
        // SmolLM2: three KV heads of 192 columns; the middle one spans
        // columns 192..384, groups 1 and 2 (128..384).
        assert_eq!(window(&attn(9, 3, 64)), 256);
        // Heads of 128 aligned to the groups: one group each.
        assert_eq!(window(&attn(8, 4, 64)), 128);
        // One KV head of 256 columns: two groups.
        assert_eq!(window(&attn(4, 1, 64)), 256);
    }
}
