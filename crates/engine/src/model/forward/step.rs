//! Running the built pass: the position and the KV cache's known tokens,
//! the sampler's settings and mask, and the steps themselves (prefill,
//! decode, decode submitted ahead, drafts checked in a batch, the logits
//! and the NLL for the tests). Each records one command encoder of the
//! launches [`Model::load`] built and submits it; nothing is allocated.

use super::*;

impl Model {
    /// Writes one tensor's GPU-layout bytes into its buffer.
    pub fn upload(&self, entry: &TensorEntry, bytes: &[u8]) -> Result<()> {
        self.weights.upload(entry, bytes)
    }

    /// Succeeds once every tensor the forward pass reads has been uploaded.
    pub fn finish_upload(&self) -> Result<()> {
        self.weights.check_complete()
    }

    /// Positions already in the KV cache (not counting a step submitted
    /// ahead, which is not yet the model's).
    pub fn pos(&self) -> u32 {
        self.pos - u32::from(self.ahead)
    }

    /// Forgets the positions from `pos` on: the next prefill overwrites
    /// them. For taking back tokens generated past a stopping point.
    pub fn rewind(&mut self, pos: u32) {
        self.settle();
        self.pos = self.pos.min(pos);
    }

    /// Forgets the context: the next prefill starts at position 0.
    pub fn reset(&mut self) {
        self.settle();
        self.pos = 0;
        self.rng_step = 0;
    }

    /// [`Model::reset`], keeping the longest start of `prompt` that the
    /// cache already holds from an earlier prompt (the system prompt every
    /// case shares; all of a case asked again after an edit further on, or
    /// after a Stop during its reading): returns its length, after which
    /// the caller feeds the rest. The rows kept are those a prefill wrote
    /// for the same tokens at the same positions. At least the last two
    /// tokens are left to feed: the last for its logits, and two so that
    /// they go through prefill's kernels, as the whole prompt's would (one
    /// token alone takes decode's, which round differently), and the
    /// answer is the one the whole prompt's prefill gives.
    pub fn reset_keeping(&mut self, prompt: &[u32]) -> usize {
        self.reset();
        let same = self
            .cached
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count();
        let keep = same.min(prompt.len().saturating_sub(2));
        self.pos = keep as u32;
        keep
    }

    /// Drops the step [`Model::decode_ahead`] submitted ahead, if there is
    /// one: its position and its draw of the sampler's random stream are
    /// taken back, and the token it fed is put back where its sampler wrote
    /// over it, so what follows runs as if it had never been submitted (its
    /// KV-cache row is past `pos` and is overwritten by the next step there;
    /// queue order puts these writes after it). Every other call that
    /// submits work or changes what a step reads settles first.
    pub fn settle(&mut self) {
        if self.ahead {
            self.ahead = false;
            self.pos -= 1;
            self.rng_step -= 1;
            self.slot ^= 1;
            self.gpu
                .queue
                .write_buffer(&self.tokens, 0, bytemuck::bytes_of(&self.fed_ahead));
        }
    }

    /// Weight bytes the kernels read per decoded token.
    pub fn weight_bytes_per_token(&self) -> u64 {
        self.weight_bytes
    }

    /// GPU dispatches per decoded token, and submissions.
    pub fn dispatches_per_token(&self) -> usize {
        self.body_decode.len() + self.head_sample.len()
    }

    /// GPU dispatches per decoded token in the long-context body (split
    /// attention: one more a layer; row attention: two more), and from how
    /// many cached positions on; `None` where this adapter has no such body.
    pub fn dispatches_per_token_long(&self) -> Option<(usize, u32)> {
        (!self.body_decode_long.is_empty()).then(|| {
            (
                self.body_decode_long.len() + self.head_sample.len(),
                self.split_from,
            )
        })
    }

    /// Decodes with split-KV attention from `from` cached positions on
    /// (u32::MAX: never). False, and nothing changes, where this adapter or
    /// head size has no split attention. For tests and measurements.
    pub fn set_attention_split_from(&mut self, from: u32) -> bool {
        self.settle();
        if self.body_decode_long.is_empty() {
            return false;
        }
        self.split_from = from;
        true
    }

    /// The launches of one forward pass over `n` tokens after `self.pos`;
    /// with the layer tails only where `tails` (a pass that samples: only
    /// the sampler tells a step whose tails missed, `ops::MISSED`).
    pub(super) fn body_for(&self, n: u32, tails: bool) -> &[Dispatch] {
        if n > 1 {
            self.gpu.compile_late();
        }
        let with_tails = tails && self.tails;
        let apart = !with_tails && !self.body_decode_apart.is_empty();
        match n {
            1 if self.pos + 1 >= self.split_from => &self.body_decode_long,
            1 if apart => &self.body_decode_apart,
            1 => &self.body_decode,
            _ => &self.body,
        }
    }

