//! The llama forward pass on the GPU, top to bottom.
//!
//! Everything is built in [`Model::load`]: weights, activations, the KV cache,
//! every pipeline and bind group. A forward pass then writes one small
//! uniform (the [`Step`]), records one command encoder and submits it; decode
//! reads back only the sampled token id (4 bytes). The sampled id stays on the
//! GPU too, in `tokens[0]`, where the next step's embedding lookup reads it.
//!
//! Per layer, decoding (7 dispatches, with the converter's fused tensors):
//! ```text
//!   xn = rms_norm(x) · attn_norm                 (T, dim)
//!   q|k|v = Wqkv·xn; rope(q), rope(k) → k_cache;  one launch: the product's end
//!   v → v_cache                                   rotates and caches (qkv_matvec)
//!   att = softmax(q·Kᵀ/√hd)·V                    (T, n_head·hd)
//!   x += Wo·att                                  (T, dim)   residual fused
//!   xn = rms_norm(x) · ffn_norm                  (T, dim)
//!   g = silu(Wg·xn) · (Wu·xn)                    one launch over interleaved gate|up rows
//!   x += Wd·g                                    (T, dim)   residual fused
//! ```
//! A batch (prefill), or an adapter without the rows-per-lane kernels, runs
//! the Q|K|V product into `qkv` and then `rope_split` (8 dispatches); a
//! model whose Q, K, V or gate, up were not fused runs them apart with
//! `rope_kv` and `silu_mul` (12). Prefill on CPU adapters quantizes each
//! product's x to int8 first (`quantize_x8`, a dispatch more a product);
//! the norms before the fused Q|K|V and gate|up products are taken in
//! that quantization (`quantize_x8_normed`), not in launches of their own,
//! and (llama's layout) the Q|K|V tile rotates its rows and writes the
//! caches as it stores them (`ops::matmul_tile_q8_rope`, no `rope_split`):
//! 11 dispatches a layer there (norm-quantize, Q|K|V, three of row
//! attention, quantize, output, norm-quantize, gate|up, quantize, down).
//! Decode past a threshold swaps each
//! layer's attention for a long-context form: on GPUs split-KV attention
//! (`Gpu::attention_splits`), a part launch over (head, split) and a merge,
//! one dispatch more a layer, with each head's positions spread over many
//! workgroups; on CPU adapters lane attention (`Gpu::lane_attention`), a
//! launch where each SIMD lane folds its own cached positions into a running
//! softmax for all of a KV head's query heads, and the merge of the lanes'
//! parts, one dispatch more a layer; for shapes lane attention does not take
//! (Gemma 3's 256-wide heads), row attention (`Gpu::row_attention_from`):
//! scores, softmax and values as three launches, two more a layer, that
//! read each cached K and V row once for all of a KV head's query heads.
//! Below the threshold CPU adapters run lane attention in one launch, each
//! KV head's workgroup merging its lanes itself (`Gpu::lane_attention_merged`).
//! Prefill on CPU adapters runs row attention at every position, each K and
//! V row read once for 8 query tokens.
//! Head: `rms_norm` (last token only when generating), the output matmul
//! (tied to the embedding when the file has no `output.weight`), then either
//! the sampler or, for perplexity, the per-token negative log-likelihood.
//!
//! This file builds the pass ([`Model::load`], the story above in code);
//! `forward/step.rs` runs it (prefill, decode, decode ahead, checks) and
//! `forward/profile.rs` times it for `locum bench --profile`.

use crate::format::manifest::{TensorEntry, MAX_PART_BYTES};
use crate::format::plan;
use crate::generate::Control;
use crate::gpu::{Gpu, PipelineKey};
use crate::model::weights::WeightStore;
use crate::model::{Config, GgufModel};
use crate::ops::{
    self, AttentionParams, Dispatch, Epilogue, HeadNormParams, MatmulParams, RopeParams,
    SampleParams, Step, Weight,
};
use crate::{Error, GgmlType, Result};

mod profile;
mod step;

pub use profile::PassProfile;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sampling {
    /// ≤ 0 means greedy.
    pub temperature: f32,
    /// Candidates kept (1..=64).
    pub top_k: u32,
    /// Nucleus mass (0, 1].
    pub top_p: f32,
    pub seed: u32,
}

impl Sampling {
    pub fn greedy() -> Self {
        Sampling {
            temperature: 0.0,
            top_k: 1,
            top_p: 1.0,
            seed: 0,
        }
    }
}

impl Default for Sampling {
    fn default() -> Self {
        Self::greedy()
    }
}

/// Tokens per prefill batch: activations are sized for this many.
pub const MAX_BATCH: u32 = 64;

/// The most drafted tokens [`Model::verify`] checks in one pass, after the
/// token fed before them: one tile of the batch kernels (eight tokens).
pub const MAX_DRAFT: usize = 7;

