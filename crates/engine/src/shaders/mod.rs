//! The WGSL kernels, one file each, loaded by `include_str!` from this one
//! registry. Kernels that read quantized weights get `quant.wgsl` (the block
//! decoders) appended, and the decode kernels `matvec_row.wgsl` (or
//! `matvec_q8.wgsl`), the fused
//! rotary ones `rope.wgsl`, the gated ones `gate.wgsl`; their variants are
//! override constants (`QTYPE`, `EPILOGUE`), and for the kernels that read
//! weights or x blocks, a [`Variant`]: which prelude declares the weights
//! (`weights_buffer.wgsl`, `weights_texture.wgsl` or `weights_storage.wgsl`) and how x blocks are
//! loaded (`x_uniform.wgsl` or `x_subgroup.wgsl`), or quantized to int8
//! (`matvec_q8.wgsl`); prefill's tile kernels, how each token's x reaches
//! the lanes (`tile_x_uniform.wgsl` or `tile_x_subgroup.wgsl`; for the
//! int8 tile, `tile_q8_x_uniform.wgsl` or `tile_q8_x_subgroup.wgsl`, and
//! where it stores: `tile_q8_y.wgsl` with `tile_store.wgsl`, or for the
//! fused Q|K|V product that rotates and caches as it stores,
//! `tile_store_rope.wgsl` with `rope.wgsl`); row
//! attention's scores and values, how the queries and weights every lane
//! reads reach them (`attention_share_uniform.wgsl` or
//! `attention_share_subgroup.wgsl`), and their rows' stores written out
//! (`attention_store_rows.wgsl`). Kernels that read or write the KV cache start with
//! `kv_f32.wgsl` or `kv_f16.wgsl`, which name the cache's element type `kv`.
//! The attention kernels end with `attention_common.wgsl` (the step and
//! parameter structs, the window's first position).

/// One compute kernel: one WGSL file, whose entry point is named here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Embed,
    RmsNorm,
    Matmul,
    Matvec,
    MatmulTile,
    MatmulTileGroup,
    MatmulTileQ8,
    MatmulTileQ8Rope,
    QuantizeX8,
    QuantizeX8Normed,
    QkvMatvec,
    FfnMatvec,
    LayerTail,
    RopeSplit,
    RopeKv,
    RopeSplitNormed,
    RopeKvNormed,
    Attention,
    AttentionVec4,
    AttentionPart,
    AttentionMerge,
    AttentionLanes,
    AttentionScores,
    AttentionSoftmax,
    AttentionValues,
    SiluMul,
    HeadNorm,
    Sample,
    Nll,
    ArgmaxRows,
}

