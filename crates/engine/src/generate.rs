//! A generation session: model, tokenizer and chat template together, and
//! the loop that streams text token by token with its timings.

use web_time::Instant;

use crate::chat::{ChatTemplate, Message};
use crate::format::manifest::Manifest;
use crate::gpu::Gpu;
use crate::model::{GgufModel, Model, Sampling};
use crate::tokenizer::{TextStream, Tokenizer};
use crate::{Error, Result};

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a generation did, and how fast.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct GenStats {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// Prompt processing up to and including the first sampled token.
    pub time_to_first_token_ms: f64,
    /// Time spent on the tokens after the first.
    pub decode_ms: f64,
    /// Why it stopped: "eos", "max_tokens", "stopped" or "context".
    pub stop_reason: String,
    /// The generated ids.
    pub tokens: Vec<u32>,
}

impl GenStats {
    pub fn prefill_tokens_per_s(&self) -> f64 {
        self.prompt_tokens as f64 / (self.time_to_first_token_ms / 1e3)
    }
    pub fn decode_tokens_per_s(&self) -> f64 {
        (self.generated_tokens.saturating_sub(1)) as f64 / (self.decode_ms / 1e3)
    }
}

pub struct Session {
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub template: Option<ChatTemplate>,
}

impl Session {
    /// Loads a whole GGUF file (in memory) onto `gpu` with a KV cache of `ctx` positions.
    pub fn load(gpu: &Gpu, bytes: &[u8], ctx: u32) -> Result<Session> {
        let file = GgufModel::parse(bytes)?;
        let tokenizer = Tokenizer::from_gguf(&file.gguf)?;
        let template = ChatTemplate::from_gguf(&file.gguf).ok();
        let model = Model::load(gpu, &file, ctx)?;
        Ok(Session {
            model,
            tokenizer,
            template,
        })
    }

    /// Builds a session for the sharded model `manifest` (already parsed and
    /// checked) with its `tokenizer.json` text: every GPU buffer exists, the
    /// weights are still empty. Then [`Model::upload`] every shard's tensors
    /// ([`Session::upload_shard`]) and call [`Model::finish_upload`].
    pub fn prepare(
        gpu: &Gpu,
        manifest: &Manifest,
        tokenizer_json: String,
        ctx: u32,
    ) -> Result<Session> {
        let t = &manifest.tokenizer;
        let tokenizer = Tokenizer::from_json(tokenizer_json, t.bos, t.stop.clone())?;
        let template = t.chat_template.as_ref().map(ChatTemplate::from_meta);
        let model = Model::new(gpu, manifest.config.clone(), &manifest.tensors, ctx)?;
        Ok(Session {
            model,
            tokenizer,
            template,
        })
    }

    /// Uploads every tensor of shard `index`, whose verified bytes are `bytes`.
    pub fn upload_shard(&self, manifest: &Manifest, index: u32, bytes: &[u8]) -> Result<()> {
        for e in manifest.in_shard(index) {
            let range = e.offset as usize..(e.offset + e.bytes) as usize;
            let slice = bytes.get(range).ok_or_else(|| {
                Error::BadManifest(format!("tensor {} lies outside its shard", e.name))
            })?;
            self.model.upload(e, slice)?;
        }
        Ok(())
    }

    /// Loads the shard directory `dir` (`manifest.json`, `tokenizer.json`,
    /// the shards), checking every shard's sha256 on the way: the native
    /// twin of the browser's loader, through the same manifest code.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_dir(gpu: &Gpu, dir: &std::path::Path, ctx: u32) -> Result<Session> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| Error::Io {
                file: name.to_string(),
                reason: e.to_string(),
            })
        };
        let manifest_text = String::from_utf8(read("manifest.json")?)
            .map_err(|_| Error::BadManifest("it is not UTF-8 text".into()))?;
        let manifest = Manifest::parse(&manifest_text)?;
        let tok = read(&manifest.tokenizer.file)?;
        if sha256_hex(&tok) != manifest.tokenizer.sha256 {
            return Err(Error::BadChecksum {
                file: manifest.tokenizer.file.clone(),
            });
        }
        let tok = String::from_utf8(tok)
            .map_err(|_| Error::BadManifest("tokenizer.json is not UTF-8 text".into()))?;
        let session = Session::prepare(gpu, &manifest, tok, ctx)?;
        for (i, shard) in manifest.shards.iter().enumerate() {
            let bytes = read(&shard.file)?;
            if bytes.len() as u64 != shard.bytes || sha256_hex(&bytes) != shard.sha256 {
                return Err(Error::BadChecksum {
                    file: shard.file.clone(),
                });
            }
            session.upload_shard(&manifest, i as u32, &bytes)?;
        }
        session.model.finish_upload()?;
        Ok(session)
    }

    /// The token ids for `prompt`: as a user turn in the model's chat
    /// template when `chat` is set, else the raw text.
    pub fn prompt_ids(&self, prompt: &str, chat: bool) -> Result<Vec<u32>> {
        let text = match (&self.template, chat) {
            (Some(t), true) => t.render(&[Message::new("user", prompt)], true)?,
            (None, true) => return Err(crate::Error::NoChatTemplate),
            _ => prompt.to_string(),
        };
        self.tokenizer.encode(&text)
    }

    /// Generates up to `max_tokens` after `prompt_ids` from an empty context,
    /// calling `on_text` with each new piece of text; when it returns false the
    /// generation stops.
    pub async fn generate(
        &mut self,
        prompt_ids: &[u32],
        max_tokens: usize,
        sampling: Sampling,
        on_text: impl FnMut(&str) -> bool,
    ) -> Result<GenStats> {
        self.generate_until(prompt_ids, max_tokens, sampling, &|| false, on_text)
            .await
    }

    /// [`Session::generate`] that also stops, during the prompt too, as soon
    /// as `stop()` is true (the worker's Stop button).
    pub async fn generate_until(
        &mut self,
        prompt_ids: &[u32],
        max_tokens: usize,
        sampling: Sampling,
        stop: &dyn Fn() -> bool,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> Result<GenStats> {
        self.model.reset();
        self.model.set_sampling(sampling);
        let mut stats = GenStats {
            prompt_tokens: prompt_ids.len(),
            stop_reason: "max_tokens".into(),
            ..Default::default()
        };
        let mut stream = TextStream::default();
        let start = Instant::now();
        let Some(mut next) = self.model.prefill_until(prompt_ids, stop).await? else {
            stats.stop_reason = "stopped".into();
            return Ok(stats);
        };
        stats.time_to_first_token_ms = start.elapsed().as_secs_f64() * 1e3;
        let decode_start = Instant::now();
        while stats.generated_tokens < max_tokens {
            if self.tokenizer.is_stop(next) {
                stats.stop_reason = "eos".into();
                break;
            }
            stats.generated_tokens += 1;
            stats.tokens.push(next);
            let piece = stream.push(&self.tokenizer, next)?;
            if !on_text(&piece) || stop() {
                stats.stop_reason = "stopped".into();
                break;
            }
            if stats.generated_tokens >= max_tokens {
                break;
            }
            if self.model.pos() >= self.model.ctx {
                stats.stop_reason = "context".into();
                break;
            }
            next = self.model.decode().await?;
        }
        stats.decode_ms = decode_start.elapsed().as_secs_f64() * 1e3;
        Ok(stats)
    }
}
