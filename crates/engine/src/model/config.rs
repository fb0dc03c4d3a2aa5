//! A model's hyper-parameters, read from GGUF metadata.

use crate::format::gguf::Gguf;
use crate::{Error, Result};

/// The architectures the forward pass implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Arch {
    Llama,
}

/// Hyper-parameters of a decoder-only transformer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    pub arch: Arch,
    pub name: String,
    /// Hidden size (`embedding_length`).
    pub dim: u32,
    pub n_layers: u32,
    pub n_head: u32,
    pub n_kv_head: u32,
    pub head_dim: u32,
    /// Feed-forward hidden size.
    pub n_ff: u32,
    pub vocab: u32,
    /// Context length the model was trained for.
    pub train_ctx: u32,
    pub rope_base: f32,
    /// Dimensions of each head that RoPE rotates.
    pub rope_dim: u32,
    /// RoPE pairing: false = adjacent pairs (llama), true = halves (neox).
    pub rope_neox: bool,
    pub norm_eps: f32,
}

impl Config {
    pub fn from_gguf(g: &Gguf) -> Result<Config> {
        let arch_name = g.get_str("general.architecture")?;
        let arch = match arch_name {
            "llama" => Arch::Llama,
            other => return Err(Error::UnsupportedArch(other.to_string())),
        };
        let k = |s: &str| format!("{arch_name}.{s}");
        let dim = g.get_u64(&k("embedding_length"))? as u32;
        let n_head = g.get_u64(&k("attention.head_count"))? as u32;
        let n_kv_head = g
            .get_u64(&k("attention.head_count_kv"))
            .unwrap_or(n_head as u64) as u32;
        let embd = g
            .tensor("token_embd.weight")
            .ok_or_else(|| Error::MissingTensor("token_embd.weight".into()))?;
        if n_head == 0
            || n_kv_head == 0
            || !dim.is_multiple_of(n_head)
            || !n_head.is_multiple_of(n_kv_head)
        {
            return Err(Error::BadConfig(format!(
                "{n_head} heads and {n_kv_head} KV heads do not divide a hidden size of {dim}"
            )));
        }
        let head_dim = dim / n_head;
        if head_dim > 256 || !head_dim.is_multiple_of(2) {
            return Err(Error::BadConfig(format!(
                "head size {head_dim} is not supported (even, at most 256)"
            )));
        }
        let cfg = Config {
            arch,
            name: g
                .get_str("general.name")
                .unwrap_or("unnamed model")
                .to_string(),
            dim,
            n_layers: g.get_u64(&k("block_count"))? as u32,
            n_head,
            n_kv_head,
            head_dim,
            n_ff: g.get_u64(&k("feed_forward_length"))? as u32,
            vocab: embd.shape.get(1).copied().unwrap_or(0) as u32,
            train_ctx: g.get_u64(&k("context_length")).unwrap_or(2048) as u32,
            rope_base: g.get_f64(&k("rope.freq_base")).unwrap_or(10000.0) as f32,
            rope_dim: g
                .get_u64(&k("rope.dimension_count"))
                .unwrap_or(head_dim as u64) as u32,
            rope_neox: false,
            norm_eps: g
                .get_f64(&k("attention.layer_norm_rms_epsilon"))
                .unwrap_or(1e-5) as f32,
        };
        if !cfg.dim.is_multiple_of(32) || !cfg.n_ff.is_multiple_of(32) {
            return Err(Error::BadConfig(
                "hidden and feed-forward sizes must be multiples of 32".into(),
            ));
        }
        Ok(cfg)
    }
}