impl Kernel {
    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Embed => "embed",
            Kernel::RmsNorm => "rms_norm",
            Kernel::Matmul => "matmul",
            Kernel::Matvec => "matvec",
            Kernel::MatmulTile => "matmul_tile",
            Kernel::MatmulTileGroup => "matmul_tile_group",
            Kernel::MatmulTileQ8 | Kernel::MatmulTileQ8Rope => "matmul_tile_q8",
            Kernel::QuantizeX8 => "quantize_x8",
            Kernel::QuantizeX8Normed => "quantize_x8_normed",
            Kernel::QkvMatvec => "qkv_matvec",
            Kernel::FfnMatvec => "ffn_matvec",
            Kernel::LayerTail => "layer_tail",
            Kernel::RopeSplit => "rope_split",
            Kernel::RopeKv => "rope_kv",
            Kernel::RopeSplitNormed => "rope_split_normed",
            Kernel::RopeKvNormed => "rope_kv_normed",
            Kernel::Attention | Kernel::AttentionVec4 => "attention",
            Kernel::AttentionPart => "attention_part",
            Kernel::AttentionMerge => "attention_merge",
            Kernel::AttentionLanes => "attention_lanes",
            Kernel::AttentionScores => "attention_scores",
            Kernel::AttentionSoftmax => "attention_softmax",
            Kernel::AttentionValues => "attention_values",
            Kernel::SiluMul => "silu_mul",
            Kernel::HeadNorm => "head_norm",
            Kernel::Sample => "sample",
            Kernel::Nll => "nll_rows",
            Kernel::ArgmaxRows => "argmax_rows",
        }
    }

    /// Whether the kernel reads quantized weights (binding 2, through
    /// `wv`), so that `Variant::weights` applies to it.
    pub fn reads_weights(self) -> bool {
        matches!(
            self,
            Kernel::Embed
                | Kernel::Matmul
                | Kernel::Matvec
                | Kernel::QkvMatvec
                | Kernel::FfnMatvec
                | Kernel::LayerTail
                | Kernel::MatmulTile
                | Kernel::MatmulTileGroup
                | Kernel::MatmulTileQ8
                | Kernel::MatmulTileQ8Rope
        )
    }

    /// Whether the kernel loads x blocks with `x_block` (the decode
    /// kernels), so that `Variant::x_q8` applies to it.
    pub fn reads_x_blocks(self) -> bool {
        matches!(
            self,
            Kernel::Matvec | Kernel::QkvMatvec | Kernel::FfnMatvec | Kernel::LayerTail
        )
    }

    /// Whether the kernel can share what every lane reads through subgroup
    /// broadcasts (the decode kernels' x, prefill's grouped tile's, row
    /// attention's queries and weights), so that `Variant::x_subgroup`
    /// applies to it.
    pub fn shares_x(self) -> bool {
        self.reads_x_blocks()
            || matches!(
                self,
                Kernel::MatmulTileGroup
                    | Kernel::MatmulTileQ8
                    | Kernel::MatmulTileQ8Rope
                    | Kernel::AttentionScores
                    | Kernel::AttentionValues
            )
    }

    /// Whether the kernel reads or writes the KV cache (declared as
    /// `array<kv>` or `array<vec4<kv>>`), so that `Variant::kv_f16` applies
    /// to it.
    pub fn touches_kv(self) -> bool {
        matches!(
            self,
            Kernel::QkvMatvec
                | Kernel::MatmulTileQ8Rope
                | Kernel::RopeSplit
                | Kernel::RopeKv
                | Kernel::RopeSplitNormed
                | Kernel::RopeKvNormed
                | Kernel::Attention
                | Kernel::AttentionVec4
                | Kernel::AttentionPart
                | Kernel::AttentionLanes
                | Kernel::LayerTail
                | Kernel::AttentionScores
                | Kernel::AttentionValues
        )
    }

    /// The kernel's WGSL: its file, the files it builds on, and for the
    /// kernels that read weights or x blocks, the variant's prelude. The KV
    /// cache's element type goes first (`enable f16;` must lead the module).
    pub fn source(self, variant: Variant) -> String {
        let mut s = String::new();
        if self.touches_kv() {
            s.push_str(match variant.kv_f16 {
                true => include_str!("kv_f16.wgsl"),
                false => include_str!("kv_f32.wgsl"),
            });
        }
        match self {
            // WGSL's module-scope declarations may come in any order: the
            // written-out pass goes in with the body it is called from.
            Kernel::AttentionLanes | Kernel::LayerTail if !variant.attention_v_loop => {
                s.push_str(&written_out_v_pass(self.body()));
                s.push_str(include_str!("attention_lanes_v_unrolled.wgsl"));
            }
            _ => s.push_str(self.body()),
        }
        match self {
            Kernel::AttentionLanes | Kernel::LayerTail => s.push_str(match variant.kv_mirror {
                true => include_str!("attention_kv_mirror.wgsl"),
                false => include_str!("attention_kv_buffer.wgsl"),
            }),
            Kernel::QkvMatvec => s.push_str(match variant.kv_mirror {
                true => include_str!("kv_mirror_write.wgsl"),
                false => include_str!("kv_mirror_none.wgsl"),
            }),
            _ => {}
        }
        if self == Kernel::FfnMatvec {
            // Its two matrices, the one `wv` reads picked by the kernel's
            // phase.
            s.push_str(match variant.weights {
                WeightStore::Buffer => include_str!("ffn_weights_buffer.wgsl"),
                WeightStore::Texture => include_str!("ffn_weights_texture.wgsl"),
                WeightStore::StorageTexture => include_str!("ffn_weights_storage.wgsl"),
            });
        } else if self == Kernel::LayerTail {
            // Its three matrices, likewise.
            s.push_str(match variant.weights {
                WeightStore::Buffer => include_str!("layer_weights_buffer.wgsl"),
                WeightStore::Texture => include_str!("layer_weights_texture.wgsl"),
                WeightStore::StorageTexture => include_str!("layer_weights_storage.wgsl"),
            });
        } else if self.reads_weights() {
            s.push_str(match variant.weights {
                WeightStore::Buffer => include_str!("weights_buffer.wgsl"),
                WeightStore::Texture => include_str!("weights_texture.wgsl"),
                WeightStore::StorageTexture => include_str!("weights_storage.wgsl"),
            });
        }
        match self {
            Kernel::MatmulTile => s.push_str(include_str!("tile_x_uniform.wgsl")),
            Kernel::MatmulTileGroup => s.push_str(match variant.x_subgroup {
                true => include_str!("tile_x_subgroup.wgsl"),
                false => include_str!("tile_x_uniform.wgsl"),
            }),
            Kernel::MatmulTileQ8 | Kernel::MatmulTileQ8Rope => {
                s.push_str(match variant.x_subgroup {
                    true => include_str!("tile_q8_x_subgroup.wgsl"),
                    false => include_str!("tile_q8_x_uniform.wgsl"),
                })
            }
            Kernel::AttentionScores | Kernel::AttentionValues => {
                s.push_str(match variant.x_subgroup {
                    true => include_str!("attention_share_subgroup.wgsl"),
                    false => include_str!("attention_share_uniform.wgsl"),
                })
            }
            _ => {}
        }
        if self.reads_x_blocks() {
            match (variant.x_q8, variant.x_subgroup) {
                (true, _) => {
                    s.push_str(&format!("const XBLOCKS: u32 = {}u;\n", variant.x_q8_blocks));
                    s.push_str(include_str!("matvec_q8.wgsl"));
                    s.push_str(match variant.q8_group_loop {
                        true => include_str!("q8_group_loop.wgsl"),
                        false => include_str!("q8_group_unrolled.wgsl"),
                    });
                    match variant.x_q8_bytes {
                        true => s.push_str(include_str!("matvec_q8_bytes.wgsl")),
                        false => {
                            s.push_str(include_str!("matvec_q8_pairs.wgsl"));
                            s.push_str(include_str!("int8_pairs.wgsl"));
                        }
                    }
                }
                (false, subgroup) => {
                    s.push_str(include_str!("matvec_row.wgsl"));
                    s.push_str(match subgroup {
                        true => include_str!("x_subgroup.wgsl"),
                        false => include_str!("x_uniform.wgsl"),
                    });
                }
            }
        }
        s
    }

    fn body(self) -> &'static str {
        match self {
            Kernel::Embed => concat!(include_str!("embed.wgsl"), include_str!("quant.wgsl")),
            Kernel::Matmul => concat!(
                include_str!("matmul.wgsl"),
                include_str!("gate.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::Matvec => concat!(
                include_str!("matvec.wgsl"),
                include_str!("gate.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::QkvMatvec => concat!(
                include_str!("qkv_matvec.wgsl"),
                include_str!("rope.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::FfnMatvec => concat!(
                include_str!("ffn_matvec.wgsl"),
                include_str!("ffn_slice.wgsl"),
                include_str!("gate.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::LayerTail => concat!(
                include_str!("layer_tail.wgsl"),
                include_str!("attention_lanes_body.wgsl"),
                include_str!("attention_common.wgsl"),
                include_str!("ffn_slice.wgsl"),
                include_str!("gate.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::RopeSplit => {
                concat!(include_str!("rope_split.wgsl"), include_str!("rope.wgsl"))
            }
            Kernel::MatmulTile => concat!(
                include_str!("matmul_tile_x.wgsl"),
                include_str!("matmul_tile.wgsl"),
                include_str!("tile_store.wgsl"),
                include_str!("gate.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::MatmulTileGroup => concat!(
                include_str!("matmul_tile_group.wgsl"),
                include_str!("matmul_tile.wgsl"),
                include_str!("tile_store.wgsl"),
                include_str!("gate.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::MatmulTileQ8 => concat!(
                include_str!("matmul_tile_q8.wgsl"),
                include_str!("int8_pairs.wgsl"),
                include_str!("tile_q8_y.wgsl"),
                include_str!("tile_store.wgsl"),
                include_str!("gate.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::MatmulTileQ8Rope => concat!(
                include_str!("matmul_tile_q8.wgsl"),
                include_str!("int8_pairs.wgsl"),
                include_str!("tile_store_rope.wgsl"),
                include_str!("rope.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::QuantizeX8 | Kernel::QuantizeX8Normed => include_str!("quantize_x8.wgsl"),
            Kernel::RmsNorm => include_str!("rms_norm.wgsl"),
            Kernel::RopeKv => include_str!("rope_kv.wgsl"),
            Kernel::RopeSplitNormed => concat!(
                include_str!("rope_split_normed.wgsl"),
                include_str!("rope_norms.wgsl"),
                include_str!("rope.wgsl")
            ),
            Kernel::RopeKvNormed => concat!(
                include_str!("rope_kv_normed.wgsl"),
                include_str!("rope_norms.wgsl"),
                include_str!("rope.wgsl")
            ),
            Kernel::Attention => concat!(
                include_str!("attention.wgsl"),
                include_str!("attention_common.wgsl")
            ),
            Kernel::AttentionVec4 => concat!(
                include_str!("attention_vec4.wgsl"),
                include_str!("attention_common.wgsl")
            ),
            Kernel::AttentionPart => concat!(
                include_str!("attention_split.wgsl"),
                include_str!("attention_vec4.wgsl"),
                include_str!("attention_common.wgsl")
            ),
            Kernel::AttentionMerge => concat!(
                include_str!("attention_merge.wgsl"),
                include_str!("attention_common.wgsl")
            ),
            Kernel::AttentionLanes => concat!(
                include_str!("attention_lanes.wgsl"),
                include_str!("attention_lanes_body.wgsl"),
                include_str!("attention_common.wgsl")
            ),
            Kernel::AttentionScores => concat!(
                include_str!("attention_scores.wgsl"),
                include_str!("attention_rows.wgsl"),
                include_str!("attention_store_rows.wgsl"),
                include_str!("attention_common.wgsl")
            ),
            Kernel::AttentionSoftmax => concat!(
                include_str!("attention_softmax.wgsl"),
                include_str!("attention_rows.wgsl"),
                include_str!("attention_common.wgsl")
            ),
            Kernel::AttentionValues => concat!(
                include_str!("attention_values.wgsl"),
                include_str!("attention_rows.wgsl"),
                include_str!("attention_store_rows.wgsl"),
                include_str!("attention_common.wgsl")
            ),
            Kernel::SiluMul => concat!(include_str!("silu_mul.wgsl"), include_str!("gate.wgsl")),
            Kernel::HeadNorm => include_str!("head_norm.wgsl"),
            Kernel::Sample => include_str!("sample.wgsl"),
            Kernel::Nll => include_str!("nll.wgsl"),
            Kernel::ArgmaxRows => include_str!("argmax_rows.wgsl"),
        }
    }
}

/// Where a matrix's bytes are kept, and so how a kernel reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum WeightStore {
    /// A storage buffer (`weights_buffer.wgsl`): GPUs.
    #[default]
    Buffer,
    /// A sampled 2D texture (`weights_texture.wgsl`): CPU adapters.
    Texture,
    /// The same texture read as a read-only storage texture
    /// (`weights_storage.wgsl`): lavapipe.
    StorageTexture,
}

/// `attention_lanes_body.wgsl` with its V loop (the lines from `// v-pass begin`
/// to `// v-pass end`) replaced by a call of the written-out `v_pass` that
/// `attention_lanes_v_unrolled.wgsl` declares: lavapipe's form, where the
/// loop's moving index into the lanes' sums cost a fifth of the launch.
/// SwiftShader compiles the file as it is.
fn written_out_v_pass(body: &str) -> String {
    const BEGIN: &str = "        // v-pass begin\n";
    const END: &str = "        // v-pass end\n";
    const CALL: &str =
        "        v_pass(&acc, Positions(a0, a1, a2, a3, a4, a5, a6, a7), keep, wa, wb);\n";
    let (Some(b), Some(e)) = (body.find(BEGIN), body.find(END)) else {
        panic!("attention_lanes_body.wgsl lost its v-pass markers");
    };
    format!("{}{CALL}{}", &body[..b], &body[e + END.len()..])
}

/// How a kernel's source is put together, where it has a choice (see
/// `Gpu::variant`). The default is what every adapter runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Variant {
    /// Where the kernel reads its weights from (the prelude declaring
    /// binding 2 and `wv`).
    pub weights: WeightStore,
    /// What every lane reads shared through subgroup broadcasts: decode's x
    /// blocks (`x_subgroup.wgsl`), prefill's tokens (`tile_x_subgroup.wgsl`),
    /// row attention's queries and weights (`attention_share_subgroup.wgsl`),
    /// on adapters with subgroups of 8 lanes or more.
    pub x_subgroup: bool,
    /// Decode's x quantized to int8 in workgroup memory and multiplied with
    /// the weights' raw quants in 32-bit integers (`matvec_q8.wgsl` in
    /// place of `matvec_row.wgsl` and its x prelude): on SwiftShader, for
    /// Q4_0 and Q4_1 weights.
    pub x_q8: bool,
    /// With `x_q8`, the row's blocks of 32 (n_in / 32), which size its
    /// workgroup arrays.
    pub x_q8_blocks: u32,
    /// With `x_q8`, the weights are Q8_0, whose products take
    /// `dot4I8Packed` (`matvec_q8_bytes.wgsl` in place of
    /// `matvec_q8_pairs.wgsl` and `int8_pairs.wgsl`).
    pub x_q8_bytes: bool,
    /// With `x_q8`, a group's four blocks are taken in a loop
    /// (`q8_group_loop.wgsl`) rather than written out
    /// (`q8_group_unrolled.wgsl`): on SwiftShader, whose compiler does not
    /// unroll and compiles the written-out form in twice the time.
    pub q8_group_loop: bool,
    /// Lane attention's V pass as the loop in `attention_lanes.wgsl` rather
    /// than its steps written out (`attention_lanes_v_unrolled.wgsl`, see
    /// `written_out_v_pass`): on SwiftShader, as `q8_group_loop`.
    pub attention_v_loop: bool,
    /// The KV cache in f16 (`kv_f16.wgsl`) rather than f32
    /// (`kv_f32.wgsl`): where the device has `shader-f16` (see
    /// `Gpu::kv_f16`). Set by `Gpu::pipeline` for the kernels that
    /// [`Kernel::touches_kv`].
    pub kv_f16: bool,
    /// The f16 KV cache's mirror in storage textures (`Gpu::kv_mirror`):
    /// lane attention reads it (`attention_kv_mirror.wgsl` in place of
    /// `attention_kv_buffer.wgsl`) and the decode Q|K|V product writes its
    /// new rows into it too (`kv_mirror_write.wgsl` in place of
    /// `kv_mirror_none.wgsl`).
    pub kv_mirror: bool,
}