    /// Sets how the following tokens are sampled.
    pub fn set_sampling(&mut self, s: Sampling) {
        self.settle();
        let masked = self.sample_params.masked;
        self.sample_params = SampleParams::from(s, self.cfg.vocab);
        self.sample_params.masked = masked;
        self.write_sample_params();
    }

    fn write_sample_params(&self) {
        let sampler = self
            .head_sample
            .last()
            .expect("the head ends with the sampler");
        self.gpu
            .queue
            .write_buffer(sampler.params(), 0, bytemuck::bytes_of(&self.sample_params));
    }

    /// Restricts the next samples to the tokens whose bit is set in `allowed`
    /// (ceil(vocab / 32) words, bit i of word i / 32 = token i), as a
    /// grammar's mask for constrained decoding; `None` lifts the restriction.
    /// The mask is applied on the GPU, before sampling.
    pub fn set_mask(&mut self, allowed: Option<&[u32]>) -> Result<()> {
        self.settle();
        match allowed {
            Some(words) => {
                let want = self.cfg.vocab.div_ceil(32) as usize;
                if words.len() != want {
                    return Err(Error::BadConfig(format!(
                        "a token mask of {} words for a vocabulary needing {want}",
                        words.len()
                    )));
                }
                self.gpu
                    .queue
                    .write_buffer(&self.mask, 0, bytemuck::cast_slice(words));
                if self.sample_params.masked == 0 {
                    self.sample_params.masked = 1;
                    self.write_sample_params();
                }
            }
            None if self.sample_params.masked != 0 => {
                self.sample_params.masked = 0;
                self.write_sample_params();
            }
            None => {}
        }
        Ok(())
    }

    fn check_room(&self, n: usize) -> Result<()> {
        if self.pos as usize + n > self.ctx as usize {
            return Err(Error::ContextFull {
                ctx: self.ctx,
                needed: self.pos as usize + n,
            });
        }
        Ok(())
    }

