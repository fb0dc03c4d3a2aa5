//! A model's hyper-parameters, read from GGUF metadata.

use crate::format::gguf::Gguf;
use crate::{Error, Result};

/// The architectures the forward pass implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Arch {
    Llama,
    /// Gemma 3: GELU feed-forward, norms after attention and feed-forward
    /// too, query/key norms, scaled embeddings, and sliding-window layers
    /// between global ones, each kind with its own RoPE base.
    Gemma3,
    /// Qwen 3: llama with query/key norms and RoPE by halves.
    Qwen3,
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
    /// Sliding-window layers attend to this many positions (0: none).
    pub window: u32,
    /// Every `window_pattern`-th layer is global, the others slide
    /// (Gemma 3: 6, so layers 5, 11, 17 are global). 0: all global.
    pub window_pattern: u32,
    /// RoPE base of the sliding-window layers.
    pub rope_base_local: f32,
    /// Multiplies q·k before the softmax.
    pub attn_scale: f32,
    /// Multiplies the looked-up embedding (Gemma: √dim).
    pub embed_scale: f32,
}

/// One layer's attention settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerAttn {
    /// 0: every earlier position; else the last `window`.
    pub window: u32,
    pub rope_base: f32,
}

impl Config {
    pub fn from_gguf(g: &Gguf) -> Result<Config> {
        let arch_name = g.get_str("general.architecture")?;
        let arch = match arch_name {
            "llama" => Arch::Llama,
            "gemma3" => Arch::Gemma3,
            "qwen3" => Arch::Qwen3,
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
        if n_head == 0 || n_kv_head == 0 || !n_head.is_multiple_of(n_kv_head) {
            return Err(Error::BadConfig(format!(
                "{n_head} heads cannot share {n_kv_head} KV heads"
            )));
        }
        // Gemma's heads are wider than dim / n_head: the file says so.
        let head_dim = match g.get_u64(&k("attention.key_length")) {
            Ok(v) => v as u32,
            Err(_) if dim.is_multiple_of(n_head) => dim / n_head,
            Err(_) => {
                return Err(Error::BadConfig(format!(
                    "{n_head} heads do not divide a hidden size of {dim}"
                )))
            }
        };
        if head_dim > 256 || !head_dim.is_multiple_of(4) {
            return Err(Error::BadConfig(format!(
                "head size {head_dim} is not supported (a multiple of 4, at most 256)"
            )));
        }
        let rope_base = g.get_f64(&k("rope.freq_base")).unwrap_or(10000.0) as f32;
        let mut cfg = Config {
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
            rope_base,
            rope_dim: g
                .get_u64(&k("rope.dimension_count"))
                .unwrap_or(head_dim as u64) as u32,
            rope_neox: false,
            norm_eps: g
                .get_f64(&k("attention.layer_norm_rms_epsilon"))
                .unwrap_or(1e-5) as f32,
            window: 0,
            window_pattern: 0,
            rope_base_local: rope_base,
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            embed_scale: 1.0,
        };
        if arch == Arch::Qwen3 {
            cfg.rope_neox = true;
        }
        if arch == Arch::Gemma3 {
            // As llama.cpp reads Gemma 3: five sliding-window layers to one
            // global; local layers turn at base 10,000; queries scaled by
            // 1/√head_dim; embeddings by √dim; rotation by halves.
            cfg.rope_neox = true;
            cfg.window = g.get_u64(&k("attention.sliding_window")).unwrap_or(0) as u32;
            cfg.window_pattern = 6;
            cfg.rope_base_local = 10000.0;
            cfg.embed_scale = (dim as f32).sqrt();
        }
        if let Ok(s) = g.get_f64(&k("rope.scaling.factor")) {
            if s != 1.0 {
                return Err(Error::BadConfig(format!(
                    "RoPE scaling by {s} is not supported yet"
                )));
            }
        }
        if !cfg.dim.is_multiple_of(32) || !cfg.n_ff.is_multiple_of(32) {
            return Err(Error::BadConfig(
                "hidden and feed-forward sizes must be multiples of 32".into(),
            ));
        }
        Ok(cfg)
    }

    /// Layer `l`'s window and RoPE base.
    pub fn layer_attn(&self, l: u32) -> LayerAttn {
        let local = self.window > 0
            && self.window_pattern > 0
            && l % self.window_pattern < self.window_pattern - 1;
        match local {
            true => LayerAttn {
                window: self.window,
                rope_base: self.rope_base_local,
            },
            false => LayerAttn {
                window: 0,
                rope_base: self.rope_base,
            },
        }
    }

    /// Whether the feed-forward gate is GELU (tanh form) rather than SiLU.
    pub fn gelu(&self) -> bool {
        self.arch == Arch::Gemma3
    }

    /// Width of the query rows: n_head · head_dim.
    pub fn q_dim(&self) -> u32 {
        self.n_head * self.head_dim
    }

    /// Width of the key and value rows: n_kv_head · head_dim.
    pub fn kv_dim(&self) -> u32 {
        self.n_kv_head * self.head_dim
    }
}
