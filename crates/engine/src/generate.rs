//! A generation session: model, tokenizer and chat template together, and
//! the loop that streams text token by token with its timings.

use web_time::Instant;

use crate::chat::{ChatTemplate, Message};
use crate::format::manifest::Manifest;
use crate::gpu::Gpu;
use crate::model::{GgufModel, Model, Sampling, MAX_DRAFT};
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
    /// How many of the last generated tokens are not yet in the KV cache
    /// (see [`Session::continue_until`]): 0 or 1, or more where a grammar's
    /// forced tokens ended the phase.
    pub unfed: usize,
    /// Of `generated_tokens`, those a constraint forced: fed in a batch
    /// without a sampling step each ([`TokenConstraint::forced`]).
    pub forced_tokens: usize,
    /// Tokens at the prompt's start that the KV cache already held from
    /// the prompt before (`Model::reset_keeping`), not read again; not in
    /// `prompt_tokens`, which counts what was read.
    pub reused_tokens: usize,
    /// Tokens drafted by prompt lookup and checked ([`Session::lookup`]),
    /// and of those, the ones accepted: each accepted one is a token
    /// generated without a decode step of its own.
    #[serde(default)]
    pub drafted_tokens: usize,
    #[serde(default)]
    pub accepted_tokens: usize,
    /// Under a grammar, checked tokens the grammar's mask did not allow
    /// (the model's greedy choice was not the masked one): each cost the
    /// token before a step again, fed under the mask.
    #[serde(default)]
    pub refed_tokens: usize,
}

impl GenStats {
    pub fn prefill_tokens_per_s(&self) -> f64 {
        self.prompt_tokens as f64 / (self.time_to_first_token_ms / 1e3)
    }
    pub fn decode_tokens_per_s(&self) -> f64 {
        (self.generated_tokens.saturating_sub(1)) as f64 / (self.decode_ms / 1e3)
    }
}

/// What a caller steers and watches while a prompt is read and an answer
/// written: whether to stop (checked between prompt batches and after every
/// token) and how far the prompt has been read. A plain `Fn() -> bool` is
/// a `Control` that only stops.
pub trait Control {
    /// True as soon as the caller wants the work to end (the Stop button).
    fn stop(&self) -> bool;
    /// `done` of the prompt's `total` tokens are in the KV cache; called
    /// after each batch but the last, whose end is the first token. A
    /// prompt of one batch reports nothing.
    fn prompt_read(&self, _done: usize, _total: usize) {}
}

impl<F: Fn() -> bool> Control for F {
    fn stop(&self) -> bool {
        self()
    }
}

pub struct Session {
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub template: Option<ChatTemplate>,
    /// Whether greedy generation, under a grammar or not, drafts tokens by
    /// prompt lookup and checks them in one batch ([`draft_by_lookup`],
    /// [`Model::check`]). See [`lookup_default`].
    pub lookup: bool,
}

/// Whether [`Session::lookup`] starts on: yes, on every adapter; the
/// drafts are checked only while they pay ([`DraftOdds`]). With drafts
/// after runs of three tokens or more, the assistant's reasoning over the
/// example cases came out 14% faster on average on lavapipe (one case of
/// five 2% slower), and 21–33% faster on SwiftShader in the page (BENCHMARKS.md,
/// "twenty-first session"); under the differential's grammar, its tokens
/// 13–76% faster a token on lavapipe ("twenty-second session").
/// `LOCUM_LOOKUP=0|1` decides otherwise:
/// natively when the program runs, in the page when it is built.
pub fn lookup_default() -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    let env = std::env::var("LOCUM_LOOKUP").ok();
    #[cfg(target_arch = "wasm32")]
    let env = option_env!("LOCUM_LOOKUP").map(str::to_string);
    env.is_none_or(|v| v != "0")
}

