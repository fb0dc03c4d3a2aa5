//! `locum-assist`: the clinical assistant's pipeline, joining the engine
//! (`locum-engine`) to the clinical logic (`locum-clinical`), for the CLI
//! (`locum assist`) and the browser's worker alike.
//!
//! One answer is two phases over one KV cache:
//!
//! 1. The case is fitted into the context (`fit_case`, which says what it
//!    left out), rendered with the model's own chat template, and the model
//!    reasons in free text for at most `Phases::reasoning_max_tokens`, until
//!    it writes a stop marker such as "Differential:".
//! 2. The cache is rewound to the end of the reasoning worth keeping, the
//!    transition line ("Differential (JSON):") is fed, and the differential
//!    is decoded under the schema's grammar: llguidance computes the allowed
//!    tokens, the engine applies the mask on the GPU before sampling. The
//!    JSON streams through `DifferentialStream`, so each diagnosis reaches
//!    the caller as soon as it closes.
//!
//! Whatever the model, the result parses and matches the schema: the grammar
//! allows nothing else.

use std::sync::Arc;

use locum_clinical::grammar::{Constraint, Grammars, Tokenize, Vocabulary};
use locum_clinical::icd10::{self, Icd10Match};
use locum_clinical::{
    fit_case, Case, ChatMessage, Date, Differential, DifferentialStream, FittedPrompt, Item,
    Omission, Phases, StreamEvent, Warning,
};
use locum_engine::{Control, GenStats, Message, Sampling, Session, TokenConstraint};
use web_time::Instant;

/// What can go wrong, as sentences.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Engine(#[from] locum_engine::Error),
    #[error("{0}")]
    Clinical(#[from] locum_clinical::Error),
    #[error("the model has no chat template, so a case cannot be put to it")]
    NoTemplate,
}

pub type Result<T> = std::result::Result<T, Error>;

/// What the pipeline reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum AssistEvent {
    /// The prompt is ready: its size and what did not fit.
    Prompt {
        tokens: usize,
        omitted: Vec<Omission>,
        warnings: Vec<Warning>,
    },
    /// A piece of phase 1's free reasoning.
    Reasoning(String),
    /// A piece of the differential's JSON as it is generated.
    Json(String),
    Summary(String),
    /// Diagnosis `index` has closed, with its ICD-10-CM code when the local
    /// lookup finds one (never guessed: `None` means uncoded).
    Item(usize, Item, Option<Icd10Match>),
    RedFlags(Vec<String>),
}

/// The whole answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The reasoning kept (phase 1's text before its stop marker).
    pub reasoning: String,
    pub differential: Differential,
    /// Each diagnosis's ICD-10-CM code, in order; `None` where uncoded.
    pub codes: Vec<Option<Icd10Match>>,
    /// The differential's JSON as generated.
    pub json: String,
    pub prompt_tokens: usize,
    pub omitted: Vec<Omission>,
    pub warnings: Vec<Warning>,
    pub reasoning_stats: GenStats,
    pub differential_stats: GenStats,
    /// From the start to the first reasoning token, in ms.
    pub time_to_first_token_ms: f64,
    /// From the start to the complete differential, in ms.
    pub total_ms: f64,
}

/// The pipeline for one loaded model: its grammar engine, built once.
pub struct Assistant {
    grammars: Grammars,
    pub phases: Phases,
}

/// The engine's constraint interface over the clinical crate's grammar,
/// winding the JSON down (no new list elements) once `wind_down_at` tokens
/// are spent, so it closes in the model's own words before the cap.
struct Constrained<'a> {
    c: &'a mut Constraint,
    wind_down_at: usize,
}

impl TokenConstraint for Constrained<'_> {
    fn mask(&mut self) -> std::result::Result<Vec<u32>, String> {
        if self.c.tokens() >= self.wind_down_at {
            self.c.wind_down();
        }
        self.c.mask().map_err(|e| e.to_string())
    }
    fn accept(&mut self, token: u32) -> std::result::Result<(), String> {
        self.c.accept(token).map_err(|e| e.to_string())
    }
    fn is_finished(&self) -> bool {
        self.c.is_finished()
    }
    fn forced(&mut self) -> Vec<u32> {
        self.c.forced()
    }
    fn valid_prefix(&mut self, tokens: &[u32]) -> usize {
        self.c.valid_prefix(tokens)
    }
}

/// Tokens of JSON allowed before the differential is closed by force, and
/// the point after which it may start no new list element.
const DIFFERENTIAL_MAX_TOKENS: usize = 768;
const WIND_DOWN_AT: usize = 560;

/// The model's vocabulary as raw bytes, for the grammar engine.
pub fn vocabulary(session: &Session) -> Vocabulary {
    let tok = &session.tokenizer;
    let n = (session.model.cfg.vocab as usize).max(tok.vocab_size());
    let special = tok.special_ids();
    let mut tokens = Vec::with_capacity(n);
    let mut is_special = vec![false; n];
    for id in 0..n as u32 {
        // The bytes each token writes: GPT-2's byte alphabet or
        // SentencePiece's ▁ and <0xNN> undone by the tokenizer.
        is_special[id as usize] = special.binary_search(&id).is_ok();
        tokens.push(tok.token_bytes(id).unwrap_or_default());
    }
    Vocabulary {
        tokens,
        special: is_special,
        eos: tok.stop.first().copied().unwrap_or(0),
    }
}

