//! The worker's state and its answers to each [`Request`].
//!
//! Everything runs on the worker's one thread. Loading and generating are
//! futures spawned on its event loop; they yield whenever they await the
//! network or a GPU readback (once per token), so a [`Request::Stop`] that
//! arrives mid-generation is handled between two tokens: `onmessage` sets a
//! flag that the generation's text callback reads.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use locum_assist::{AssistEvent, Assistant};
use locum_clinical::icd10::Icd10Match;
use locum_clinical::{Case, Date, Item, Likelihood, Phases};
use locum_engine::{Control, Error, Gpu, Sampling, Session};
use locum_worker::{AnswerLengths, DiagnosisCard, Event, GenerationStats, Request, SamplingParams};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::loader::{self, LoadError};
use crate::net::{self, describe};

/// The worker: its scope to post through, the loaded model, and two flags.
struct Worker {
    scope: DedicatedWorkerGlobalScope,
    /// The loaded model; taken out while a generation borrows it.
    session: RefCell<Option<Session>>,
    /// The clinical pipeline for the loaded model (its grammar engine, built
    /// once per load); `None` when the model cannot take a case.
    assistant: RefCell<Option<Assistant>>,
    /// A load or a generation is running.
    busy: Cell<bool>,
    /// The page asked the running generation to stop.
    stop: Cell<bool>,
    /// The page asked the running load to stop.
    cancel_load: Cell<bool>,
    /// What is running is a read-ahead (`Request::ReadAhead`), which any
    /// other request ends: that request waits here and runs after it.
    reading_ahead: Cell<bool>,
    waiting: RefCell<Option<Request>>,
    /// A Stop came for the waiting request: it starts stopped.
    stop_waiting: Cell<bool>,
}