/// Whether drafts are worth checking, from how many of the drafts so far
/// greedy decode agreed with: checked ones by [`Model::verify`], and those
/// left unchecked by the tokens decoded after them. A batch that checks
/// drafts costs `cost` decode steps and gives the accepted drafts and one
/// token more, so drafts pay where more than `cost − 1` of them are
/// accepted on average. The decision depends on the tokens only, never on
/// the clock, so a case asked twice gets the same answer.
#[derive(Debug, Clone)]
pub struct DraftOdds {
    /// Accepted drafts per checked draft, an exponential moving average.
    accepted: f32,
    cost: f32,
    /// An unchecked draft being compared with the tokens decoded after it,
    /// and how many of them agreed so far.
    shadow: Vec<u32>,
    agreed: usize,
}

impl DraftOdds {
    /// Weight of the latest draft in the average.
    const RATE: f32 = 0.3;

    /// Starts hopeful (two accepted per draft), so the first drafts are
    /// checked, with a batch costing `cost` decode steps.
    pub fn new(cost: f32) -> DraftOdds {
        DraftOdds {
            accepted: 2.0,
            cost,
            shadow: Vec::new(),
            agreed: 0,
        }
    }

    /// Whether to check the next drafts in a batch.
    pub fn worth_checking(&self) -> bool {
        self.accepted + 1.0 >= self.cost
    }

    /// Drafts checked in a batch: `accepted` of them were. An unchecked
    /// draft still followed is dropped.
    pub fn checked(&mut self, accepted: usize) {
        self.shadow.clear();
        self.record(accepted);
    }

    fn record(&mut self, accepted: usize) {
        self.accepted += Self::RATE * (accepted as f32 - self.accepted);
    }

    /// Drafts not checked: the tokens decoded next tell how many would
    /// have been accepted (one draft at a time is followed).
    pub fn unchecked(&mut self, drafts: &[u32]) {
        if self.shadow.is_empty() {
            self.shadow = drafts.to_vec();
            self.agreed = 0;
        }
    }

    /// A token decoded one step at a time.
    pub fn decoded(&mut self, token: u32) {
        if self.shadow.is_empty() {
            return;
        }
        if self.shadow[self.agreed] == token {
            self.agreed += 1;
            if self.agreed < self.shadow.len() {
                return;
            }
        }
        self.record(self.agreed);
        self.shadow.clear();
    }
}

/// The shortest run of tokens a draft must follow ([`draft_by_lookup`]):
/// runs of two (", the", "(mmHg") recur everywhere and their drafts were
/// accepted 2.1 tokens a check on average against 3.6 after runs of three,
/// too few for a batch on a CPU adapter.
pub const LOOKUP_MIN_NGRAM: usize = 3;
/// The longest run of tokens tried first.
pub const LOOKUP_MAX_NGRAM: usize = 4;

/// Prompt-lookup drafting: where the last `n` tokens of `history` (n from
/// [`LOOKUP_MAX_NGRAM`] down to [`LOOKUP_MIN_NGRAM`]) occurred before, the
/// up to `max` tokens that followed their latest earlier occurrence. A
/// model that quotes its case (a finding, a value with its date, a drug's
/// name) repeats runs of the prompt, and these are its likely next tokens.
/// Empty where no such run occurred before.
pub fn draft_by_lookup(history: &[u32], max: usize) -> &[u32] {
    let len = history.len();
    if max == 0 {
        return &[];
    }
    for n in (LOOKUP_MIN_NGRAM..=LOOKUP_MAX_NGRAM).rev() {
        if len <= n {
            continue;
        }
        let tail = &history[len - n..];
        // Latest first; a match must end before the tail's last token, so
        // at least one token follows it.
        for start in (0..len - n).rev() {
            if &history[start..start + n] == tail {
                let from = start + n;
                return &history[from..(from + max).min(len)];
            }
        }
    }
    &[]
}

