//! The plain CPU forward pass: the twin the GPU one is held to.
//!
//! Every weight is dequantized to f32 once, and every step is the textbook
//! formula, one token at a time, with no fusion and no kernel. It is slow
//! (the output head alone is vocab × dim multiply-adds per token) and it is
//! the definition: `tests/gemma3_vs_llamacpp.rs` holds it to llama.cpp, and
//! the GPU forward pass to it, for architectures (Gemma 3) where candle's
//! implementation is not a usable reference.

use crate::format::gguf::Gguf;
use crate::format::quant::dequantize;
use crate::model::{Config, GgufModel};
use crate::{Error, Result};

/// A model's weights in f32, and its KV cache.
pub struct Reference {
    pub cfg: Config,
    /// (vocab, dim)
    embd: Vec<f32>,
    /// (vocab, dim); `None`: tied to the embedding.
    output: Option<Vec<f32>>,
    out_norm: Vec<f32>,
    layers: Vec<Layer>,
    /// Per layer: (positions, kv_dim).
    k_cache: Vec<Vec<f32>>,
    v_cache: Vec<Vec<f32>>,
    pos: usize,
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: Vec<f32>,
    wk: Vec<f32>,
    wv: Vec<f32>,
    wo: Vec<f32>,
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    post_attn_norm: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    wg: Vec<f32>,
    wu: Vec<f32>,
    wd: Vec<f32>,
    post_ffw_norm: Option<Vec<f32>>,
}

fn tensor(g: &Gguf, bytes: &[u8], name: &str) -> Result<Vec<f32>> {
    let info = g
        .tensor(name)
        .ok_or_else(|| Error::MissingTensor(name.to_string()))?;
    dequantize(info.ty, &bytes[g.tensor_range(info)]).ok_or_else(|| Error::UnsupportedType {
        tensor: name.to_string(),
        ty: info.ty.name(),
    })
}

fn optional(g: &Gguf, bytes: &[u8], name: &str) -> Result<Option<Vec<f32>>> {
    match g.tensor(name) {
        Some(_) => tensor(g, bytes, name).map(Some),
        None => Ok(None),
    }
}

/// y = W·x, W (rows, x.len()), rows split over the machine's cores.
fn matvec(w: &[f32], x: &[f32]) -> Vec<f32> {
    let n = x.len();
    let rows = w.len() / n;
    let mut y = vec![0.0f32; rows];
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = rows.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (i, out) in y.chunks_mut(per).enumerate() {
            s.spawn(move || {
                for (j, o) in out.iter_mut().enumerate() {
                    let r = i * per + j;
                    *o = w[r * n..(r + 1) * n]
                        .iter()
                        .zip(x)
                        .map(|(a, b)| a * b)
                        .sum();
                }
            });
        }
    });
    y
}

/// x / rms(x) · w
fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let inv = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, w)| v * inv * w).collect()
}

/// Rotates each head of `x` (heads of `hd`) for position `pos`.
fn rope(x: &mut [f32], hd: usize, rope_dim: usize, base: f32, neox: bool, pos: usize) {
    let half = rope_dim / 2;
    for head in x.chunks_mut(hd) {
        for i in 0..half {
            let theta = pos as f32 * base.powf(-2.0 * i as f32 / rope_dim as f32);
            let (s, c) = theta.sin_cos();
            let (a, b) = if neox {
                (i, i + half)
            } else {
                (2 * i, 2 * i + 1)
            };
            let (xa, xb) = (head[a], head[b]);
            head[a] = xa * c - xb * s;
            head[b] = xa * s + xb * c;
        }
    }
}

