//! The tokenizer, built from the GGUF's own vocabulary with HF `tokenizers`.
//!
//! For `tokenizer.ggml.model = gpt2` (byte-level BPE) the vocabulary and merges
//! become a `tokenizers` BPE model, and `tokenizer.ggml.pre` picks the
//! pre-tokenizer llama.cpp uses for that model family. Control and
//! user-defined tokens become added tokens, so `<|im_start|>` in a chat prompt
//! is one token, as llama.cpp does with special-token parsing on.

use serde_json::{json, Value as Json};

use crate::format::gguf::Gguf;
use crate::{Error, Result};

/// A tokenizer with the GGUF's BOS/EOS rules.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Prepended by [`Tokenizer::encode`] when the GGUF asks for it.
    pub bos: Option<u32>,
    /// Tokens that end a generation (EOS, and EOT where the model has one).
    pub stop: Vec<u32>,
    /// The `tokenizer.json` this tokenizer was built from.
    pub json: String,
}

/// The GPT-2 split pattern, as llama.cpp and `tokenizers`' ByteLevel use it.
fn gpt2_pretokenizer(individual_digits: bool) -> Json {
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    if individual_digits {
        json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level]})
    } else {
        byte_level
    }
}

impl Tokenizer {
    /// Builds the tokenizer described by the GGUF metadata.
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer> {
        let model = g.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::UnsupportedTokenizer(format!(
                "tokenizer model {model:?}"
            )));
        }
        let pre = g.get_str("tokenizer.ggml.pre").unwrap_or("default");
        let pre_tokenizer = match pre {
            // SmolLM, StarCoder: single digits, then the GPT-2 pattern.
            "smollm" | "starcoder" | "refact" => gpt2_pretokenizer(true),
            "gpt2" | "default" | "gpt-2" => gpt2_pretokenizer(false),
            other => {
                return Err(Error::UnsupportedTokenizer(format!(
                    "pre-tokenizer {other:?}"
                )))
            }
        };
        let tokens = g.get_str_array("tokenizer.ggml.tokens")?;
        let merges = g.get_str_array("tokenizer.ggml.merges")?;
        let types: Vec<u64> = match g.get("tokenizer.ggml.token_type") {
            Ok(v) => v
                .as_array()
                .unwrap_or(&[])
                .iter()
                .map(|t| t.as_u64().unwrap_or(1))
                .collect(),
            Err(_) => vec![],
        };
        let mut vocab = serde_json::Map::new();
        let mut added = Vec::new();
        for (id, tok) in tokens.iter().enumerate() {
            vocab.insert(tok.to_string(), json!(id));
            // 3 = control, 4 = user-defined (llama.cpp's llama_token_type).
            let ty = types.get(id).copied().unwrap_or(1);
            if ty == 3 || ty == 4 {
                added.push(
                    json!({"id": id, "content": tok, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": ty == 3}),
                );
            }
        }
        let doc = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": merges},
        });
        let json = doc.to_string();
        let add_bos = g
            .get("tokenizer.ggml.add_bos_token")
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let id = |k: &str| g.get_u64(k).ok().map(|v| v as u32);
        let bos = if add_bos {
            id("tokenizer.ggml.bos_token_id")
        } else {
            None
        };
        let stop: Vec<u32> = [
            id("tokenizer.ggml.eos_token_id"),
            id("tokenizer.ggml.eot_token_id"),
        ]
        .into_iter()
        .flatten()
        .collect();
        Tokenizer::from_json(json, bos, stop)
    }

    /// A tokenizer from HF `tokenizer.json` text (as [`Tokenizer::from_gguf`]
    /// builds it and `locum shard` writes it) with its BOS and stop tokens.
    pub fn from_json(json: String, bos: Option<u32>, stop: Vec<u32>) -> Result<Tokenizer> {
        let inner = tokenizers::Tokenizer::from_bytes(json.as_bytes())
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(Tokenizer {
            inner,
            bos,
            stop,
            json,
        })
    }

    /// Token ids of `text`, with the BOS the model wants. Special tokens
    /// written in the text (`<|im_start|>`) become their ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        ids.extend(self.bos);
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// The text of `ids`, special tokens included as written.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    pub fn is_stop(&self, id: u32) -> bool {
        self.stop.contains(&id)
    }

    /// Tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The special (control) tokens such as `<|im_end|>`, which never
    /// stand for text, sorted.
    pub fn special_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The text of one token, as stored in the vocabulary.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }
}

/// Turns a stream of token ids into a stream of text, holding back bytes
/// until they form whole UTF-8 characters.
#[derive(Default)]
pub struct TextStream {
    ids: Vec<u32>,
    emitted: usize,
}

impl TextStream {
    /// Adds a token and returns the new text it completes (maybe empty).
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<String> {
        self.ids.push(id);
        let text = tok.decode(&self.ids)?;
        // A trailing U+FFFD means a character is still incomplete.
        if text.ends_with('\u{fffd}') || text.len() < self.emitted {
            return Ok(String::new());
        }
        let new = text[self.emitted..].to_string();
        self.emitted = text.len();
        Ok(new)
    }
}
