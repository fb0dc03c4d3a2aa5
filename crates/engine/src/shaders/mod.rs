//! The WGSL kernels, one file each, loaded by `include_str!` from this one
//! registry. Kernels that read quantized weights get `quant.wgsl` (the block
//! decoders) appended, and the decode kernels `matvec_row.wgsl`, the fused
//! rotary ones `rope.wgsl`, the gated ones `gate.wgsl`; their variants are
//! override constants (`QTYPE`, `EPILOGUE`).

/// One compute kernel: one WGSL file, whose entry point is named here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Embed,
    RmsNorm,
    Matmul,
    Matvec,
    MatmulTile,
    MatmulTileGroup,
    QkvMatvec,
    RopeSplit,
    RopeKv,
    Attention,
    AttentionVec4,
    AttentionPart,
    AttentionMerge,
    AttentionScores,
    AttentionSoftmax,
    AttentionValues,
    SiluMul,
    HeadNorm,
    Sample,
    Nll,
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
            Kernel::QkvMatvec => "qkv_matvec",
            Kernel::RopeSplit => "rope_split",
            Kernel::RopeKv => "rope_kv",
            Kernel::Attention | Kernel::AttentionVec4 => "attention",
            Kernel::AttentionPart => "attention_part",
            Kernel::AttentionMerge => "attention_merge",
            Kernel::AttentionScores => "attention_scores",
            Kernel::AttentionSoftmax => "attention_softmax",
            Kernel::AttentionValues => "attention_values",
            Kernel::SiluMul => "silu_mul",
            Kernel::HeadNorm => "head_norm",
            Kernel::Sample => "sample",
            Kernel::Nll => "nll_rows",
        }
    }

    pub fn source(self) -> &'static str {
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
                include_str!("matvec_row.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::QkvMatvec => concat!(
                include_str!("qkv_matvec.wgsl"),
                include_str!("matvec_row.wgsl"),
                include_str!("rope.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::RopeSplit => {
                concat!(include_str!("rope_split.wgsl"), include_str!("rope.wgsl"))
            }
            Kernel::MatmulTile => concat!(
                include_str!("matmul_tile_x.wgsl"),
                include_str!("matmul_tile.wgsl"),
                include_str!("gate.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::MatmulTileGroup => concat!(
                include_str!("matmul_tile_group.wgsl"),
                include_str!("matmul_tile.wgsl"),
                include_str!("gate.wgsl"),
                include_str!("quant.wgsl")
            ),
            Kernel::RmsNorm => include_str!("rms_norm.wgsl"),
            Kernel::RopeKv => include_str!("rope_kv.wgsl"),
            Kernel::Attention => include_str!("attention.wgsl"),
            Kernel::AttentionVec4 => include_str!("attention_vec4.wgsl"),
            Kernel::AttentionPart => concat!(
                include_str!("attention_split.wgsl"),
                include_str!("attention_vec4.wgsl")
            ),
            Kernel::AttentionMerge => include_str!("attention_merge.wgsl"),
            Kernel::AttentionScores => concat!(
                include_str!("attention_scores.wgsl"),
                include_str!("attention_rows.wgsl")
            ),
            Kernel::AttentionSoftmax => concat!(
                include_str!("attention_softmax.wgsl"),
                include_str!("attention_rows.wgsl")
            ),
            Kernel::AttentionValues => concat!(
                include_str!("attention_values.wgsl"),
                include_str!("attention_rows.wgsl")
            ),
            Kernel::SiluMul => concat!(include_str!("silu_mul.wgsl"), include_str!("gate.wgsl")),
            Kernel::HeadNorm => include_str!("head_norm.wgsl"),
            Kernel::Sample => include_str!("sample.wgsl"),
            Kernel::Nll => include_str!("nll.wgsl"),
        }
    }
}