/// GELU, tanh form.
fn gelu(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    0.5 * x * (1.0 + (C * (x + 0.044715 * x * x * x)).tanh())
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

impl Reference {
    /// Dequantizes every weight of `file` (f32: four bytes per weight).
    pub fn load(file: &GgufModel) -> Result<Reference> {
        let cfg = Config::from_gguf(&file.gguf)?;
        let (g, b) = (&file.gguf, file.bytes);
        let mut layers = Vec::with_capacity(cfg.n_layers as usize);
        for l in 0..cfg.n_layers {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            layers.push(Layer {
                attn_norm: tensor(g, b, &n("attn_norm"))?,
                wq: tensor(g, b, &n("attn_q"))?,
                wk: tensor(g, b, &n("attn_k"))?,
                wv: tensor(g, b, &n("attn_v"))?,
                wo: tensor(g, b, &n("attn_output"))?,
                q_norm: optional(g, b, &n("attn_q_norm"))?,
                k_norm: optional(g, b, &n("attn_k_norm"))?,
                post_attn_norm: optional(g, b, &n("post_attention_norm"))?,
                ffn_norm: tensor(g, b, &n("ffn_norm"))?,
                wg: tensor(g, b, &n("ffn_gate"))?,
                wu: tensor(g, b, &n("ffn_up"))?,
                wd: tensor(g, b, &n("ffn_down"))?,
                post_ffw_norm: optional(g, b, &n("post_ffw_norm"))?,
            });
        }
        Ok(Reference {
            embd: tensor(g, b, "token_embd.weight")?,
            output: optional(g, b, "output.weight")?,
            out_norm: tensor(g, b, "output_norm.weight")?,
            k_cache: vec![Vec::new(); cfg.n_layers as usize],
            v_cache: vec![Vec::new(); cfg.n_layers as usize],
            layers,
            cfg,
            pos: 0,
        })
    }

    /// Forgets the context.
    pub fn reset(&mut self) {
        self.pos = 0;
        for c in self.k_cache.iter_mut().chain(self.v_cache.iter_mut()) {
            c.clear();
        }
    }

    /// Positions in the KV cache.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Runs one token at the next position and returns the logits after it.
    pub fn step(&mut self, token: u32) -> Vec<f32> {
        let c = self.cfg.clone();
        let (dim, hd, eps) = (c.dim as usize, c.head_dim as usize, c.norm_eps);
        let (nh, nkv) = (c.n_head as usize, c.n_kv_head as usize);
        let kv_dim = nkv * hd;
        let pos = self.pos;
        let row = token.min(c.vocab - 1) as usize;
        let mut x: Vec<f32> = self.embd[row * dim..(row + 1) * dim]
            .iter()
            .map(|v| v * c.embed_scale)
            .collect();
        for (l, w) in self.layers.iter().enumerate() {
            let la = c.layer_attn(l as u32);
            let xn = rms_norm(&x, &w.attn_norm, eps);
            let mut q = matvec(&w.wq, &xn);
            let mut k = matvec(&w.wk, &xn);
            let v = matvec(&w.wv, &xn);
            if let Some(qn) = &w.q_norm {
                q = q.chunks(hd).flat_map(|h| rms_norm(h, qn, eps)).collect();
            }
            if let Some(kn) = &w.k_norm {
                k = k.chunks(hd).flat_map(|h| rms_norm(h, kn, eps)).collect();
            }
            let rd = c.rope_dim as usize;
            rope(&mut q, hd, rd, la.rope_base, c.rope_neox, pos);
            rope(&mut k, hd, rd, la.rope_base, c.rope_neox, pos);
            self.k_cache[l].extend_from_slice(&k);
            self.v_cache[l].extend_from_slice(&v);
            let (kc, vc) = (&self.k_cache[l], &self.v_cache[l]);
            let first = match la.window {
                0 => 0,
                w => (pos + 1).saturating_sub(w as usize),
            };
            let mut att = vec![0.0f32; nh * hd];
            for h in 0..nh {
                let kvh = h / (nh / nkv);
                let qh = &q[h * hd..(h + 1) * hd];
                let scores: Vec<f32> = (first..=pos)
                    .map(|p| {
                        let kp = &kc[p * kv_dim + kvh * hd..p * kv_dim + (kvh + 1) * hd];
                        qh.iter().zip(kp).map(|(a, b)| a * b).sum::<f32>() * c.attn_scale
                    })
                    .collect();
                let m = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                let total: f32 = e.iter().sum();
                let out = &mut att[h * hd..(h + 1) * hd];
                for (p, wgt) in (first..=pos).zip(&e) {
                    let vp = &vc[p * kv_dim + kvh * hd..p * kv_dim + (kvh + 1) * hd];
                    for (o, vv) in out.iter_mut().zip(vp) {
                        *o += wgt / total * vv;
                    }
                }
            }
            let mut o = matvec(&w.wo, &att);
            if let Some(n) = &w.post_attn_norm {
                o = rms_norm(&o, n, eps);
            }
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
            let xn = rms_norm(&x, &w.ffn_norm, eps);
            let gate = matvec(&w.wg, &xn);
            let up = matvec(&w.wu, &xn);
            let act: fn(f32) -> f32 = if c.gelu() { gelu } else { silu };
            let hidden: Vec<f32> = gate.iter().zip(&up).map(|(g, u)| act(*g) * u).collect();
            let mut d = matvec(&w.wd, &hidden);
            if let Some(n) = &w.post_ffw_norm {
                d = rms_norm(&d, n, eps);
            }
            x.iter_mut().zip(&d).for_each(|(a, b)| *a += b);
        }
        self.pos += 1;
        let xn = rms_norm(&x, &self.out_norm, eps);
        matvec(self.output.as_ref().unwrap_or(&self.embd), &xn)
    }

    /// `n` greedy tokens after `prompt` (ties to the lower id).
    pub fn greedy(&mut self, prompt: &[u32], n: usize) -> Vec<u32> {
        let mut logits = Vec::new();
        for &t in prompt {
            logits = self.step(t);
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let next = argmax(&logits);
            out.push(next);
            logits = self.step(next);
        }
        out
    }

    /// Negative log-likelihood of each token of `text` after those before it.
    pub fn nll(&mut self, text: &[u32]) -> Vec<f32> {
        self.reset();
        let mut out = Vec::with_capacity(text.len().saturating_sub(1));
        for w in text.windows(2) {
            let logits = self.step(w[0]);
            let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let lse = m + logits.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
            out.push(lse - logits[w[1] as usize]);
        }
        out
    }
}

/// The index of the largest value (the first of equals).
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}