/// A model loaded on the GPU, with its KV cache and every launch prepared.
pub struct Model {
    gpu: Gpu,
    pub cfg: Config,
    /// KV-cache capacity in positions.
    pub ctx: u32,
    /// Positions already in the KV cache, counting a step submitted ahead.
    pos: u32,
    /// The tokens whose K and V rows positions 0.. of the cache hold, as
    /// far as they are known: prompts' tokens, fed by prefill. Any other
    /// write at a position (a decode step's token, a profile pass) cuts it
    /// there; rewinding and resetting keep it, since the rows stay until
    /// overwritten. [`Model::reset_keeping`] starts a prompt after the part
    /// of it these rows already hold.
    cached: Vec<u32>,
    rng_step: u32,
    /// Whether the last submitted step was submitted ahead by
    /// [`Model::decode_ahead`], its token not yet asked for; and the token
    /// that step feeds (the last one returned).
    ahead: bool,
    fed_ahead: u32,
    step: wgpu::Buffer,
    tokens: wgpu::Buffer,
    targets: wgpu::Buffer,
    nll_out: wgpu::Buffer,
    logits_last: wgpu::Buffer,
    /// Two, so a step's token can be read back while the step after it
    /// copies its own (see [`Model::decode_ahead`]); `slot` is the next's.
    read_token: [wgpu::Buffer; 2],
    /// The submission that copies into each slot, last.
    read_token_by: [Option<wgpu::SubmissionIndex>; 2],
    slot: usize,
    read_nll: wgpu::Buffer,
    read_logits: wgpu::Buffer,
    /// Embedding and every layer's launches, for a batch of tokens.
    body: Vec<Dispatch>,
    /// The same for one token (decode): the matrix-vector kernels.
    body_decode: Vec<Dispatch>,
    /// Decode with split-KV attention, from `split_from` cached positions
    /// on (empty, and `split_from` u32::MAX, where attention is not split).
    body_decode_long: Vec<Dispatch>,
    split_from: u32,
    /// Final norm (last token), output head, sampler.
    head_sample: Vec<Dispatch>,
    /// Final norm (all tokens), output head, NLL: built by the first
    /// [`Model::nll`] (or profile) from `nll_head`, since generation never
    /// runs it and its launches cost compile time (the head's tile) and
    /// memory (the batch's logits) at load.
    head_nll: Option<Vec<Dispatch>>,
    /// Final norm (all tokens), output head, each row's argmax: built by
    /// the first [`Model::verify`], as `head_nll`.
    head_verify: Option<Vec<Dispatch>>,
    /// Each verified row's greedy token, and its readback.
    verify_out: wgpu::Buffer,
    read_verify: wgpu::Buffer,
    nll_head: NllHead,
    weight_bytes: u64,
    /// The weight buffers, by tensor name, for uploads.
    weights: WeightStore,
    /// The sampler's params as last written.
    sample_params: SampleParams,
    /// The allowed-token bitset the sampler reads when masked.
    mask: wgpu::Buffer,
    /// Each layer's KV mirror with the K and V caches it copies (see
    /// `Gpu::kv_mirror`): empty where lane attention reads the buffers.
    mirrors: Vec<(ops::KvMirror, wgpu::Buffer, wgpu::Buffer)>,
    /// The meeting counter of decode's layer tails (`ops::layer_tail`):
    /// where they run, cleared before each step, which copies its input
    /// token there for the sampler (`ops::MISSED`).
    meet: wgpu::Buffer,
    /// Whether decode runs the layer tails: from the load where they were
    /// built, until a step's workgroups do not all meet.
    tails: bool,
    /// Decode's launches without the tails, where they were built.
    body_decode_apart: Vec<Dispatch>,
    /// Decode steps recorded, and the host's time recording them,
    /// since [`Model::take_host_time`] last took them.
    host_time: (u32, std::time::Duration),
    _keep: Vec<wgpu::Buffer>,
    _weights: Vec<Weight>,
}

impl Model {
    /// Uploads a GGUF held in memory: [`Model::new`] from its plan, then
    /// every tensor's bytes, for a KV cache of `ctx` positions. Natively the
    /// upload runs while the pipelines compile.
    pub fn load(gpu: &Gpu, file: &GgufModel, ctx: u32) -> Result<Model> {
        let cfg = Config::from_gguf(&file.gguf)?;
        let planned = plan::plan(&file.gguf, MAX_PART_BYTES)?;
        let entries: Vec<TensorEntry> = planned.iter().map(|p| p.entry.clone()).collect();
        let mut uploaded = Ok(());
        let upload = |model: &Model| -> Result<()> {
            for p in &planned {
                if model.weights.has(&p.entry.name) {
                    let bytes = plan::tensor_bytes(&file.gguf, file.bytes, p)?;
                    model.upload(&p.entry, &bytes)?;
                }
            }
            Ok(())
        };
        let model = gpu.pipelines_together_later(
            || Model::build(gpu, cfg, &entries, ctx),
            |model| {
                if let Ok(model) = model {
                    uploaded = upload(model);
                }
            },
            Model::later(gpu),
        )?;
        uploaded?;
        model.finish_upload()?;
        Ok(model)
    }

    /// Builds everything for a model of `cfg` whose tensors are `entries`
    /// (GPU layout, as in a manifest): weight buffers still empty,
    /// activations, the KV cache of `ctx` positions (clamped to the model's
    /// training context), every pipeline and bind group. Then
    /// [`Model::upload`] each tensor and call [`Model::finish_upload`].
    ///
    /// The pipelines are compiled together at the end, natively a thread a
    /// core ([`Gpu::pipelines_together`]).
    /// In the browser the pipelines only prefill runs are left to compile
    /// after ([`Gpu::prefill_pipelines_late`]; [`Model::load`] too): before
    /// the first prefill, or when the caller asks ([`Model::compile_late`]).
    pub fn new(gpu: &Gpu, cfg: Config, entries: &[TensorEntry], ctx: u32) -> Result<Model> {
        gpu.pipelines_together_later(
            || Model::build(gpu, cfg, entries, ctx),
            |_| {},
            Model::later(gpu),
        )
    }

    /// Which of a built model's pipelines to leave for later: its
    /// prefill-only ones where the device does ([`Gpu::prefill_pipelines_late`]).
    fn later(gpu: &Gpu) -> impl FnOnce(&Result<Model>) -> Vec<PipelineKey> {
        let late = gpu.prefill_pipelines_late();
        move |m| match (late, m) {
            (true, Ok(m)) => m.prefill_only_pipelines(),
            _ => Vec::new(),
        }
    }

    /// The pipelines of the batch pass, and of the check's head where it is
    /// built, that no decode step runs.
    fn prefill_only_pipelines(&self) -> Vec<PipelineKey> {
        let decode: Vec<&PipelineKey> = (self.body_decode.iter())
            .chain(&self.body_decode_long)
            .chain(&self.body_decode_apart)
            .chain(&self.head_sample)
            .map(Dispatch::pipeline_key)
            .collect();
        let mut only: Vec<PipelineKey> = Vec::new();
        let verify = self.head_verify.iter().flatten();
        for k in self.body.iter().chain(verify).map(Dispatch::pipeline_key) {
            if !decode.contains(&k) && !only.contains(k) {
                only.push(k.clone());
            }
        }
        only
    }

    /// Compiles the pipelines [`Model::new`] left for later, if it left
    /// any (the first prefill does it otherwise); true where it did.
    pub fn compile_late(&self) -> bool {
        self.gpu.compile_late()
    }

    /// Whether some of its pipelines wait for [`Model::compile_late`].
    pub fn has_late_pipelines(&self) -> bool {
        self.gpu.has_late_pipelines()
    }