/// Installs the message handler and tells the page the worker is listening.
pub fn start() {
    let worker = Rc::new(Worker {
        scope: js_sys::global().unchecked_into(),
        session: RefCell::new(None),
        assistant: RefCell::new(None),
        busy: Cell::new(false),
        stop: Cell::new(false),
        cancel_load: Cell::new(false),
        reading_ahead: Cell::new(false),
        waiting: RefCell::new(None),
        stop_waiting: Cell::new(false),
    });
    let handler = {
        let worker = worker.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| worker.receive(ev))
    };
    worker
        .scope
        .set_onmessage(Some(handler.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    handler.forget();
    worker.post(&Event::Booted);
}

impl Worker {
    fn post(&self, event: &Event) {
        if let Err(e) = self
            .scope
            .post_message(&JsValue::from_str(&event.to_json()))
        {
            log::error!("postMessage failed: {}", describe(&e));
        }
    }

    fn fail(&self, message: impl Into<String>) {
        self.post(&Event::Error {
            message: message.into(),
        });
    }

    fn receive(self: &Rc<Self>, ev: MessageEvent) {
        let Some(text) = ev.data().as_string() else {
            return self.fail("The assistant received a message it does not understand.");
        };
        let request = match Request::from_json(&text) {
            Ok(r) => r,
            Err(e) => {
                return self.fail(format!("The assistant received a malformed message ({e})."))
            }
        };
        self.handle(request);
    }

    fn handle(self: &Rc<Self>, request: Request) {
        match request {
            Request::Stop => {
                self.stop.set(true);
                // The page stops what it asked for, which may still be
                // waiting for a read-ahead to end.
                if self.reading_ahead.get() && self.waiting.borrow().is_some() {
                    self.stop_waiting.set(true);
                }
            }
            Request::CancelLoad => self.cancel_load.set(true),
            // A read-ahead gives way: it stops after its batch, then this
            // runs (a newer request replaces one waiting).
            r if self.busy.get() && self.reading_ahead.get() => {
                self.stop.set(true);
                self.stop_waiting.set(false);
                *self.waiting.borrow_mut() = Some(r);
            }
            // It only saves time later: not worth an error.
            Request::ReadAhead { .. } if self.busy.get() => {}
            _ if self.busy.get() => self
                .fail("The assistant is still busy with the previous request; wait or press Stop."),
            Request::ReadAhead {
                case_json,
                today,
                lengths,
            } => {
                self.busy.set(true);
                self.reading_ahead.set(true);
                self.stop.set(false);
                spawn_local(self.clone().read_ahead(case_json, today, lengths));
            }
            Request::Load {
                manifest,
                context,
                lookup,
            } => {
                self.busy.set(true);
                self.cancel_load.set(false);
                spawn_local(self.clone().load(manifest, context, lookup));
            }
            Request::Generate {
                prompt,
                chat,
                max_tokens,
                sampling,
            } => {
                self.busy.set(true);
                // Cleared here, not in the future: a Stop sent right after
                // this Generate must not be forgotten.
                self.stop.set(false);
                spawn_local(self.clone().generate(prompt, chat, max_tokens, sampling));
            }
            Request::Assist {
                case_json,
                today,
                sampling,
                lengths,
            } => {
                self.busy.set(true);
                self.stop.set(false);
                spawn_local(self.clone().assist(case_json, today, sampling, lengths));
            }
        }
    }

    async fn load(self: Rc<Self>, manifest: String, context: u32, lookup: Option<bool>) {
        let event = self
            .try_load(&manifest, context, lookup)
            .await
            .unwrap_or_else(|e| e);
        self.busy.set(false);
        self.post(&event);
        // The prefill kernels, left out of the load: the browser compiles
        // them now, while the user types (before the first question runs).
        if let Some(s) = self.session.borrow().as_ref() {
            s.model.compile_late();
        }
    }

    /// Opens the GPU first, so a browser without WebGPU learns it before
    /// downloading anything; then loads the sharded model (see `loader`).
    async fn try_load(
        &self,
        manifest: &str,
        context: u32,
        lookup: Option<bool>,
    ) -> Result<Event, Event> {
        let start = js_sys::Date::now();
        let gpu = Gpu::new().await.map_err(|e| match e {
            Error::NoAdapter(_) | Error::NoDevice(_) => Event::NoWebGpu {
                detail: e.to_string(),
            },
            e => Event::Error {
                message: sentence("The GPU could not be started", &e),
            },
        })?;
        log::info!("GPU: {:?}", gpu.summary);
        // Free the previous model's GPU memory before loading the next.
        self.session.borrow_mut().take();
        self.assistant.borrow_mut().take();
        let cancelled = || self.cancel_load.get();
        let post = |p| self.post(&Event::Progress(p));
        let loaded = loader::load(&gpu, manifest, context, &cancelled, &post)
            .await
            .map_err(|e| match e {
                LoadError::Cancelled => Event::LoadCancelled,
                LoadError::Failed(message) => Event::Error { message },
            })?;
        let ready = Event::Ready {
            model: loaded.model_name,
            adapter: gpu.summary.name.trim().to_string(),
            load_ms: js_sys::Date::now() - start,
            downloaded_bytes: loaded.downloaded_bytes,
            model_bytes: loaded.model_bytes,
            wasm_memory_bytes: net::wasm_memory_bytes(),
            not_stored_shards: loaded.not_stored,
        };
        // The model still answers plain questions if its vocabulary cannot
        // drive the grammar engine; a case then fails with a sentence.
        match Assistant::new(&loaded.session) {
            Ok(a) => *self.assistant.borrow_mut() = Some(a),
            Err(e) => log::error!("the clinical assistant could not be built: {e}"),
        }
        let mut session = loaded.session;
        if let Some(on) = lookup {
            session.lookup = on;
        }
        *self.session.borrow_mut() = Some(session);
        Ok(ready)
    }

    async fn generate(
        self: Rc<Self>,
        prompt: String,
        chat: bool,
        max_tokens: u32,
        sampling: SamplingParams,
    ) {
        let taken = self.session.borrow_mut().take();
        let Some(mut session) = taken else {
            self.busy.set(false);
            return self.fail("The model is not loaded yet; wait until it is ready.");
        };
        let sampling = Sampling {
            temperature: sampling.temperature,
            top_k: sampling.top_k,
            top_p: sampling.top_p,
            seed: sampling.seed,
        };
        let result = match session.prompt_ids(&prompt, chat) {
            Ok(ids) => {
                // Stop is honoured between prompt batches too, and the
                // page hears how far a long prompt has been read.
                session
                    .generate_until(&ids, max_tokens as usize, sampling, &*self, |piece| {
                        if !piece.is_empty() {
                            self.post(&Event::Token {
                                text: piece.to_string(),
                            });
                        }
                        !self.stop.get()
                    })
                    .await
            }
            Err(e) => Err(e),
        };
        *self.session.borrow_mut() = Some(session);
        self.busy.set(false);
        match result {
            Ok(st) => self.post(&Event::Done {
                stats: GenerationStats {
                    prompt_tokens: st.prompt_tokens as u32,
                    kept_tokens: st.reused_tokens as u32,
                    generated_tokens: st.generated_tokens as u32,
                    time_to_first_token_ms: st.time_to_first_token_ms,
                    prefill_tokens_per_s: finite(st.prefill_tokens_per_s()),
                    decode_tokens_per_s: finite(st.decode_tokens_per_s()),
                    stop_reason: st.stop_reason,
                    drafted_tokens: st.accepted_tokens as u32,
                },
            }),
            Err(e) => self.fail(sentence("The answer could not be generated", &e)),
        }
    }
}

/// What the running generation checks between prompt batches and tokens:
/// the page's Stop, and where it tells the page how far the prompt is read
/// (a long case takes seconds before its first token).
impl Control for Worker {
    fn stop(&self) -> bool {
        self.stop.get()
    }

    fn prompt_read(&self, done: usize, total: usize) {
        self.post(&Event::PromptRead {
            done: done as u32,
            total: total as u32,
        });
    }
}

impl Worker {
    /// Reads a case's prompt into the KV cache ahead of its answer, then
    /// runs whatever request arrived meanwhile. Failures are not reported:
    /// the answer reads what the read-ahead did not, and says why if it
    /// cannot.
    async fn read_ahead(
        self: Rc<Self>,
        case_json: String,
        today: String,
        lengths: Option<AnswerLengths>,
    ) {
        match self.try_read_ahead(&case_json, &today, lengths).await {
            Ok((tokens, kept, read)) => self.post(&Event::ReadAhead {
                tokens: tokens as u32,
                kept: kept as u32,
                read: read as u32,
            }),
            Err(e) => log::warn!("reading the case ahead: {e}"),
        }
        self.reading_ahead.set(false);
        self.busy.set(false);
        let next = self.waiting.borrow_mut().take();
        if let Some(next) = next {
            let stopped = self.stop_waiting.replace(false);
            self.handle(next);
            // Its future has not run yet: it starts by seeing the Stop
            // (an answer then ends at once, saying it was stopped).
            if stopped {
                self.stop.set(true);
            }
        }
    }

    async fn try_read_ahead(
        &self,
        case_json: &str,
        today: &str,
        lengths: Option<AnswerLengths>,
    ) -> Result<(usize, usize, usize), String> {
        let case = Case::from_json(case_json).map_err(|e| e.to_string())?;
        let today = Date::parse(today).map_err(|e| e.to_string())?;
        let taken = (
            self.assistant.borrow_mut().take(),
            self.session.borrow_mut().take(),
        );
        let (mut assistant, mut session) = match taken {
            (Some(a), Some(s)) => (a, s),
            (a, s) => {
                *self.assistant.borrow_mut() = a;
                *self.session.borrow_mut() = s;
                return Err("the model is not loaded, or cannot take a case".into());
            }
        };
        let defaults = shorten(&mut assistant, lengths);
        // Only a Stop ends it; its reading is not reported.
        let stop = || self.stop.get();
        let result = assistant
            .read_ahead(&mut session, &case, today, &stop)
            .await
            .map_err(|e| e.to_string());
        assistant.phases = defaults;
        *self.session.borrow_mut() = Some(session);
        *self.assistant.borrow_mut() = Some(assistant);
        result
    }

    /// Answers a clinical case: reasoning, then the differential, each
    /// piece posted as it arrives.
    async fn assist(
        self: Rc<Self>,
        case_json: String,
        today: String,
        sampling: SamplingParams,
        lengths: Option<AnswerLengths>,
    ) {
        let outcome = self.try_assist(&case_json, &today, sampling, lengths).await;
        self.busy.set(false);
        match outcome {
            Ok(done) => self.post(&done),
            // The pipeline ends a stopped answer with an error; the page
            // asked for it, so it is no failure.
            Err(_) if self.stop.get() => self.post(&Event::AssistStopped),
            Err(message) => self.fail(message),
        }
    }

    async fn try_assist(
        &self,
        case_json: &str,
        today: &str,
        sampling: SamplingParams,
        lengths: Option<AnswerLengths>,
    ) -> Result<Event, String> {
        let case = Case::from_json(case_json)
            .map_err(|e| with_cause("The case could not be read", &e.to_string()))?;
        let today = Date::parse(today)
            .map_err(|e| with_cause("Today's date could not be read", &e.to_string()))?;
        let Some(assistant) = self.assistant.borrow_mut().take() else {
            return Err(if self.session.borrow().is_some() {
                "This model cannot reason over cases (its vocabulary does not suit the \
                 differential's grammar); try another model."
                    .into()
            } else {
                "The model is not loaded yet; wait until it is ready.".into()
            });
        };
        let Some(mut session) = self.session.borrow_mut().take() else {
            *self.assistant.borrow_mut() = Some(assistant);
            return Err("The model is not loaded yet; wait until it is ready.".into());
        };
        let sampling = Sampling {
            temperature: sampling.temperature,
            top_k: sampling.top_k,
            top_p: sampling.top_p,
            seed: sampling.seed,
        };
        let mut assistant = assistant;
        let defaults = shorten(&mut assistant, lengths);
        let result = assistant
            .answer(&mut session, &case, today, sampling, self, |e| {
                if let Some(event) = to_event(e) {
                    self.post(&event);
                }
            })
            .await;
        assistant.phases = defaults;
        *self.session.borrow_mut() = Some(session);
        *self.assistant.borrow_mut() = Some(assistant);
        let answer =
            result.map_err(|e| with_cause("The case could not be answered", &e.to_string()))?;
        Ok(Event::AssistDone {
            differential_json: serde_json::to_string(&answer.differential).unwrap_or_default(),
            time_to_first_token_ms: finite(answer.time_to_first_token_ms),
            total_ms: finite(answer.total_ms),
            reasoning_tokens: answer.reasoning_stats.generated_tokens as u32,
            differential_tokens: answer.differential_stats.generated_tokens as u32,
            kept_tokens: answer.reasoning_stats.reused_tokens as u32,
            drafted_tokens: (answer.reasoning_stats.accepted_tokens
                + answer.differential_stats.accepted_tokens) as u32,
        })
    }
}

/// Applies the page's shorter phases, if it asked for them, to `assistant`;
/// returns its own, to put back after the request.
fn shorten(assistant: &mut Assistant, lengths: Option<AnswerLengths>) -> Phases {
    let defaults = assistant.phases.clone();
    if let Some(l) = lengths {
        assistant.phases.reasoning_max_tokens = l.reasoning_max_tokens as usize;
        assistant.phases.differential_max_tokens = l.differential_max_tokens as usize;
    }
    defaults
}

/// The pipeline's report as a message for the page; the raw JSON pieces
/// stay in the worker (the page gets each diagnosis whole).
fn to_event(e: AssistEvent) -> Option<Event> {
    Some(match e {
        AssistEvent::Prompt {
            tokens,
            omitted,
            warnings,
        } => Event::AssistPrompt {
            tokens: tokens as u32,
            omitted: omitted.iter().map(ToString::to_string).collect(),
            warnings: warnings.into_iter().map(|w| w.message).collect(),
        },
        AssistEvent::Reasoning(text) => Event::Reasoning { text },
        AssistEvent::Json(_) => return None,
        AssistEvent::Summary(text) => Event::DifferentialSummary { text },
        AssistEvent::Item(index, item, code) => Event::DifferentialItem {
            index: index as u32,
            card: card(item, code),
        },
        AssistEvent::RedFlags(flags) => Event::RedFlags { flags },
    })
}

fn card(item: Item, code: Option<Icd10Match>) -> DiagnosisCard {
    let (icd10_code, icd10_title) = match code {
        Some(c) => (Some(c.code), Some(c.title)),
        None => (None, None),
    };
    DiagnosisCard {
        icd10_code,
        icd10_title,
        diagnosis: item.diagnosis,
        likelihood: match item.likelihood {
            Likelihood::High => "high",
            Likelihood::Moderate => "moderate",
            Likelihood::Low => "low",
        }
        .into(),
        supporting: item.supporting,
        against: item.against,
        cant_miss: item.cant_miss,
        next_steps: item.next_steps,
    }
}

/// `what: cause.` as one sentence.
fn with_cause(what: &str, cause: &str) -> String {
    let end = if cause.ends_with('.') { "" } else { "." };
    format!("{what}: {cause}{end}")
}

/// `what: cause.` as one sentence, the engine's cause starting lower case.
fn sentence(what: &str, cause: &Error) -> String {
    let cause = cause.to_string();
    let end = if cause.ends_with('.') { "" } else { "." };
    format!("{what}: {cause}{end}")
}

/// JSON has no infinities (a rate over zero milliseconds): report 0 instead.
fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}