impl Session {
    /// Loads a whole GGUF file (in memory) onto `gpu` with a KV cache of `ctx` positions.
    pub fn load(gpu: &Gpu, bytes: &[u8], ctx: u32) -> Result<Session> {
        let file = GgufModel::parse(bytes)?;
        // Natively the tokenizer is built beside the model.
        #[cfg(not(target_arch = "wasm32"))]
        let (tokenizer, model) = std::thread::scope(|s| {
            let tokenizer = s.spawn(|| Tokenizer::from_gguf(&file.gguf));
            let model = Model::load(gpu, &file, ctx);
            let tokenizer = tokenizer
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (tokenizer, model)
        });
        #[cfg(target_arch = "wasm32")]
        let (tokenizer, model) = (
            Tokenizer::from_gguf(&file.gguf),
            Model::load(gpu, &file, ctx),
        );
        let (tokenizer, model) = (tokenizer?, model?);
        let template = ChatTemplate::from_gguf(&file.gguf).ok();
        Ok(Session {
            model,
            tokenizer,
            template,
            lookup: lookup_default(),
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
            lookup: lookup_default(),
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

    /// Generates up to `max_tokens` after `prompt_ids` as from an empty context,
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
    /// as `control.stop()` is true (the worker's Stop button), and reports
    /// how far the prompt has been read. The start of the prompt that the
    /// KV cache holds from the prompt before is not read again
    /// ([`Model::reset_keeping`], [`GenStats::reused_tokens`]).
    pub async fn generate_until(
        &mut self,
        prompt_ids: &[u32],
        max_tokens: usize,
        sampling: Sampling,
        control: &dyn Control,
        on_text: impl FnMut(&str) -> bool,
    ) -> Result<GenStats> {
        let reused = self.model.reset_keeping(prompt_ids);
        self.model.set_sampling(sampling);
        let mut stats = self
            .continue_until(&prompt_ids[reused..], max_tokens, None, control, on_text)
            .await?;
        stats.reused_tokens = reused;
        Ok(stats)
    }

    /// Runs `ids` from the current context position (appending to what is
    /// in the KV cache) and generates up to `max_tokens` after them, with the
    /// sampling already set. With a `constraint`, every token is sampled
    /// under its mask (applied on the GPU) and the phase ends when the
    /// constraint is finished. `on_text` returning false ends the phase.
    ///
    /// Where the constraint forces tokens (the grammar allows one only:
    /// a JSON key, the punctuation between fields), they are taken without
    /// sampling and fed with the sampled token before them in one batch,
    /// the prompt's kernels, rather than a decode step each; the batch
    /// samples the token after them. Greedy text with [`Session::lookup`]
    /// goes through `continue_lookup`, which drafts as well.
    ///
    /// The last generated tokens are not yet in the KV cache when a phase
    /// ends (the next step would feed them): their count is returned in
    /// [`GenStats::unfed`], and a following phase passes them first in its
    /// `ids` to continue the same text.
    pub async fn continue_until(
        &mut self,
        ids: &[u32],
        max_tokens: usize,
        mut constraint: Option<&mut dyn TokenConstraint>,
        control: &dyn Control,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> Result<GenStats> {
        let mut stats = GenStats {
            prompt_tokens: ids.len(),
            stop_reason: "max_tokens".into(),
            ..Default::default()
        };
        let mut stream = TextStream::default();
        let start = Instant::now();
        let masked = |c: &mut Option<&mut dyn TokenConstraint>, m: &mut Model| -> Result<()> {
            match c {
                Some(c) => m.set_mask(Some(&c.mask().map_err(Error::Constraint)?)),
                None => m.set_mask(None),
            }
        };
        masked(&mut constraint, &mut self.model)?;
        let first = self.model.prefill_until(ids, control).await;
        let Some(mut next) = first? else {
            stats.stop_reason = "stopped".into();
            self.model.set_mask(None)?;
            return Ok(stats);
        };
        stats.time_to_first_token_ms = start.elapsed().as_secs_f64() * 1e3;
        let decode_start = Instant::now();
        if self.lookup && self.model.greedy() {
            let done = self
                .continue_lookup(
                    next,
                    max_tokens,
                    constraint,
                    control,
                    &mut stats,
                    &mut on_text,
                )
                .await;
            self.model.settle();
            let unmasked = self.model.set_mask(None);
            done?;
            unmasked?;
            stats.decode_ms = decode_start.elapsed().as_secs_f64() * 1e3;
            return Ok(stats);
        }
        // Generated tokens not yet in the KV cache: the last sampled one,
        // then any the constraint forced after it.
        let mut unfed: Vec<u32> = Vec::new();
        let mut take: Vec<u32> = Vec::new();
        'tokens: while stats.generated_tokens < max_tokens {
            if next == u32::MAX {
                return Err(Error::Constraint(
                    "the grammar allowed no token at all".into(),
                ));
            }
            // The sampled token, then (under a constraint) the tokens it
            // forces, each taken as the grammar's next; room is left for
            // every one of them in the cap and the context.
            let room = (self.model.ctx - self.model.pos()) as usize;
            take.clear();
            take.push(next);
            let mut i = 0;
            while i < take.len() {
                let token = take[i];
                i += 1;
                if let Some(c) = constraint.as_deref_mut() {
                    c.accept(token).map_err(Error::Constraint)?;
                }
                if self.tokenizer.is_stop(token) {
                    stats.stop_reason = "eos".into();
                    break 'tokens;
                }
                stats.generated_tokens += 1;
                stats.forced_tokens += usize::from(i > 1);
                stats.tokens.push(token);
                unfed.push(token);
                let piece = stream.push(&self.tokenizer, token)?;
                if !on_text(&piece) || control.stop() {
                    stats.stop_reason = "stopped".into();
                    break 'tokens;
                }
                if constraint.as_deref().is_some_and(|c| c.is_finished()) {
                    stats.stop_reason = "complete".into();
                    break 'tokens;
                }
                if stats.generated_tokens >= max_tokens {
                    break 'tokens;
                }
                if unfed.len() > room {
                    stats.stop_reason = "context".into();
                    break 'tokens;
                }
                if i == take.len() {
                    if let Some(c) = constraint.as_deref_mut() {
                        let left = (max_tokens - stats.generated_tokens).min(room - unfed.len());
                        take.extend(c.forced().into_iter().take(left));
                    }
                }
            }
            // Under a grammar each mask follows the token before, so the
            // steps go one at a time; otherwise the next step is submitted
            // before this one's token is read back (`Model::decode_ahead`).
            next = match constraint {
                Some(_) => {
                    masked(&mut constraint, &mut self.model)?;
                    match unfed.len() {
                        1 => self.model.decode().await?,
                        _ => self.model.prefill(&unfed).await?,
                    }
                }
                None => self.model.decode_ahead().await?,
            };
            unfed.clear();
        }
        stats.unfed = unfed.len();
        self.model.settle();
        self.model.set_mask(None)?;
        stats.decode_ms = decode_start.elapsed().as_secs_f64() * 1e3;
        Ok(stats)
    }
}

/// Where a token [`Session::continue_lookup`] hands on came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Sampled by a step under the grammar's mask (or with none).
    Sampled,
    /// A batch's greedy token, unmasked: a grammar must still allow it.
    Greedy,
}

impl Session {
    /// [`Session::continue_until`]'s loop for greedy text, after the first
    /// token (`first`): where the text so far ends in a run of tokens that
    /// occurred before, the tokens that followed it are drafted
    /// ([`draft_by_lookup`]) and checked in one batch with the token
    /// before them ([`Model::check`]), which keeps those greedy decode
    /// would give and gives the one after; otherwise one decode step,
    /// submitted ahead where the adapter gains from it and no grammar
    /// steers.
    ///
    /// Under a grammar the batch's greedy tokens are unmasked: each is
    /// taken only where the grammar's mask allows it, which is where the
    /// masked greedy token is the same. Where it does not, the token
    /// before is fed again under the mask ([`GenStats::refed_tokens`]).
    /// The drafts are cut where the grammar would refuse them
    /// ([`TokenConstraint::valid_prefix`]), and the tokens it forces go
    /// first in the batch, checked with the drafts after them.
    async fn continue_lookup(
        &mut self,
        first: u32,
        max_tokens: usize,
        mut constraint: Option<&mut dyn TokenConstraint>,
        control: &dyn Control,
        stats: &mut GenStats,
        on_text: &mut impl FnMut(&str) -> bool,
    ) -> Result<()> {
        let mut out = Emitted {
            stats,
            stream: TextStream::default(),
            history: self.model.known_tokens().to_vec(),
            max_tokens,
            control,
            on_text,
        };
        // The grammar's mask for its state, once computed.
        let mut mask: Option<Vec<u32>> = None;
        // The tokens to hand on: all in the cache, at positions base..,
        // but the last, the next to feed.
        let mut queue = vec![(first, Source::Sampled)];
        let mut base = self.model.pos();
        let mut odds = DraftOdds::new(self.model.verify_cost());
        loop {
            let mut j = 0;
            while j < queue.len() {
                let (token, source) = queue[j];
                let at = base + j as u32;
                if let Some(c) = constraint.as_deref_mut() {
                    if token == u32::MAX {
                        return Err(Error::Constraint(
                            "the grammar allowed no token at all".into(),
                        ));
                    }
                    if source == Source::Greedy {
                        let m = mask
                            .take()
                            .map_or_else(|| c.mask(), Ok)
                            .map_err(Error::Constraint)?;
                        if !allows(&m, token) {
                            // The token before is in the cache at `at - 1`:
                            // fed again, under the mask, it gives the token here.
                            let before = *out.history.last().expect("a prompt came before");
                            self.model.rewind(at - 1);
                            self.model.set_mask(Some(&m))?;
                            let token = self.model.prefill(&[before]).await?;
                            mask = Some(m);
                            out.stats.refed_tokens += 1;
                            queue.truncate(j);
                            queue.push((token, Source::Sampled));
                            continue;
                        }
                    }
                    c.accept(token).map_err(Error::Constraint)?;
                    mask = None;
                }
                odds.decoded(token);
                let finished = constraint.as_deref().is_some_and(|c| c.is_finished());
                let ctx = self.model.ctx;
                if let Some(reason) = out.push(&self.tokenizer, token, at, ctx, finished)? {
                    // This token and any after it leave the cache, as if
                    // decoded one by one: the last generated is unfed.
                    out.stats.stop_reason = reason.into();
                    out.stats.unfed = usize::from(reason != "eos");
                    self.model.rewind(at);
                    return Ok(());
                }
                j += 1;
            }
            // The last token is next to feed, at `at`; then the tokens the
            // grammar forces after it, if any, each taken as it comes.
            let (last, _) = *queue.last().expect("a queue holds the next token");
            let at = self.model.pos();
            let mut batch = vec![last];
            if let Some(c) = constraint.as_deref_mut() {
                let room = (self.model.ctx - at) as usize;
                let left = (max_tokens - out.stats.generated_tokens).min(room - 1);
                for token in c.forced().into_iter().take(left) {
                    c.accept(token).map_err(Error::Constraint)?;
                    mask = None;
                    out.stats.forced_tokens += 1;
                    batch.push(token);
                    odds.decoded(token);
                    let finished = c.is_finished();
                    let to = at + batch.len() as u32 - 1;
                    let reason = out.push(&self.tokenizer, token, to, self.model.ctx, finished)?;
                    if let Some(reason) = reason {
                        out.stats.stop_reason = reason.into();
                        out.stats.unfed = batch.len() - usize::from(reason == "eos");
                        return Ok(());
                    }
                }
            }
            let room = (self.model.ctx - at) as usize;
            // A forced run of more than a check's rows leaves no room for
            // drafts: it is fed as a prompt is.
            let max = (MAX_DRAFT + 1)
                .saturating_sub(batch.len())
                .min(room.saturating_sub(batch.len()))
                .min(max_tokens - out.stats.generated_tokens);
            let mut drafts = draft_by_lookup(&out.history, max).to_vec();
            if let Some(c) = constraint.as_deref_mut() {
                drafts.truncate(c.valid_prefix(&drafts));
            }
            // A batch of forced tokens runs anyway: drafts after them come
            // at the cost of a few rows.
            let check = !drafts.is_empty() && (batch.len() > 1 || odds.worth_checking());
            if !drafts.is_empty() && !check {
                odds.unchecked(&drafts);
            }
            queue.clear();
            if check {
                if let Some(after) = self.model.take_ahead().await? {
                    // `last` was fed ahead; the drafts are looked up again
                    // after the token it gave.
                    queue.push((after, Source::Sampled));
                    base = at + 1;
                    continue;
                }
                let fed = batch.len();
                batch.extend_from_slice(&drafts);
                self.model.set_mask(None)?;
                let greedy = self.model.check(&batch).await?;
                let accepted = drafts
                    .iter()
                    .zip(&greedy[fed - 1..])
                    .take_while(|(d, g)| d == g)
                    .count();
                let after = greedy[fed - 1 + accepted];
                self.model.keep(at + (fed + accepted) as u32, after);
                out.stats.drafted_tokens += drafts.len();
                out.stats.accepted_tokens += accepted;
                odds.checked(accepted);
                queue.extend(drafts[..accepted].iter().map(|&d| (d, Source::Greedy)));
                queue.push((after, Source::Greedy));
                base = at + fed as u32;
            } else {
                let token = match constraint.as_deref_mut() {
                    Some(c) => {
                        let m = mask
                            .take()
                            .map_or_else(|| c.mask(), Ok)
                            .map_err(Error::Constraint)?;
                        self.model.set_mask(Some(&m))?;
                        mask = Some(m);
                        match batch.len() {
                            1 => self.model.decode().await?,
                            _ => self.model.prefill(&batch).await?,
                        }
                    }
                    None => self.model.decode_ahead().await?,
                };
                queue.push((token, Source::Sampled));
                base = at + batch.len() as u32;
            }
        }
    }
}

/// What [`Session::continue_lookup`] has handed on so far.
struct Emitted<'a, F> {
    stats: &'a mut GenStats,
    stream: TextStream,
    /// The cache's known tokens, then every generated one.
    history: Vec<u32>,
    max_tokens: usize,
    control: &'a dyn Control,
    on_text: &'a mut F,
}

impl<F: FnMut(&str) -> bool> Emitted<'_, F> {
    /// Hands on a generated token that goes at position `at` of a context
    /// of `ctx`: counts it, streams its text and says why generation stops
    /// there, if it does.
    fn push(
        &mut self,
        tokenizer: &Tokenizer,
        token: u32,
        at: u32,
        ctx: u32,
        finished: bool,
    ) -> Result<Option<&'static str>> {
        if tokenizer.is_stop(token) {
            return Ok(Some("eos"));
        }
        self.stats.generated_tokens += 1;
        self.stats.tokens.push(token);
        self.history.push(token);
        let piece = self.stream.push(tokenizer, token)?;
        Ok(if !(self.on_text)(&piece) || self.control.stop() {
            Some("stopped")
        } else if finished {
            Some("complete")
        } else if self.stats.generated_tokens >= self.max_tokens {
            Some("max_tokens")
        } else if at >= ctx {
            Some("context")
        } else {
            None
        })
    }
}