    fn build(gpu: &Gpu, cfg: Config, entries: &[TensorEntry], ctx: u32) -> Result<Model> {
        let mut file = WeightStore::new(gpu, entries);
        let ctx = ctx.clamp(1, cfg.train_ctx.max(1));
        let (dim, hd, nh, nkv, nff, vocab) = (
            cfg.dim,
            cfg.head_dim,
            cfg.n_head,
            cfg.n_kv_head,
            cfg.n_ff,
            cfg.vocab,
        );
        let b = MAX_BATCH as u64;
        let f = 4u64; // bytes per f32

        let step = gpu.uniform_init("step", bytemuck::bytes_of(&Step::default()));
        let tokens = gpu.storage("tokens", b * 4);
        let targets = gpu.storage("targets", b * 4);
        let nll_out = gpu.storage("nll", b * f);
        // Matmul inputs are activations: decode reads them as uniforms.
        // An activation buffer: decode's fused norms read it as a uniform.
        let x = gpu.activation("x", b * dim as u64 * f);
        let xn = gpu.activation("xn", b * dim as u64 * f);
        // Lane attention reads decode's queries as a uniform.
        let q = gpu.activation("q", b * (nh * hd) as u64 * f);
        let k = gpu.storage("k", b * (nkv * hd) as u64 * f);
        let v = gpu.storage("v", b * (nkv * hd) as u64 * f);
        let att = gpu.activation("att", b * (nh * hd) as u64 * f);
        let g = gpu.activation("gate", b * nff as u64 * f);
        // Prefill's x in int8 for the 4-bit types' products on CPU adapters
        // (`ops::matmul_tile_q8`), one buffer for every product in turn.
        let x8 = gpu
            .rows_per_lane()
            .then(|| ops::x8_scratch(gpu, dim.max(nff), MAX_BATCH));
        let qkv = gpu.storage("qkv", b * ((nh + 2 * nkv) * hd) as u64 * f);
        let u = gpu.storage("up", b * nff as u64 * f);
        let logits_last = gpu.storage("logits_last", vocab as u64 * f);
        // The batch's logits (for `nll`, allocated when it first runs) must
        // fit one binding.
        let limit = gpu.limits.max_storage_buffer_binding_size;
        if b * vocab as u64 * f > limit {
            return Err(Error::TooLarge {
                tensor: "logits".into(),
                bytes: b * vocab as u64 * f,
                limit,
            });
        }

        // The embedding table, in row parts when it is larger than one
        // binding (Gemma's 262,144 × 640): one lookup launch per part.
        let embd = file.matrix_parts("token_embd.weight")?;
        let out_w = match file.has("output.weight") {
            true => Some(file.matrix_parts("output.weight")?),
            false => None, // tied: the head reads the embedding table
        };
        let mut weight_bytes = 0u64;
        let last_part = embd.len() - 1;
        let mut body: Vec<Dispatch> = embd
            .iter()
            .enumerate()
            .map(|(i, (w, first))| {
                ops::embed_part(
                    gpu,
                    &step,
                    w,
                    *first,
                    i == last_part,
                    &tokens,
                    &x,
                    cfg.embed_scale,
                )
            })
            .collect();
        let mut body_decode = body.clone();
        let mut body_decode_long = body.clone();
        // Decode without the layer tails (`ops::layer_tail`), where they
        // run: for a step whose tails' workgroups did not all meet.
        let mut body_decode_apart = body.clone();
        // Decode at long contexts spreads each head's positions over
        // `splits` workgroups (see `ops::attention_split`).
        let (splits, split_from) = gpu.attention_splits();
        let parts = gpu.storage(
            "attention parts",
            ops::split_scratch_bytes(nh, hd, splits.max(1), 1),
        );
        let mut split_ok = splits > 1;
        // On CPU adapters, row attention instead: for prefill, and for
        // decode from `rows_from` positions on (see `ops::attention_rows`).
        let rows_from = gpu.row_attention_from();
        let row_scratch = rows_from.map(|_| ops::RowScratch::new(gpu, nh, ctx, MAX_BATCH));
        let mut rows_ok = row_scratch.is_some();
        // On CPU adapters, lane attention for decode instead, where the
        // model's shape allows (see `ops::attention_lanes`).
        let lane_splits = gpu.lane_attention();
        let lane_parts = lane_splits.map(|n| {
            gpu.storage(
                "attention lane parts",
                ops::split_scratch_bytes(nh, hd, ops::lanes_parts(n), 1),
            )
        });
        let mut lanes_ok = lane_parts.is_some();
        let mut merged_ok = gpu.lane_attention_merged();
        let split_short = !merged_ok && gpu.lane_attention_split_short();
        let mut keep = Vec::new();
        let mut weights = Vec::new();
        let mut mirrors = Vec::new();
        // A block's output before its post-norm (Gemma).
        let o = gpu.storage("block_out", b * dim as u64 * f);
        let gate = match cfg.gelu() {
            true => Epilogue::GeluGate,
            false => Epilogue::SiluGate,
        };
        // Decode's feed-forward block in one launch (`ops::ffn_matvec`) at
        // the layers whose matrices it takes (`ops::ffn_fits`) and whose
        // next layer adds its partial sums in: there the Q|K|V product is
        // one matrix, without query/key norms, that `ops::qkv_matvec_parts`
        // takes with the attention norm fused, and the attention output
        // product has no post-norm. The last layer keeps its two launches,
        // so that x is whole for the head.
        let type_of = |n: String| {
            let e = entries.iter().find(|e| e.name == n)?;
            GgmlType::from_name(&e.ty)
        };
        let takes_parts = |l: u32| {
            let has = |s: &str| file.has(&format!("blk.{l}.{s}"));
            let qkv = type_of(format!("blk.{l}.attn_qkv.weight"));
            // The norm fused into the product: x shared by subgroups, or
            // quantized (`Weight::x_q8`).
            qkv.is_some_and(|t| gpu.x_subgroup() || (gpu.x_q8(t) && dim <= ops::Q8_MAX_IN))
                && !has("attn_q_norm.weight")
                && !has("attn_k_norm.weight")
                && !has("post_attention_norm.weight")
                && dim as u64 * 4 <= crate::gpu::UNIFORM_VIEW
                && (nh * hd) as u64 * 4 <= crate::gpu::UNIFORM_VIEW
        };
        let ffn_slices = gpu.ffn_slices(nff);
        let ffn_planned: Vec<bool> = (0..cfg.n_layers)
            .map(|l| {
                ffn_slices.is_some()
                    && l + 1 < cfg.n_layers
                    && !file.has(&format!("blk.{l}.post_ffw_norm.weight"))
                    && takes_parts(l + 1)
            })
            .collect();
        let ffn_parts = ffn_slices
            .filter(|_| ffn_planned.contains(&true))
            .map(|n| gpu.storage("ffn parts", n as u64 * dim as u64 * f));
        // Decode's layer tails in one launch each (`ops::layer_tail`) where
        // the adapter runs a launch's workgroups at once: their meetings.
        let tails_planned = ffn_slices.is_some_and(|n| gpu.layer_tail(n)) && ffn_parts.is_some();
        // The sampler reads its flag wherever the tails run or not.
        let meet = ops::meet_buffer(gpu);
        let mut tails = false;
        // Whether the layer before wrote partial sums for this one to add.
        let mut parts_from_before: Option<u32> = None;
        // What a layer could not take of the plan above: never, while its
        // checks follow the ops'.
        let unplanned = |l: u32, what: &str| {
            Error::BadConfig(format!(
                "layer {l}'s {what} cannot take the fused feed-forward's partial sums"
            ))
        };
        for l in 0..cfg.n_layers {
            let name = |s: &str| format!("blk.{l}.{s}");
            let optional = |file: &mut WeightStore, s: &str| -> Result<Option<wgpu::Buffer>> {
                match file.has(&name(s)) {
                    true => file.vector(&name(s)).map(Some),
                    false => Ok(None),
                }
            };
            let la = cfg.layer_attn(l);
            let rope = RopeParams {
                n_head: nh,
                n_kv: nkv,
                head_dim: hd,
                rope_dim: cfg.rope_dim,
                base: la.rope_base,
                neox: cfg.rope_neox as u32,
                norm_eps: cfg.norm_eps,
                _pad1: 0,
            };
            let attn = AttentionParams {
                n_head: nh,
                n_kv: nkv,
                head_dim: hd,
                window: la.window,
                scale: cfg.attn_scale,
                stride: ops::row_stride(ctx),
                _pad1: 0,
                _pad2: 0,
            };
            let attn_norm = file.vector(&name("attn_norm.weight"))?;
            let ffn_norm = file.vector(&name("ffn_norm.weight"))?;
            let q_norm = optional(&mut file, "attn_q_norm.weight")?;
            let k_norm = optional(&mut file, "attn_k_norm.weight")?;
            let post_attn_norm = optional(&mut file, "post_attention_norm.weight")?;
            let post_ffw_norm = optional(&mut file, "post_ffw_norm.weight")?;
            // f16 or f32 elements (`Gpu::kv_f16`).
            let kv_bytes = ctx as u64 * (nkv * hd) as u64 * gpu.kv_bytes();
            let k_cache = gpu.storage("k_cache", kv_bytes);
            let v_cache = gpu.storage("v_cache", kv_bytes);
            let wo = file.matrix(&name("attn_output.weight"))?;
            let wd = file.matrix(&name("ffn_down.weight"))?;
            // Q, K, V: one fused matrix (the converter's), or three.
            let qkv_w = match file.has(&name("attn_qkv.weight")) {
                true => Qkv::Fused(file.matrix(&name("attn_qkv.weight"))?),
                false => Qkv::Apart(
                    file.matrix(&name("attn_q.weight"))?,
                    file.matrix(&name("attn_k.weight"))?,
                    file.matrix(&name("attn_v.weight"))?,
                ),
            };
            // Gate and up: interleaved in one matrix, or two.
            let ffn_w = match file.has(&name("ffn_gate_up.weight")) {
                true => Ffn::Fused(file.matrix(&name("ffn_gate_up.weight"))?),
                false => Ffn::Apart(
                    file.matrix(&name("ffn_gate.weight"))?,
                    file.matrix(&name("ffn_up.weight"))?,
                ),
            };
            // Query and key norms, in place on each head: q heads, then k
            // heads, of rows `stride` wide.
            let qk_norms =
                |stride: (u32, u32), k_offset: u32, q_buf: &wgpu::Buffer, k_buf: &wgpu::Buffer| {
                    let mut out = Vec::new();
                    let norm = |w: &wgpu::Buffer, y: &wgpu::Buffer, stride, offset, n_heads| {
                        ops::head_norm(
                            gpu,
                            &step,
                            w,
                            y,
                            HeadNormParams {
                                stride,
                                offset,
                                n_heads,
                                head_dim: hd,
                                eps: cfg.norm_eps,
                                _pad0: 0,
                                _pad1: 0,
                                _pad2: 0,
                            },
                        )
                    };
                    if let Some(w) = &q_norm {
                        out.push(norm(w, q_buf, stride.0, 0, nh));
                    }
                    if let Some(w) = &k_norm {
                        out.push(norm(w, k_buf, stride.1, k_offset, nkv));
                    }
                    out
                };
            let qk_normed = q_norm.is_some() || k_norm.is_some();
            // After the product: a fused product's rows split into q and the
            // caches, rotated, or q, k and v rotated and cached; normed first
            // where the model has query and key norms, in the same launch
            // (`ops::rope_split_normed`, `ops::rope_kv_normed`), or in
            // launches of their own before it where only one of them is there.
            let qk_both = q_norm.as_ref().zip(k_norm.as_ref());
            let split_rope = || -> Vec<Dispatch> {
                let one = qk_both.and_then(|(qw, kw)| {
                    ops::rope_split_normed(gpu, &step, rope, &qkv, &q, &k_cache, &v_cache, qw, kw)
                });
                one.map(|d| vec![d]).unwrap_or_else(|| {
                    let width = (nh + 2 * nkv) * hd;
                    let mut ds = qk_norms((width, width), nh * hd, &qkv, &qkv);
                    ds.push(ops::rope_split(
                        gpu, &step, rope, &qkv, &q, &k_cache, &v_cache,
                    ));
                    ds
                })
            };
            let apart_rope = || -> Vec<Dispatch> {
                let bufs = [&q, &k, &v, &k_cache, &v_cache];
                let one = qk_both
                    .and_then(|(qw, kw)| ops::rope_kv_normed(gpu, &step, rope, bufs, qw, kw));
                one.map(|d| vec![d]).unwrap_or_else(|| {
                    let mut ds = qk_norms((nh * hd, nkv * hd), 0, &q, &k);
                    ds.push(ops::rope_kv(gpu, &step, rope, bufs));
                    ds
                })
            };
            // On lavapipe, lane attention reads the cache from a mirror in
            // storage textures (see `Gpu::kv_mirror`), which decode's Q|K|V
            // product writes row by row and `Model::run` fills after each
            // prefill: only where that product is decode's one writer, and
            // lane attention takes the shape.
            let mirror = match &qkv_w {
                Qkv::Fused(w)
                    if !qk_normed
                        && gpu.kv_mirror()
                        && ops::lanes_fits(&attn, 1)
                        && ops::KvMirror::fits(hd, cfg.rope_dim)
                        && ops::qkv_matvec_mirrors(gpu, w, &x)
                        && ops::qkv_matvec_mirrors(gpu, w, &xn) =>
                {
                    ops::KvMirror::new(gpu, &name("kv"), ctx, nkv, hd)
                }
                _ => None,
            };

            let attn_norm_d =
                ops::rms_norm(gpu, &step, &x, &attn_norm, &xn, dim, cfg.norm_eps, false);
            // The one-pass kernel, built only where a body takes it (not
            // where lane and row attention run all of them, as on CPU
            // adapters for SmolLM2: its pipeline is a third of a second of
            // the page's compile time).
            let attn_d = || ops::attention(gpu, &step, attn, &q, &k_cache, &v_cache, &att);
            let attn_split = match split_ok {
                true => ops::attention_split(
                    gpu, &step, attn, splits, &q, &k_cache, &v_cache, &parts, &att,
                ),
                false => None,
            };
            split_ok &= attn_split.is_some();
            let rows = |tq: Option<u32>| {
                let s = row_scratch.as_ref()?;
                ops::attention_rows(gpu, &step, attn, tq?, &q, &k_cache, &v_cache, s, &att)
            };
            let attn_lanes = lane_splits.zip(lane_parts.as_ref()).and_then(|(n, parts)| {
                let m = mirror.as_ref();
                ops::attention_lanes(gpu, &step, attn, n, &q, &k_cache, &v_cache, m, parts, &att)
            });
            lanes_ok &= attn_lanes.is_some();
            // Below the long-context threshold, lane attention in one launch
            // (its workgroup merges its lanes), see `Gpu::lane_attention_merged`.
            let attn_lanes_merged = merged_ok
                .then(|| {
                    let m = mirror.as_ref();
                    ops::attention_lanes_merged(gpu, &step, attn, &q, &k_cache, &v_cache, m, &att)
                })
                .flatten();
            merged_ok &= attn_lanes_merged.is_some();
            let rows_batch = rows(ops::rows_tokens(&attn, 8));
            // One token a workgroup only where lane attention does not take
            // decode (Gemma 3): elsewhere its pipelines would compile for
            // nothing.
            let rows_one = match lanes_ok {
                true => None,
                false => rows(Some(1)),
            };
            rows_ok &= rows_batch.is_some() && (lanes_ok || rows_one.is_some());
            let ffn_norm_d =
                ops::rms_norm(gpu, &step, &x, &ffn_norm, &xn, dim, cfg.norm_eps, false);
            // A block's output: added to x in the product's epilogue, or
            // stored, normed and added (Gemma's post-norms).
            let post = |w: &Option<wgpu::Buffer>| {
                w.as_ref()
                    .map(|w| ops::rms_norm_add(gpu, &step, &o, w, &x, dim, cfg.norm_eps))
            };
            let post_attn_d = post(&post_attn_norm);
            let post_ffw_d = post(&post_ffw_norm);
            let epi = |acc: bool| match acc {
                true => Epilogue::Accumulate,
                false => Epilogue::Store,
            };
            // The partial sums decode adds in here: the layer before's,
            // where its feed-forward was one launch.
            let parts_in = ffn_parts.as_ref().zip(parts_from_before);
            // This layer's feed-forward in one launch, where planned and its
            // matrices allow.
            let ffn_one = match (&ffn_w, &ffn_parts, ffn_slices) {
                (Ffn::Fused(w), Some(parts), Some(n)) if ffn_planned[l as usize] => {
                    let norm = (&ffn_norm, cfg.norm_eps);
                    ops::ffn_matvec(gpu, &step, w, &wd, &x, norm, gate, (parts, n))
                }
                _ => None,
            };
            parts_from_before = ffn_slices.filter(|_| ffn_one.is_some());
            // Decode's attention, output product and feed-forward in one
            // launch, where this layer takes all three as above.
            let tail = match (&ffn_w, &ffn_parts, ffn_slices) {
                (Ffn::Fused(w), Some(parts), Some(n))
                    if tails_planned
                        && ffn_one.is_some()
                        && merged_ok
                        && post_attn_norm.is_none() =>
                {
                    let t = ops::LayerTail {
                        attn,
                        q: &q,
                        k_cache: &k_cache,
                        v_cache: &v_cache,
                        mirror: mirror.as_ref(),
                        att: &att,
                        wo: &wo,
                        x: &x,
                        gate_up: w,
                        down: &wd,
                        ffn_norm: (&ffn_norm, cfg.norm_eps),
                        gate,
                        parts,
                        parts_in: parts_in.map_or(0, |(_, n)| n),
                        slices: n,
                        meet: &meet,
                    };
                    ops::layer_tail(gpu, &step, &t)
                }
                _ => None,
            };
            tails |= tail.is_some();
            let passes = [
                (false, false, false),
                (true, false, false),
                (true, true, false),
                (true, false, true),
            ];
            for (decode, long, apart) in passes {
                // Prefill and decode tell the same story; decode's matrix
                // products are the one-token kernels, and at long contexts
                // its attention is split. Decode apart: without the layer
                // tails, only where they could run.
                if (long && !split_ok && !rows_ok && !lanes_ok) || (apart && !tails_planned) {
                    continue;
                }
                let prod =
                    |w: &Weight, x: &wgpu::Buffer, y: &wgpu::Buffer, e: Epilogue| match decode {
                        true => vec![ops::matvec(gpu, &step, w, x, y, e)],
                        false => {
                            ops::matmul_batch_x8(gpu, &step, w, x, x8.as_ref(), y, e, MAX_BATCH)
                        }
                    };
                let list = match (decode, long, apart) {
                    (false, _, _) => &mut body,
                    (true, false, false) => &mut body_decode,
                    (true, false, true) => &mut body_decode_apart,
                    (true, true, _) => &mut body_decode_long,
                };
                // x (T, dim) → xn; when decoding on a CPU adapter with
                // subgroups the norm is fused into the next product (its
                // x is then the residual stream, its norm `attn_norm`).
                // Prefill with the int8 tile takes the norm as x is
                // quantized for the fused Q|K|V product, and (llama's
                // layout, no query/key norms) the rotation and the caches'
                // write in the product's stores; else a rope_split launch
                // after the product.
                let attn_norm_eps = (&attn_norm, cfg.norm_eps);
                let fused_qkv: Option<Vec<ops::Dispatch>> = match &qkv_w {
                    Qkv::Fused(w) if decode && !qk_normed && gpu.rows_per_lane() => {
                        let norm = Some(attn_norm_eps);
                        let m = mirror.as_ref();
                        let caches = [&q, &k_cache, &v_cache];
                        ops::qkv_matvec_parts(gpu, &step, w, &x, norm, rope, caches, m, parts_in)
                            .map(|d| vec![d])
                    }
                    Qkv::Fused(w) if !decode => {
                        let rope_tile = x8
                            .as_ref()
                            .filter(|_| {
                                !qk_normed
                                    && gpu.tile_q8(w.ty)
                                    && gpu.fused_prefill_norm()
                                    && gpu.fused_prefill_rope()
                            })
                            .and_then(|x8| {
                                let caches = [&q, &k_cache, &v_cache];
                                ops::matmul_tile_q8_rope(
                                    gpu,
                                    &step,
                                    w,
                                    &x,
                                    attn_norm_eps,
                                    x8,
                                    rope,
                                    caches,
                                    MAX_BATCH,
                                )
                            });
                        match rope_tile {
                            Some(ds) => Some(ds.into()),
                            None => ops::matmul_batch_x8_normed(
                                gpu,
                                &step,
                                w,
                                &x,
                                attn_norm_eps,
                                x8.as_ref(),
                                &qkv,
                                Epilogue::Store,
                                MAX_BATCH,
                            )
                            .map(|mut ds| {
                                ds.extend(split_rope());
                                ds
                            }),
                        }
                    }
                    // Decode with query and key norms (Gemma 3, Qwen 3): the
                    // attention norm fused into the product(s) where the
                    // kernel takes it, then the norms, rotation and caches
                    // in one launch.
                    Qkv::Fused(w) if decode && gpu.rows_per_lane() => {
                        let (g, eps) = attn_norm_eps;
                        ops::matvec_normed(gpu, &step, w, &x, g, eps, &qkv, Epilogue::Store).map(
                            |d| {
                                let mut ds = vec![d];
                                ds.extend(split_rope());
                                ds
                            },
                        )
                    }
                    Qkv::Apart(wq, wk, wv) if decode && gpu.rows_per_lane() => {
                        let (g, eps) = attn_norm_eps;
                        let normed = |w: &Weight, y: &wgpu::Buffer| {
                            ops::matvec_normed(gpu, &step, w, &x, g, eps, y, Epilogue::Store)
                        };
                        match (normed(wq, &q), normed(wk, &k), normed(wv, &v)) {
                            (Some(a), Some(b), Some(c)) => {
                                let mut ds = vec![a, b, c];
                                ds.extend(apart_rope());
                                Some(ds)
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if decode && parts_in.is_some() && fused_qkv.is_none() {
                    return Err(unplanned(l, "Q|K|V product"));
                }
                if let Some(ds) = fused_qkv {
                    list.extend(ds);
                } else {
                    list.push(attn_norm_d.clone());
                    match &qkv_w {
                        // xn → q (rotated), K and V caches at rows pos..pos+T:
                        // one launch when decoding on a CPU adapter (and no
                        // query/key norms come between), else the fused product
                        // into qkv, the norms, then the rotation and split.
                        Qkv::Fused(w) => {
                            let one = (decode && !qk_normed)
                                .then(|| {
                                    let m = mirror.as_ref();
                                    ops::qkv_matvec(
                                        gpu, &step, w, &xn, None, rope, &q, &k_cache, &v_cache, m,
                                    )
                                })
                                .flatten()
                                .filter(|_| gpu.rows_per_lane());
                            match one {
                                Some(d) => list.push(d),
                                None => {
                                    list.extend(prod(w, &xn, &qkv, Epilogue::Store));
                                    list.extend(split_rope());
                                }
                            }
                        }
                        // xn → q (T, nh·hd), k, v (T, nkv·hd); rotate q, k;
                        // k, v → caches at rows pos..pos+T
                        Qkv::Apart(wq, wk, wv) => {
                            list.extend(prod(wq, &xn, &q, epi(false)));
                            list.extend(prod(wk, &xn, &k, epi(false)));
                            list.extend(prod(wv, &xn, &v, epi(false)));
                            list.extend(apart_rope());
                        }
                    }
                }
                // att (T, nh·hd) over cache rows 0..pos+T
                match (decode, long) {
                    (false, _) if rows_ok => list.extend(rows_batch.iter().flatten().cloned()),
                    // The rest of the layer in one launch.
                    (true, false) if tail.is_some() && !apart => {
                        list.extend(tail.iter().cloned());
                        continue;
                    }
                    (true, false) if merged_ok => list.extend(attn_lanes_merged.iter().cloned()),
                    (true, false) if lanes_ok && split_short => {
                        list.extend(attn_lanes.iter().flatten().cloned())
                    }
                    (true, true) if lanes_ok => list.extend(attn_lanes.iter().flatten().cloned()),
                    (true, true) if rows_ok => list.extend(rows_one.iter().flatten().cloned()),
                    (true, true) => list.extend(attn_split.iter().flatten().cloned()),
                    _ => list.push(attn_d()),
                }
                // x += Wo·att, or x += norm(Wo·att)
                match &post_attn_d {
                    None if decode && parts_in.is_some() => {
                        let (parts, n) = parts_in.expect("checked");
                        let d = ops::matvec_adding_parts(gpu, &step, &wo, &att, &x, parts, n);
                        list.push(d.ok_or_else(|| unplanned(l, "attention output product"))?);
                    }
                    None => list.extend(prod(&wo, &att, &x, epi(true))),
                    Some(d) => {
                        list.extend(prod(&wo, &att, &o, epi(false)));
                        list.push(d.clone());
                    }
                }
                // Decode's whole feed-forward in one launch, its sums left
                // for the next layer to add.
                if let Some(d) = ffn_one.as_ref().filter(|_| decode) {
                    list.push(d.clone());
                    continue;
                }
                // x → xn (fused into the gate/up product where it can be,
                // as the attention norm)
                let fused_ffn = match &ffn_w {
                    Ffn::Fused(w) if decode && gpu.rows_per_lane() => {
                        ops::matvec_normed(gpu, &step, w, &x, &ffn_norm, cfg.norm_eps, &g, gate)
                            .map(|d| vec![d])
                    }
                    Ffn::Fused(w) if !decode => ops::matmul_batch_x8_normed(
                        gpu,
                        &step,
                        w,
                        &x,
                        (&ffn_norm, cfg.norm_eps),
                        x8.as_ref(),
                        &g,
                        gate,
                        MAX_BATCH,
                    ),
                    _ => None,
                };
                if fused_ffn.is_none() {
                    list.push(ffn_norm_d.clone());
                }
                // g = act(Wg·xn) · (Wu·xn)   (T, n_ff)
                match &ffn_w {
                    Ffn::Fused(_) if fused_ffn.is_some() => {
                        list.extend(fused_ffn.into_iter().flatten())
                    }
                    Ffn::Fused(w) => list.extend(prod(w, &xn, &g, gate)),
                    Ffn::Apart(wg, wu) => {
                        list.extend(prod(wg, &xn, &g, epi(false)));
                        list.extend(prod(wu, &xn, &u, epi(false)));
                        list.push(ops::silu_mul(gpu, &step, &g, &u, nff, cfg.gelu()));
                    }
                }
                // x += Wd·g, or x += norm(Wd·g)
                match &post_ffw_d {
                    None => list.extend(prod(&wd, &g, &x, epi(true))),
                    Some(d) => {
                        list.extend(prod(&wd, &g, &o, epi(false)));
                        list.push(d.clone());
                    }
                }
            }

            let mut layer_weights = vec![wo, wd];
            match qkv_w {
                Qkv::Fused(w) => layer_weights.push(w),
                Qkv::Apart(a, b, c) => layer_weights.extend([a, b, c]),
            }
            match ffn_w {
                Ffn::Fused(w) => layer_weights.push(w),
                Ffn::Apart(a, b) => layer_weights.extend([a, b]),
            }
            weight_bytes += layer_weights.iter().map(|w| w.gpu_bytes()).sum::<u64>();
            let norms = [attn_norm, ffn_norm]
                .into_iter()
                .chain(q_norm)
                .chain(k_norm)
                .chain(post_attn_norm)
                .chain(post_ffw_norm);
            for n in norms {
                // A norm read as a uniform too is a view longer (Gpu::activation).
                weight_bytes += match n.usage().contains(wgpu::BufferUsages::UNIFORM) {
                    true => n.size() - crate::gpu::UNIFORM_VIEW,
                    false => n.size(),
                };
                keep.push(n);
            }
            if let Some(m) = mirror {
                mirrors.push((m, k_cache.clone(), v_cache.clone()));
            }
            keep.extend([k_cache, v_cache]);
            weights.extend(layer_weights);
        }
        let out_norm = file.vector("output_norm.weight")?;
        let head = out_w.as_ref().unwrap_or(&embd);
        // Per decoded token the head reads the whole output matrix; the
        // embedding lookup reads one row, which we leave out.
        weight_bytes += head.iter().map(|(w, _)| w.gpu_bytes()).sum::<u64>() + dim as u64 * f;
        // The head's parts each write their rows of the logits.
        let head_at = |w: &Weight, first: u32, one_row: bool| {
            MatmulParams::new(w, one_row, Epilogue::Store).at(first, vocab)
        };

        let sampling = SampleParams::from(Sampling::greedy(), vocab);
        let mask = gpu.storage("mask", vocab.div_ceil(32) as u64 * 4);
        // The sampler stays last: `write_sample_params` finds it there.
        let mut head_sample = vec![ops::rms_norm(
            gpu,
            &step,
            &x,
            &out_norm,
            &xn,
            dim,
            cfg.norm_eps,
            true,
        )];
        for (w, first) in head {
            let e = Epilogue::Store;
            head_sample.push(ops::matvec_params(
                gpu,
                &step,
                w,
                &xn,
                &logits_last,
                e,
                head_at(w, *first, true),
            ));
        }
        head_sample.push(ops::sample(
            gpu,
            &step,
            &sampling,
            &logits_last,
            &tokens,
            &mask,
            &meet,
        ));
        // x, xn and the final norm stay alive in the NLL head (below).
        keep.extend([q, k, v, qkv, att, g, u, o, parts]);
        keep.extend(
            row_scratch
                .map(|s| [s.scores, s.inv_sum])
                .into_iter()
                .flatten(),
        );
        keep.extend(lane_parts);
        keep.extend(x8);
        // Lane attention reading the mirror (every layer's) stays in one
        // launch for longer (see `Gpu::lane_split_from`).
        let rows_from = match lanes_ok {
            true => gpu.lane_split_from(mirrors.len() == cfg.n_layers as usize),
            false => rows_from,
        };
        let split_from = match (rows_ok || lanes_ok, rows_from, split_ok) {
            (true, Some(from), _) => from,
            (_, _, true) => split_from,
            _ => {
                body_decode_long.clear();
                u32::MAX
            }
        };
        // Which attention runs where, for whoever reads the log.
        let decode_attention = match (lanes_ok, merged_ok, split_from) {
            (true, true, from) => {
                format!("lane attention in one launch, then lanes and merge from {from}")
            }
            (true, false, _) if split_short => "lanes and merge".to_string(),
            (true, false, from) => format!("one pass, then lane attention from {from}"),
            (false, _, u32::MAX) => "one pass".to_string(),
            (false, _, from) if rows_ok => format!("one pass, then row attention from {from}"),
            (false, _, from) => format!("one pass, then split attention from {from}"),
        };
        let prefill_attention = match rows_ok {
            true => "row attention",
            false => "one pass",
        };
        log::info!("attention: prefill {prefill_attention}; decode {decode_attention}");
        // The head's parts go to the NLL head, which reads them when built;
        // a separate embedding table stays with the other weights.
        let (head_parts, embd_apart) = match out_w {
            Some(out) => (out, Some(embd)),
            None => (embd, None),
        };
        weights.extend(embd_apart.into_iter().flatten().map(|(w, _)| w));
        let nll_head = NllHead {
            x,
            xn,
            out_norm,
            parts: head_parts,
        };

        let mut model = Model {
            read_token: [0, 1].map(|_| gpu.readback("read_token", 4)),
            read_token_by: [None, None],
            slot: 0,
            ahead: false,
            fed_ahead: 0,
            read_nll: gpu.readback("read_nll", b * f),
            read_logits: gpu.readback("read_logits", vocab as u64 * f),
            gpu: gpu.clone(),
            cfg,
            ctx,
            pos: 0,
            cached: Vec::new(),
            rng_step: 0,
            step,
            tokens,
            targets,
            nll_out,
            logits_last,
            body,
            body_decode,
            body_decode_long,
            split_from,
            head_sample,
            head_nll: None,
            head_verify: None,
            verify_out: gpu.storage("verify_out", (MAX_DRAFT as u64 + 1) * 4),
            read_verify: gpu.readback("read_verify", (MAX_DRAFT as u64 + 1) * 4),
            nll_head,
            weight_bytes,
            weights: file,
            sample_params: sampling,
            mask,
            mirrors,
            meet,
            tails,
            body_decode_apart: match tails {
                true => body_decode_apart,
                false => Vec::new(),
            },
            host_time: (0, std::time::Duration::ZERO),
            _keep: keep,
            _weights: weights,
        };
        // Where prefill's pipelines compile after the load, the check's
        // head compiles with them (its first check would otherwise wait for
        // it: natively 0.19 s on lavapipe); natively it is built at the
        // first check, keeping the load short.
        if gpu.prefill_pipelines_late() {
            model.build_head_verify();
        }
        Ok(model)
    }
}

/// A layer's Q, K and V weights: fused by the converter, or apart. Built once
/// a layer at load and dropped there, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Qkv {
    Fused(Weight),
    Apart(Weight, Weight, Weight),
}

/// What [`Model::nll`]'s head (final norm over the batch, output head,
/// NLL) is built from when it first runs.
struct NllHead {
    x: wgpu::Buffer,
    xn: wgpu::Buffer,
    out_norm: wgpu::Buffer,
    /// The output matrix's parts, each with its first row (also read by
    /// decode's head, which holds them through its bind groups).
    parts: Vec<(Weight, u32)>,
}

impl Model {
    /// Builds the launches of [`Model::nll`]'s head, and the batch's logits
    /// they write, if they are not built yet.
    fn build_head_nll(&mut self) {
        if self.head_nll.is_some() {
            return;
        }
        let (mut ds, logits_all) = self.head_rows(MAX_BATCH);
        let (gpu, step, vocab) = (&self.gpu, &self.step, self.cfg.vocab);
        let nll = ops::nll(gpu, step, vocab, &logits_all, &self.targets, &self.nll_out);
        ds.push(nll.keeping(logits_all));
        self.head_nll = Some(ds);
    }

    /// Builds the launches of [`Model::verify`]'s head if they are not
    /// built yet.
    fn build_head_verify(&mut self) {
        if self.head_verify.is_some() {
            return;
        }
        let (mut ds, logits) = self.head_rows(MAX_DRAFT as u32 + 1);
        let (gpu, step, vocab) = (&self.gpu, &self.step, self.cfg.vocab);
        let argmax = ops::argmax_rows(gpu, step, vocab, &logits, &self.verify_out);
        ds.push(argmax.keeping(logits));
        self.head_verify = Some(ds);
    }

    /// The final norm and the output head over every token of a batch of up
    /// to `rows`, and the logits (rows, vocab) they write.
    fn head_rows(&self, rows: u32) -> (Vec<Dispatch>, wgpu::Buffer) {
        let (gpu, h, step) = (&self.gpu, &self.nll_head, &self.step);
        let vocab = self.cfg.vocab;
        let logits = gpu.storage("logits_rows", rows as u64 * vocab as u64 * 4);
        let mut ds = vec![ops::rms_norm(
            gpu,
            step,
            &h.x,
            &h.out_norm,
            &h.xn,
            self.cfg.dim,
            self.cfg.norm_eps,
            false,
        )];
        for (w, first) in &h.parts {
            let params = MatmulParams::new(w, false, Epilogue::Store).at(*first, vocab);
            ds.push(ops::matmul_batch_params(
                gpu,
                step,
                w,
                &h.xn,
                &logits,
                Epilogue::Store,
                params,
                MAX_BATCH,
            ));
        }
        (ds, logits)
    }
}

/// A layer's gate and up weights: interleaved in one matrix, or apart.
#[allow(clippy::large_enum_variant)]
enum Ffn {
    Fused(Weight),
    Apart(Weight, Weight),
}

#[derive(Clone, Copy)]
enum Head {
    None,
    Sample,
    Nll,
    Verify,
}

impl SampleParams {
    fn from(s: Sampling, vocab: u32) -> Self {
        SampleParams {
            vocab,
            temperature: s.temperature,
            top_k: s.top_k.clamp(1, ops::MAX_TOP_K),
            top_p: if s.top_p > 0.0 && s.top_p <= 1.0 {
                s.top_p
            } else {
                1.0
            },
            seed: s.seed,
            masked: 0,
            _pad1: 0,
            _pad2: 0,
        }
    }
}