impl Assistant {
    /// Builds the grammar engine for `session`'s vocabulary (a fraction of a
    /// second for 49k tokens).
    /// The JSON the grammar forces (keys, punctuation) is spelled by the
    /// model's tokenizer and fed without sampling, several tokens a step.
    pub fn new(session: &Session) -> Result<Assistant> {
        Assistant::build(session, true)
    }

    /// [`Assistant::new`] that samples every token of the differential,
    /// the forced ones too, one step each (to measure what forcing saves).
    pub fn sampling_every_token(session: &Session) -> Result<Assistant> {
        Assistant::build(session, false)
    }

    fn build(session: &Session, force: bool) -> Result<Assistant> {
        let vocab = vocabulary(session);
        let grammars = match force {
            true => {
                let tokenizer = session.tokenizer.clone();
                let tokenize: Tokenize =
                    Arc::new(move |text: &str| tokenizer.encode_piece(text).ok());
                Grammars::with_tokenizer(vocab, tokenize)?
            }
            false => Grammars::new(vocab)?,
        };
        Ok(Assistant {
            grammars,
            phases: Phases {
                differential_max_tokens: DIFFERENTIAL_MAX_TOKENS,
                ..Phases::default()
            },
        })
    }

    /// The case's prompt as phase 1 reads it: fitted to the context less
    /// the phases' tokens (what is left out, listed), and its ids.
    pub fn prompt(
        &self,
        session: &Session,
        case: &Case,
        today: Date,
    ) -> Result<(FittedPrompt, Vec<u32>)> {
        let template = session.template.as_ref().ok_or(Error::NoTemplate)?;
        let tokenizer = &session.tokenizer;
        let counter = |t: &str| tokenizer.encode(t).map(|v| v.len()).unwrap_or(t.len());
        let renderer = |msgs: &[ChatMessage], gen: bool| {
            let msgs: Vec<Message> = msgs
                .iter()
                .map(|m| Message {
                    role: match m.role {
                        locum_clinical::Role::System => "system",
                        locum_clinical::Role::User => "user",
                        locum_clinical::Role::Assistant => "assistant",
                    }
                    .into(),
                    content: m.content.clone(),
                })
                .collect();
            template
                .render(&msgs, gen)
                .map_err(|e| locum_clinical::Error::Render(e.to_string()))
        };
        let ctx = session.model.ctx as usize;
        let budget = ctx.saturating_sub(self.phases.answer_tokens(&counter));
        let fitted = fit_case(case, today, &counter, &renderer, budget)?;
        let ids = tokenizer.encode(&fitted.text)?;
        Ok((fitted, ids))
    }

    /// Reads `case`'s prompt into the KV cache ahead of [`Assistant::answer`]
    /// for it (the page does while the clinician reviews the case), all but
    /// its last two tokens, which the answer reads itself; what the cache
    /// already holds of it is kept. Stops between batches when
    /// `control.stop()` is true, keeping what was read. Returns the
    /// prompt's tokens, those kept and those read. The answer then reads
    /// only what changed since.
    pub async fn read_ahead(
        &self,
        session: &mut Session,
        case: &Case,
        today: Date,
        control: &dyn Control,
    ) -> Result<(usize, usize, usize)> {
        let (_, ids) = self.prompt(session, case, today)?;
        let kept = session.model.reset_keeping(&ids);
        let end = ids.len().saturating_sub(2);
        if kept >= end {
            return Ok((ids.len(), kept, 0));
        }
        let before = session.model.pos() as usize;
        session
            .model
            .prefill_until(&ids[kept..end], control)
            .await?;
        Ok((ids.len(), kept, session.model.pos() as usize - before))
    }