/// A grammar that decides which tokens may come next (constrained decoding).
/// The engine applies [`TokenConstraint::mask`] on the GPU before sampling
/// and reports each sampled token with [`TokenConstraint::accept`].
pub trait TokenConstraint {
    /// Allowed next tokens: ceil(vocab / 32) words, bit i = token i.
    fn mask(&mut self) -> std::result::Result<Vec<u32>, String>;
    /// The token that was sampled under the last mask.
    fn accept(&mut self, token: u32) -> std::result::Result<(), String>;
    /// The constrained text is complete.
    fn is_finished(&self) -> bool;
    /// Tokens the constraint forces next, where it allows no other text
    /// (not yet accepted: the caller accepts each in turn). None by default.
    fn forced(&mut self) -> Vec<u32> {
        Vec::new()
    }
    /// How many of `tokens`, taken in turn from here, the grammar allows
    /// (not accepted: nothing changes). Drafted tokens are cut there
    /// before they are checked; 0 by default, which drafts nothing.
    fn valid_prefix(&mut self, _tokens: &[u32]) -> usize {
        0
    }
}

/// Whether `mask` ([`TokenConstraint::mask`]'s words) allows `token`.
fn allows(mask: &[u32], token: u32) -> bool {
    mask.get(token as usize / 32)
        .is_some_and(|w| w & (1 << (token % 32)) != 0)
}