    /// Records and submits one forward pass over `n` tokens already in
    /// `tokens` (uploaded, or left there by the sampler), followed by `head`.
    fn run(
        &mut self,
        n: u32,
        head: Head,
        extra: impl FnOnce(&mut wgpu::CommandEncoder),
    ) -> wgpu::SubmissionIndex {
        let started = web_time::Instant::now();
        // Rows from pos on are rewritten; a prefill records its tokens
        // after (`cache_known`).
        self.cached.truncate(self.pos as usize);
        let step = self.step_at(n);
        self.gpu
            .queue
            .write_buffer(&self.step, 0, bytemuck::bytes_of(&step));
        let mut enc = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("forward"),
            });
        // A step with layer tails counts its meetings from 0 (the first
        // word; the second, the flag, stays) and keeps its input token
        // (the third) for the sampler to hand back if they fail.
        let tails = matches!(head, Head::Sample);
        if n == 1 && tails && self.tails {
            enc.clear_buffer(&self.meet, 0, Some(4));
            enc.copy_buffer_to_buffer(&self.tokens, 0, &self.meet, 8, 4);
        }
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("forward"),
                timestamp_writes: None,
            });
            for d in self.body_for(n, tails) {
                d.encode(&mut pass, n);
            }
            let head = match head {
                Head::None => &[][..],
                Head::Sample => &self.head_sample[..],
                Head::Nll => self.head_nll.as_deref().unwrap_or(&[]),
                Head::Verify => self.head_verify.as_deref().unwrap_or(&[]),
            };
            for d in head {
                d.encode(&mut pass, n);
            }
        }
        // Decode's Q|K|V product wrote its row into the mirrors; a batch's
        // rows are copied there.
        if n > 1 {
            for (m, k, v) in &self.mirrors {
                m.copy_rows(&mut enc, k, v, self.pos, self.pos + n);
            }
        }
        extra(&mut enc);
        let commands = enc.finish();
        // Up to here: submitting can wait for the step before (lavapipe's
        // does while one is running, so a pipelined step's submit lasts
        // about a step), which is the GPU's time, not the host's.
        if n == 1 {
            self.host_time.0 += 1;
            self.host_time.1 += started.elapsed();
        }
        let index = self.gpu.queue.submit([commands]);
        self.pos += n;
        index
    }

    /// The [`Step`] uniform of a pass over `n` tokens from the current
    /// position, with the sampler's current draw of the random stream.
    pub(super) fn step_at(&self, n: u32) -> Step {
        Step {
            n_tokens: n,
            pos: self.pos,
            kv_len: self.pos + n,
            rng_step: self.rng_step,
        }
    }

    /// The decode steps recorded since the last call, and the host's wall
    /// time recording them (writing the step's uniform, encoding the
    /// launches, wgpu's checks; not the submit, which can wait for the GPU,
    /// nor the GPU's work). For the benchmark.
    pub fn take_host_time(&mut self) -> (u32, std::time::Duration) {
        std::mem::replace(&mut self.host_time, (0, std::time::Duration::ZERO))
    }

    /// Runs the prompt through the model in batches and samples the token
    /// after it. The KV cache continues from the current position.
    pub async fn prefill(&mut self, prompt: &[u32]) -> Result<u32> {
        match self.prefill_until(prompt, &|| false).await? {
            Some(t) => Ok(t),
            None => Err(Error::EmptyPrompt),
        }
    }

    /// [`Model::prefill`] that can be interrupted: between batches it waits
    /// for the GPU (yielding to the browser's event loop, where a Stop
    /// message can arrive) and returns `None` as soon as `control.stop()`
    /// is true. Positions already run stay in the cache. After each batch
    /// but the last it reports the tokens read (`Control::prompt_read`).
    pub async fn prefill_until(
        &mut self,
        prompt: &[u32],
        control: &dyn Control,
    ) -> Result<Option<u32>> {
        self.settle();
        if prompt.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        self.check_room(prompt.len())?;
        let chunks: Vec<&[u32]> = prompt.chunks(MAX_BATCH as usize).collect();
        let (last, rest) = chunks.split_last().expect("a non-empty prompt has a chunk");
        let mut done = 0;
        for chunk in rest {
            if control.stop() {
                return Ok(None);
            }
            self.gpu
                .queue
                .write_buffer(&self.tokens, 0, bytemuck::cast_slice(chunk));
            self.run(chunk.len() as u32, Head::None, |_| {});
            self.cache_known(chunk);
            self.gpu.wait_idle().await?;
            done += chunk.len();
            control.prompt_read(done, prompt.len());
        }
        if control.stop() {
            return Ok(None);
        }
        self.gpu
            .queue
            .write_buffer(&self.tokens, 0, bytemuck::cast_slice(last));
        let slot = self.submit_sample(last.len() as u32);
        self.cache_known(last);
        let token = self.read_token(slot).await?;
        // A last chunk of one token runs decode's launches: if its layer
        // tails missed, it runs again apart.
        if let Some(input) = self.missed(token) {
            return self.again_apart(input).await.map(Some);
        }
        Ok(Some(token))
    }

    /// Records that the pass just submitted fed `tokens` (known tokens: a
    /// prompt's) at the positions before `pos`.
    fn cache_known(&mut self, tokens: &[u32]) {
        let start = self.pos as usize - tokens.len();
        if self.cached.len() == start {
            self.cached.extend_from_slice(tokens);
        }
    }

    /// Feeds the last sampled token (already on the GPU) and samples the next.
    pub async fn decode(&mut self) -> Result<u32> {
        self.settle();
        self.check_room(1)?;
        let token = self.sample_after(1).await?;
        match self.missed(token) {
            Some(input) => self.again_apart(input).await,
            None => Ok(token),
        }
    }

    /// The input token of the step whose pick this is, where it came back
    /// marked [`ops::MISSED`]: its layer tails' workgroups did not all
    /// meet, so its logits are not the model's.
    fn missed(&self, token: u32) -> Option<u32> {
        let marked = self.tails && token != u32::MAX && token & ops::MISSED != 0;
        marked.then_some(token & !ops::MISSED)
    }

    /// The one-token step just read back, which [`Model::missed`], taken
    /// back (its position and its draw of the random stream) and run again
    /// with the layers apart ([`Model::run_apart`]); its token.
    async fn again_apart(&mut self, input: u32) -> Result<u32> {
        self.pos -= 1;
        self.rng_step -= 1;
        self.run_apart(input);
        self.sample_after(1).await
    }

    /// After a step that [`Model::missed`]: decode runs its layers apart
    /// from now on, and `input` goes back where the next step feeds from.
    fn run_apart(&mut self, input: u32) {
        log::warn!(
            "decode: a layer tail's workgroups did not all meet (the driver did not run them at once); its layers run apart from now on"
        );
        self.tails = false;
        let queue = &self.gpu.queue;
        queue.write_buffer(&self.meet, 4, bytemuck::bytes_of(&0u32));
        queue.write_buffer(&self.tokens, 0, bytemuck::bytes_of(&input));
    }

    /// Whether decode runs its layer tails in one launch each
    /// (`ops::layer_tail`): where they were built, until a step's
    /// workgroups do not all meet.
    pub fn layer_tails(&self) -> bool {
        self.tails
    }

    /// [`Model::decode`], pipelined: before waiting for this step's token it
    /// submits the step after it, which feeds that token from where the
    /// sampler left it on the GPU, so the GPU starts the next token while
    /// the CPU reads this one back and hands it on (and, in the browser,
    /// while the page's event loop runs). The next call then only waits.
    /// The tokens are the same as [`Model::decode`]'s, sampling included:
    /// steps run in queue order and each takes its own draw of the random
    /// stream. Only for sampling the CPU does not steer: a mask or sampling
    /// change, and every other call that submits work, first drops the step
    /// submitted ahead ([`Model::settle`]); so does a caller that stops.
    /// Where the adapter does not gain from it ([`Gpu::decode_ahead`]) this
    /// is [`Model::decode`].
    pub async fn decode_ahead(&mut self) -> Result<u32> {
        if !self.gpu.decode_ahead() {
            return self.decode().await;
        }
        if !self.ahead {
            self.check_room(1)?;
            self.submit_sample(1);
        }
        let this = self.slot ^ 1;
        self.ahead = self.pos < self.ctx;
        if self.ahead {
            self.submit_sample(1);
        }
        let token = self.read_token(this).await?;
        if let Some(input) = self.missed(token) {
            // This step again, apart, and the one after it, which fed from
            // its mark (dropped as a stop drops it; `run_apart` then puts
            // this step's input back in place of the token it restores).
            self.settle();
            self.slot ^= 1;
            return self.again_apart(input).await;
        }
        self.fed_ahead = token;
        Ok(token)
    }

    /// Checks drafted tokens (speculative decoding, greedy only): feeds
    /// `fed` (the last token sampled, not yet in the cache) and `drafts`
    /// (at most [`MAX_DRAFT`], guessed to follow it) in one batch, whose
    /// head takes each position's greedy token. The drafts up to the first
    /// that differs from the greedy token before it are accepted: returns
    /// their count, and the greedy token after the last accepted one (the
    /// next to feed, also left where [`Model::decode`] reads it). The cache
    /// keeps `fed` and the accepted drafts; the rest are rewound. The
    /// tokens are those greedy decode would give but for rounding: the
    /// batch's kernels sum in another order than decode's.
    pub async fn verify(&mut self, fed: u32, drafts: &[u32]) -> Result<(usize, u32)> {
        let drafts = &drafts[..drafts.len().min(MAX_DRAFT)];
        let start = self.pos();
        let mut batch = Vec::with_capacity(drafts.len() + 1);
        batch.push(fed);
        batch.extend_from_slice(drafts);
        let greedy = self.check(&batch).await?;
        let accepted = drafts
            .iter()
            .zip(&greedy)
            .take_while(|(d, g)| d == g)
            .count();
        let next = greedy[accepted];
        self.keep(start + 1 + accepted as u32, next);
        Ok((accepted, next))
    }

    /// [`Model::verify`]'s batch, for callers that decide for themselves
    /// which rows to keep (a grammar's forced tokens among the drafts):
    /// feeds `batch` (at most [`MAX_DRAFT`] + 1 tokens, the first the last
    /// token sampled) and returns each row's greedy token, unmasked, the
    /// lowest id at a tie as the sampler's. The cache then holds the whole
    /// batch; [`Model::keep`] takes back what is not kept.
    pub async fn check(&mut self, batch: &[u32]) -> Result<Vec<u32>> {
        self.settle();
        let n = batch.len();
        if n == 0 || n > MAX_DRAFT + 1 {
            return Err(Error::BadConfig(format!(
                "a batch of {n} tokens to check; 1 to {} are checked at once",
                MAX_DRAFT + 1
            )));
        }
        self.check_room(n)?;
        self.build_head_verify();
        self.gpu
            .queue
            .write_buffer(&self.tokens, 0, bytemuck::cast_slice(batch));
        let (src, dst) = (self.verify_out.clone(), self.read_verify.clone());
        self.run(n as u32, Head::Verify, |enc| {
            enc.copy_buffer_to_buffer(&src, 0, &dst, 0, n as u64 * 4)
        });
        let bytes = self.gpu.read(&self.read_verify, n as u64 * 4).await?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }

    /// After [`Model::check`]: keeps the cache's positions before `pos`
    /// (rewinding the rest) and leaves `next` where [`Model::decode`]
    /// feeds it from.
    pub fn keep(&mut self, pos: u32, next: u32) {
        self.rewind(pos);
        self.gpu
            .queue
            .write_buffer(&self.tokens, 0, bytemuck::bytes_of(&next));
    }

    /// The tokens the cache holds at positions 0.., as far as they are
    /// known (the prompts' tokens prefill fed).
    pub fn known_tokens(&self) -> &[u32] {
        &self.cached[..self.cached.len().min(self.pos() as usize)]
    }

    /// Waits for the step [`Model::decode_ahead`] submitted ahead, if there
    /// is one, and keeps it: the token it fed stays in the cache, and the
    /// one it sampled is returned (the next to feed). `None` where no step
    /// is ahead.
    pub async fn take_ahead(&mut self) -> Result<Option<u32>> {
        if !self.ahead {
            return Ok(None);
        }
        self.ahead = false;
        self.read_token(self.slot ^ 1).await.map(Some)
    }

    /// See [`Gpu::verify_cost`].
    pub fn verify_cost(&self) -> f32 {
        self.gpu.verify_cost()
    }

    /// Whether the next tokens are sampled greedily: where
    /// [`Model::verify`] gives the tokens decode would (under a mask, where
    /// the mask allows the greedy token).
    pub fn greedy(&self) -> bool {
        let p = &self.sample_params;
        p.temperature <= 0.0 || p.top_k <= 1
    }

    async fn sample_after(&mut self, n: u32) -> Result<u32> {
        let slot = self.submit_sample(n);
        self.read_token(slot).await
    }

    /// Submits a forward pass over `n` tokens that samples the next and
    /// copies it into a readback slot; returns the slot.
    fn submit_sample(&mut self, n: u32) -> usize {
        let slot = self.slot;
        let (tokens, read) = (self.tokens.clone(), self.read_token[slot].clone());
        let index = self.run(n, Head::Sample, |enc| {
            enc.copy_buffer_to_buffer(&tokens, 0, &read, 0, 4)
        });
        self.read_token_by[slot] = Some(index);
        self.rng_step += 1;
        self.slot ^= 1;
        slot
    }

    async fn read_token(&self, slot: usize) -> Result<u32> {
        let by = self.read_token_by[slot].clone();
        let bytes = self.gpu.read_after(&self.read_token[slot], 4, by).await?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Runs `prompt` and returns the logits after its last token (vocab,).
    /// For tests against a reference; generation never reads logits back.
    pub async fn logits_after(&mut self, prompt: &[u32]) -> Result<Vec<f32>> {
        self.prefill(prompt).await?;
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(
            &self.logits_last,
            0,
            &self.read_logits,
            0,
            self.cfg.vocab as u64 * 4,
        );
        self.gpu.queue.submit([enc.finish()]);
        let bytes = self
            .gpu
            .read(&self.read_logits, self.cfg.vocab as u64 * 4)
            .await?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }

    /// Negative log-likelihood of each token of `text` given the ones before
    /// it (the first token has none, so `text.len() - 1` values), in one
    /// context from position 0. Perplexity is exp(mean).
    pub async fn nll(&mut self, text: &[u32]) -> Result<Vec<f32>> {
        self.reset();
        self.build_head_nll();
        if text.len() < 2 {
            return Err(Error::EmptyPrompt);
        }
        let inputs = &text[..text.len() - 1];
        self.check_room(inputs.len())?;
        let mut out = Vec::with_capacity(inputs.len());
        for (i, chunk) in inputs.chunks(MAX_BATCH as usize).enumerate() {
            let start = i * MAX_BATCH as usize;
            let targets = &text[start + 1..start + 1 + chunk.len()];
            self.gpu
                .queue
                .write_buffer(&self.tokens, 0, bytemuck::cast_slice(chunk));
            self.gpu
                .queue
                .write_buffer(&self.targets, 0, bytemuck::cast_slice(targets));
            let n = chunk.len() as u32;
            let (src, dst) = (self.nll_out.clone(), self.read_nll.clone());
            self.run(n, Head::Nll, |enc| {
                enc.copy_buffer_to_buffer(&src, 0, &dst, 0, n as u64 * 4)
            });
            let bytes = self.gpu.read(&self.read_nll, n as u64 * 4).await?;
            out.extend_from_slice(bytemuck::cast_slice::<u8, f32>(&bytes));
        }
        Ok(out)
    }
}