    /// Answers `case` as seen on `today`: reasoning, then the differential.
    /// `control.stop()` ends it early (an error says so), and
    /// `control.prompt_read` hears how far the case's prompt has been read
    /// (phase 1's; phase 2's short continuation is not reported);
    /// `on_event` sees everything as it happens.
    pub async fn answer(
        &self,
        session: &mut Session,
        case: &Case,
        today: Date,
        sampling: Sampling,
        control: &dyn Control,
        mut on_event: impl FnMut(AssistEvent),
    ) -> Result<Answer> {
        let start = Instant::now();
        let (fitted, ids) = self.prompt(session, case, today)?;
        let warnings = case.validate(today);
        on_event(AssistEvent::Prompt {
            tokens: fitted.tokens,
            omitted: fitted.omitted.clone(),
            warnings: warnings.clone(),
        });

        // Phase 1: free reasoning until a stop marker. What the cache holds
        // of this prompt from the last one (the system prompt; most of a
        // case asked again) is not read again.
        let reused = session.model.reset_keeping(&ids);
        session.model.set_sampling(sampling);
        let mut generated = String::new();
        let mut first_token_ms = None;
        let mut reasoning_stats = session
            .continue_until(
                &ids[reused..],
                self.phases.reasoning_max_tokens,
                None,
                control,
                |piece| {
                    first_token_ms.get_or_insert_with(|| start.elapsed().as_secs_f64() * 1e3);
                    generated.push_str(piece);
                    let done = self.phases.reasoning_end(&generated).is_some();
                    if !done {
                        on_event(AssistEvent::Reasoning(piece.to_string()));
                    }
                    !done
                },
            )
            .await?;
        reasoning_stats.reused_tokens = reused;
        if reasoning_stats.stop_reason == "stopped" && control.stop() {
            return Err(locum_engine::Error::Constraint("stopped on request".into()).into());
        }
        let reasoning = self.phases.reasoning(&generated).to_string();

        // Rewind to the longest run of generated tokens that is still part of
        // the kept reasoning, then feed the rest of it and the transition.
        let toks = &reasoning_stats.tokens;
        let fed = toks.len() - reasoning_stats.unfed;
        let mut keep = 0;
        for k in (0..=toks.len()).rev() {
            let text = session.tokenizer.decode(&toks[..k])?;
            if reasoning.starts_with(text.trim_start()) || text.trim().is_empty() {
                keep = k;
                break;
            }
        }
        let kept_text = session.tokenizer.decode(&toks[..keep])?;
        let rest = reasoning
            .strip_prefix(kept_text.trim_start())
            .unwrap_or("")
            .to_string();
        let keep_fed = keep.min(fed);
        session.model.rewind((ids.len() + keep_fed) as u32);
        let mut phase2: Vec<u32> = toks[keep_fed..keep].to_vec();
        // Encode without a BOS: this continues the text.
        let mut tail = session
            .tokenizer
            .encode(&format!("{rest}{}", self.phases.transition))?;
        if let Some(bos) = session.tokenizer.bos {
            if tail.first() == Some(&bos) {
                tail.remove(0);
            }
        }
        phase2.extend(tail);

        // Phase 2: the differential under the grammar.
        let mut constraint = self.grammars.differential()?;
        let mut json = String::new();
        let mut stream = DifferentialStream::new();
        let mut stream_error = None;
        // Each diagnosis's code, looked up once as the diagnosis closes.
        let mut codes: Vec<Option<Icd10Match>> = Vec::new();
        let differential_stats = session
            .continue_until(
                &phase2,
                self.phases.differential_max_tokens,
                Some(&mut Constrained {
                    c: &mut constraint,
                    wind_down_at: WIND_DOWN_AT.min(self.phases.differential_max_tokens * 3 / 4),
                }),
                &|| control.stop(),
                |piece| {
                    json.push_str(piece);
                    on_event(AssistEvent::Json(piece.to_string()));
                    match stream.push(piece) {
                        Ok(events) => {
                            for e in events {
                                on_event(coded(e, &mut codes));
                            }
                            true
                        }
                        Err(e) => {
                            stream_error = Some(e);
                            false
                        }
                    }
                },
            )
            .await?;
        if let Some(e) = stream_error {
            return Err(e.into());
        }
        if differential_stats.stop_reason == "stopped" && control.stop() {
            return Err(locum_engine::Error::Constraint("stopped on request".into()).into());
        }
        if !constraint.is_finished() {
            // The cap came first: close the JSON by the shortest route the
            // grammar allows, so the result still parses and validates.
            let tail = constraint.force_finish()?;
            json.push_str(&tail);
            on_event(AssistEvent::Json(tail.clone()));
            for e in stream.push(&tail)? {
                on_event(coded(e, &mut codes));
            }
        }
        let differential = stream.finish()?;
        differential.validate()?;
        Ok(Answer {
            reasoning,
            differential,
            codes,
            json,
            prompt_tokens: fitted.tokens,
            omitted: fitted.omitted,
            warnings,
            reasoning_stats,
            differential_stats,
            time_to_first_token_ms: first_token_ms.unwrap_or(0.0),
            total_ms: start.elapsed().as_secs_f64() * 1e3,
        })
    }
}

/// The pipeline's event for a parsed stream event; a closed diagnosis is
/// looked up in ICD-10-CM once, and its code kept in `codes` at its index.
fn coded(e: StreamEvent, codes: &mut Vec<Option<Icd10Match>>) -> AssistEvent {
    match e {
        StreamEvent::Summary(s) => AssistEvent::Summary(s),
        StreamEvent::Item(i, item) => {
            let code = icd10::lookup(&item.diagnosis);
            if codes.len() <= i {
                codes.resize(i + 1, None);
            }
            codes[i] = code.clone();
            AssistEvent::Item(i, item, code)
        }
        StreamEvent::RedFlags(r) => AssistEvent::RedFlags(r),
    }
}
