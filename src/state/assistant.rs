//! The typed bridge to the inference worker, and the reactive state the
//! components read.
//!
//! [`Assistant`] owns the `Worker` (non-`Send`, so in a local
//! `StoredValue`) and turns each [`Event`] it posts into signal updates.
//! Components call [`Assistant::generate`], [`Assistant::stop`],
//! [`Assistant::load`] and [`Assistant::cancel_load`]; they never see a
//! `postMessage`. The clinical assistant's half ([`Assistant::assist`],
//! [`Assistant::stop_case`]) fills [`Assistant::case`].

use leptos::prelude::*;
use locum_worker::{
    AnswerLengths, Event, GenerationStats, LoadProgress, Request, SamplingParams, DEFAULT_CONTEXT,
};
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::case::{self, CaseAnswer, CaseStats};
use super::webgpu;

/// The worker's loader script (`crates/worker/locum-worker-loader.js`, copied by trunk),
/// relative to the page.
const WORKER_SCRIPT: &str = "./locum-worker-loader.js";

/// The default model: the `manifest.json` of its shards, relative to the page.
pub const DEFAULT_MANIFEST_URL: &str = "model-shards/smollm2-135m-instruct/manifest.json";

/// Where the assistant is in its start-up.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Asking the browser for WebGPU.
    Checking,
    /// This browser cannot run the assistant; `detail` is its reason.
    NoWebGpu { detail: String },
    /// The worker is starting.
    Starting,
    /// The model is loading: checked, downloaded or read from this device,
    /// verified, uploaded to the GPU and warmed up.
    Loading {
        /// The worker's latest report; `None` until the first arrives.
        progress: Option<LoadProgress>,
        /// Cancel was pressed; waiting for the worker to stop.
        cancelling: bool,
    },
    /// The load was cancelled at the user's request. Shards already
    /// verified stay on this device, so loading again fetches the rest.
    Cancelled,
    /// Ready for questions.
    Ready,
    /// Start-up failed; `message` says why. A retry is possible.
    Failed { message: String },
}

impl Phase {
    /// A short name for tests and styling (`data-phase` on the page).
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Checking => "checking",
            Phase::NoWebGpu { .. } => "no-webgpu",
            Phase::Starting => "starting",
            Phase::Loading { .. } => "loading",
            Phase::Cancelled => "cancelled",
            Phase::Ready => "ready",
            Phase::Failed { .. } => "failed",
        }
    }

    /// The latest load report, while a load runs.
    pub fn load_progress(&self) -> Option<LoadProgress> {
        match self {
            Phase::Loading { progress, .. } => *progress,
            _ => None,
        }
    }
}

/// The loaded model, where it runs, and how its load went.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The model's name, from its manifest (may be empty).
    pub name: String,
    /// The GPU adapter in words.
    pub adapter: String,
    /// A software adapter: it works, slowly.
    pub software: bool,
    /// The whole load, from request to ready, in milliseconds.
    pub load_ms: f64,
    /// Bytes fetched from the network in this load.
    pub downloaded_bytes: u64,
    /// The model's size in bytes (all shards).
    pub model_bytes: u64,
    /// The worker's wasm memory after the load (its peak), in bytes.
    pub wasm_memory_bytes: u64,
    /// Shards this device could not keep (storage full): the next visit
    /// downloads them again.
    pub not_stored_shards: u32,
}

impl ModelInfo {
    /// Every shard came from this device: nothing was downloaded.
    pub fn came_from_this_device(&self) -> bool {
        self.downloaded_bytes == 0
    }
}

/// A long prompt's reading, as the worker last reported it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PromptRead {
    /// Tokens read.
    pub done: u32,
    /// The prompt's tokens.
    pub total: u32,
    /// From the request to this report, in milliseconds.
    pub elapsed_ms: f64,
}

/// State of the current (or last) answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerState {
    /// Nothing asked yet.
    Idle,
    /// Tokens are arriving.
    Streaming,
    /// Stop was pressed; waiting for the worker to finish the current token.
    Stopping,
    /// The answer is complete (or was stopped).
    Done,
    /// The generation failed; see [`Assistant::error`].
    Failed,
}

impl AnswerState {
    pub fn name(self) -> &'static str {
        match self {
            AnswerState::Idle => "idle",
            AnswerState::Streaming => "streaming",
            AnswerState::Stopping => "stopping",
            AnswerState::Done => "done",
            AnswerState::Failed => "failed",
        }
    }

    /// Whether a generation is in flight (Generate is disabled, Stop enabled).
    pub fn busy(self) -> bool {
        matches!(self, AnswerState::Streaming | AnswerState::Stopping)
    }
}

/// The page's handle on the assistant. `Copy`: every field is a signal or
/// an arena handle.
#[derive(Clone, Copy)]
pub struct Assistant {
    pub phase: RwSignal<Phase>,
    pub model: RwSignal<Option<ModelInfo>>,
    pub answer: RwSignal<String>,
    pub answer_state: RwSignal<AnswerState>,
    pub stats: RwSignal<Option<GenerationStats>>,
    /// The last error of a generation, as a sentence.
    pub error: RwSignal<Option<String>>,
    /// How far the running generation has read its prompt; `None` before
    /// the first report (a prompt of one batch has none) and once the
    /// first token arrives.
    pub prompt_read: RwSignal<Option<PromptRead>>,
    /// When the running generation was asked for (`Date.now()`, ms).
    asked_at: StoredValue<f64>,
    /// The clinical case and its answer.
    pub case: CaseAnswer,
    /// The model's `manifest.json`, relative to the page.
    pub manifest_url: RwSignal<String>,
    /// The adapter the page was offered when it checked for WebGPU.
    page_adapter: StoredValue<webgpu::PageAdapter>,
    /// The worker and its two handlers, kept alive together.
    worker: StoredValue<Option<WorkerHandle>, LocalStorage>,
}

struct WorkerHandle {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

/// The manifest the page loads: `model-shards/<id>/manifest.json` when the
/// address asks for a model (`?model=<id>`, an id of letters, digits, `-`,
/// `_` and `.`), else the default model's.
fn chosen_manifest_url() -> String {
    let id = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| web_sys::UrlSearchParams::new_with_str(&q).ok())
        .and_then(|p| p.get("model"))
        .filter(|id| {
            !id.is_empty()
                && !id.starts_with('.')
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
    match id {
        Some(id) => format!("model-shards/{id}/manifest.json"),
        None => DEFAULT_MANIFEST_URL.to_string(),
    }
}

/// The KV cache's size in positions: `?ctx=N` in the address (256 to
/// 8192), else [`DEFAULT_CONTEXT`]. A smaller cache fits less of a case (what
/// is left out is listed) and answers sooner on a slow adapter.
fn chosen_context() -> u32 {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| web_sys::UrlSearchParams::new_with_str(&q).ok())
        .and_then(|p| p.get("ctx"))
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (256..=8192).contains(n))
        .unwrap_or(DEFAULT_CONTEXT)
}

/// Prompt-lookup decoding on or off as the address asks (`?lookup=1` or
/// `?lookup=0`), else the engine's choice for the adapter. The benchmark
/// turns it off to measure plain decode against wllama's.
fn chosen_lookup() -> Option<bool> {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| web_sys::UrlSearchParams::new_with_str(&q).ok())
        .and_then(|p| p.get("lookup"))
        .and_then(|v| match v.as_str() {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        })
}

/// Shorter answers asked for in the address (`?reasoning=N&differential=M`,
/// tokens each): a quick look on a slow adapter, and what the browser tests
/// use. Both must be given, each 1 to 4096.
fn chosen_lengths() -> Option<AnswerLengths> {
    let params = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| web_sys::UrlSearchParams::new_with_str(&q).ok())?;
    let get = |name: &str| {
        params
            .get(name)
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| (1..=4096).contains(n))
    };
    Some(AnswerLengths {
        reasoning_max_tokens: get("reasoning")?,
        differential_max_tokens: get("differential")?,
    })
}

/// How long the form's case must stay unchanged before the worker reads it
/// ahead of its answer.
const READ_AHEAD_AFTER_MS: u64 = 1_500;

/// Makes the assistant, starts it, and provides it to the components below.
pub fn provide_assistant_context() -> Assistant {
    let assistant = Assistant::new(&chosen_manifest_url());
    provide_context(assistant);
    assistant.start();
    assistant.read_cases_ahead();
    assistant
}

/// The assistant provided by [`provide_assistant_context`].
pub fn use_assistant() -> Assistant {
    expect_context::<Assistant>()
}

impl Assistant {
    fn new(manifest_url: &str) -> Self {
        Assistant {
            phase: RwSignal::new(Phase::Checking),
            model: RwSignal::new(None),
            answer: RwSignal::new(String::new()),
            answer_state: RwSignal::new(AnswerState::Idle),
            stats: RwSignal::new(None),
            error: RwSignal::new(None),
            prompt_read: RwSignal::new(None),
            asked_at: StoredValue::new(0.0),
            case: CaseAnswer::new(),
            manifest_url: RwSignal::new(manifest_url.to_string()),
            page_adapter: StoredValue::new(Default::default()),
            worker: StoredValue::new_local(None),
        }
    }

    /// Checks for WebGPU, then starts the worker; the model load follows
    /// when the worker says it is listening.
    fn start(self) {
        self.phase.set(Phase::Checking);
        leptos::task::spawn_local(async move {
            match webgpu::detect().await {
                Ok(adapter) => self.page_adapter.set_value(adapter),
                Err(detail) => {
                    log::warn!("no WebGPU: {detail}");
                    self.phase.set(Phase::NoWebGpu { detail });
                    return;
                }
            }
            self.phase.set(Phase::Starting);
            if let Err(message) = self.spawn_worker() {
                self.phase.set(Phase::Failed { message });
            }
        });
    }

    fn spawn_worker(self) -> Result<(), String> {
        let worker = Worker::new(WORKER_SCRIPT).map_err(|e| {
            format!(
                "The assistant's engine could not be started ({}). Reload the page to try again.",
                webgpu::describe(&e)
            )
        })?;
        let on_message =
            Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                match ev.data().as_string().map(|s| Event::from_json(&s)) {
                    Some(Ok(event)) => self.handle(event),
                    other => log::error!("unreadable message from the worker: {other:?}"),
                }
            });
        // Raised when the worker's script or wasm fails to load, or panics.
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |ev: ErrorEvent| {
            let message = format!(
                "The assistant's engine stopped unexpectedly ({}). Reload the page to start it again; \
                 your text is kept until then.",
                ev.message()
            );
            log::error!("{message}");
            self.worker_died(message);
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        self.worker.set_value(Some(WorkerHandle {
            worker,
            _on_message: on_message,
            _on_error: on_error,
        }));
        Ok(())
    }

    fn send(self, request: &Request) -> Result<(), String> {
        self.worker.with_value(|w| match w {
            Some(h) => h
                .worker
                .post_message(&JsValue::from_str(&request.to_json()))
                .map_err(|e| webgpu::describe(&e)),
            None => Err("the engine is not running".into()),
        })
    }

    /// Asks the worker to load the model: on start-up, and again after a
    /// cancelled load (the worker then fetches only the shards it lacks).
    /// Does nothing while a load is already running.
    pub fn load(self) {
        if matches!(self.phase.get_untracked(), Phase::Loading { .. }) {
            return;
        }
        let manifest = absolute_url(&self.manifest_url.get_untracked());
        self.phase.set(Phase::Loading {
            progress: None,
            cancelling: false,
        });
        let request = Request::Load {
            manifest,
            context: chosen_context(),
            lookup: chosen_lookup(),
        };
        if let Err(e) = self.send(&request) {
            self.phase.set(Phase::Failed {
                message: format!("The model could not be requested ({e}). Reload the page."),
            });
        }
    }

    /// Asks the worker to abandon the running load. The phase stays
    /// [`Phase::Loading`] (marked `cancelling`) until the worker answers
    /// [`Event::LoadCancelled`], or [`Event::Ready`] if it finished first.
    pub fn cancel_load(self) {
        let Phase::Loading {
            progress,
            cancelling: false,
        } = self.phase.get_untracked()
        else {
            return;
        };
        self.phase.set(Phase::Loading {
            progress,
            cancelling: true,
        });
        if let Err(e) = self.send(&Request::CancelLoad) {
            // The worker is gone; its error handler reports that.
            log::error!("could not send CancelLoad: {e}");
        }
    }

    /// Whether the worker is answering a question or a case (it does one
    /// thing at a time). Tracked: for `disabled` attributes.
    pub fn busy(self) -> bool {
        self.answer_state.get().busy() || self.case.state.get().busy()
    }

    fn busy_untracked(self) -> bool {
        self.answer_state.get_untracked().busy() || self.case.state.get_untracked().busy()
    }

    /// Once the form's case has stayed unchanged for a moment (typed,
    /// imported or an example chosen) and the model is ready and idle, the
    /// worker reads its prompt into the KV cache (`Request::ReadAhead`),
    /// while the clinician is still reviewing it: "Reason over this case"
    /// then reads only what changed since. Nothing leaves the page.
    fn read_cases_ahead(self) {
        let edits = StoredValue::new(0u64);
        Effect::new(move |_| {
            let ready = self.phase.get() == Phase::Ready;
            let draft = self.case.draft;
            let case = draft.to_case();
            let edit = edits.get_value() + 1;
            edits.set_value(edit);
            // What was read ahead was for the case before this edit.
            self.case.read_ahead.set(None);
            if !ready || untrack(|| draft.is_empty()) {
                return;
            }
            let Ok(case_json) = serde_json::to_string(&case) else {
                return;
            };
            set_timeout(
                move || {
                    let unchanged = edits.get_value() == edit;
                    let idle = !self.busy_untracked() && self.phase.get_untracked() == Phase::Ready;
                    if !(unchanged && idle) {
                        return;
                    }
                    let request = Request::ReadAhead {
                        case_json,
                        today: case::today().to_string(),
                        lengths: chosen_lengths(),
                    };
                    if let Err(e) = self.send(&request) {
                        log::warn!("could not send ReadAhead: {e}");
                    }
                },
                std::time::Duration::from_millis(READ_AHEAD_AFTER_MS),
            );
        });
    }

    /// Starts reasoning over the case in the form ([`CaseAnswer::draft`]);
    /// the answer arrives in [`Assistant::case`].
    pub fn assist(self, sampling: SamplingParams) {
        if self.busy_untracked() || self.phase.get_untracked() != Phase::Ready {
            return;
        }
        let draft = self.case.draft;
        if draft.is_empty() {
            return;
        }
        let sent = untrack(|| draft.to_case());
        self.case.clear_answer();
        self.case.state.set(AnswerState::Streaming);
        self.asked();
        let case_json = match serde_json::to_string(&sent) {
            Ok(json) => json,
            Err(e) => return self.fail_case(format!("The case could not be prepared ({e}).")),
        };
        self.case.answered.set(Some(sent));
        let request = Request::Assist {
            case_json,
            today: case::today().to_string(),
            sampling,
            lengths: chosen_lengths(),
        };
        if let Err(e) = self.send(&request) {
            self.fail_case(format!("The case could not be sent to the engine ({e})."));
        }
    }

    /// Loads another model in place of this one (the case and the question
    /// stay as typed), and puts `?model=<id>` in the address so a reload
    /// keeps the choice. Refused while an answer streams or a load runs.
    pub fn switch_model(self, manifest_url: String, id: &str) -> bool {
        if self.busy_untracked() || matches!(self.phase.get_untracked(), Phase::Loading { .. }) {
            return false;
        }
        if let Some(window) = web_sys::window() {
            if let Ok(url) = web_sys::Url::new(&window.location().href().unwrap_or_default()) {
                url.search_params().set("model", id);
                if let Ok(history) = window.history() {
                    let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url.href()));
                }
            }
        }
        self.manifest_url.set(manifest_url);
        self.model.set(None);
        self.load();
        true
    }

    /// Ends the running answer to a case after the current token.
    pub fn stop_case(self) {
        if self.case.state.get_untracked() == AnswerState::Streaming {
            self.case.state.set(AnswerState::Stopping);
            if let Err(e) = self.send(&Request::Stop) {
                log::error!("could not send Stop: {e}");
            }
        }
    }

    fn fail_case(self, message: String) {
        self.case.error.set(Some(message));
        self.case.state.set(AnswerState::Failed);
    }

    /// Starts answering `prompt`; tokens arrive in [`Assistant::answer`].
    pub fn generate(self, prompt: String, chat: bool, max_tokens: u32, sampling: SamplingParams) {
        if self.busy_untracked() || self.phase.get_untracked() != Phase::Ready {
            return;
        }
        self.answer.set(String::new());
        self.stats.set(None);
        self.error.set(None);
        self.answer_state.set(AnswerState::Streaming);
        self.asked();
        // The question takes the model's cache: what was read of the case
        // is no longer held.
        self.case.read_ahead.set(None);
        let request = Request::Generate {
            prompt,
            chat,
            max_tokens,
            sampling,
        };
        if let Err(e) = self.send(&request) {
            self.fail_answer(format!(
                "The question could not be sent to the engine ({e})."
            ));
        }
    }

    /// A generation was just asked for: no prompt read yet.
    fn asked(self) {
        self.prompt_read.set(None);
        self.asked_at.set_value(js_sys::Date::now());
    }

    /// The prompt's reading is over (its first token came, or the answer
    /// ended).
    fn prompt_finished(self) {
        if self.prompt_read.with_untracked(Option::is_some) {
            self.prompt_read.set(None);
        }
    }

    /// Ends the running generation after the current token.
    pub fn stop(self) {
        if self.answer_state.get_untracked() == AnswerState::Streaming {
            self.answer_state.set(AnswerState::Stopping);
            if let Err(e) = self.send(&Request::Stop) {
                log::error!("could not send Stop: {e}");
            }
        }
    }

    fn fail_answer(self, message: String) {
        self.error.set(Some(message));
        self.answer_state.set(AnswerState::Failed);
    }

    fn worker_died(self, message: String) {
        self.prompt_finished();
        if self.answer_state.get_untracked().busy() {
            self.fail_answer(message.clone());
        }
        if self.case.state.get_untracked().busy() {
            self.fail_case(message.clone());
        }
        self.phase.set(Phase::Failed { message });
    }

    /// Starts afresh after a failure: a new worker, then a new load. The
    /// old worker may be stuck or dead, so it is ended, not reused.
    pub fn restart(self) {
        if let Some(old) = self.worker.try_update_value(|w| w.take()).flatten() {
            old.worker.terminate();
        }
        self.model.set(None);
        self.start();
    }

    fn handle(self, event: Event) {
        // Whatever comes after the prompt's reading (a token, the
        // reasoning, the end, an error) ends it.
        if !matches!(
            event,
            Event::PromptRead { .. }
                | Event::AssistPrompt { .. }
                | Event::Progress(_)
                | Event::ReadAhead { .. }
        ) {
            self.prompt_finished();
        }
        match event {
            Event::Booted => self.load(),
            Event::Progress(report) => {
                // A report that crosses a cancel (or a failure) is stale.
                if let Phase::Loading { cancelling, .. } = self.phase.get_untracked() {
                    self.phase.set(Phase::Loading {
                        progress: Some(report),
                        cancelling,
                    });
                }
            }
            Event::LoadCancelled => {
                if matches!(self.phase.get_untracked(), Phase::Loading { .. }) {
                    self.phase.set(Phase::Cancelled);
                }
            }
            Event::Ready {
                model,
                adapter,
                load_ms,
                downloaded_bytes,
                model_bytes,
                wasm_memory_bytes,
                not_stored_shards,
            } => {
                let page = self.page_adapter.get_value();
                // Browsers may hide the adapter's name from wgpu; the page's
                // own look at `adapter.info` may have found one.
                let adapter = [adapter.trim(), page.name.trim()]
                    .into_iter()
                    .find(|a| !a.is_empty())
                    .unwrap_or("the browser's WebGPU adapter")
                    .to_string();
                self.model.set(Some(ModelInfo {
                    name: model,
                    software: page.software,
                    adapter,
                    load_ms,
                    downloaded_bytes,
                    model_bytes,
                    wasm_memory_bytes,
                    not_stored_shards,
                }));
                self.phase.set(Phase::Ready);
            }
            // The page's own check passed, so this is the worker failing to
            // open the GPU: a failure to retry, not a browser to replace (and
            // the form, with whatever is typed in it, stays).
            Event::NoWebGpu { detail } => self.phase.set(Phase::Failed {
                message: format!(
                    "The assistant could not start the graphics processor ({detail}). Close other \
                     tabs that use it and try again; if this keeps happening, use a recent Chrome \
                     or Edge."
                ),
            }),
            Event::PromptRead { done, total } => {
                if self.answer_state.get_untracked().busy()
                    || self.case.state.get_untracked().busy()
                {
                    self.prompt_read.set(Some(PromptRead {
                        done,
                        total,
                        elapsed_ms: js_sys::Date::now() - self.asked_at.get_value(),
                    }));
                }
            }
            Event::Token { text } => {
                if self.answer_state.get_untracked().busy() {
                    self.answer.update(|a| a.push_str(&text));
                }
            }
            Event::Done { stats } => {
                self.stats.set(Some(stats));
                self.answer_state.set(AnswerState::Done);
            }
            Event::AssistPrompt {
                tokens,
                omitted,
                warnings,
            } => {
                self.case.prompt_tokens.set(Some(tokens));
                self.case.omitted.set(omitted);
                self.case.warnings.set(warnings);
            }
            Event::Reasoning { text } => {
                if self.case.state.get_untracked().busy() {
                    self.case.reasoning.update(|r| r.push_str(&text));
                }
            }
            Event::DifferentialSummary { text } => self.case.summary.set(Some(text)),
            Event::DifferentialItem { index, card } => self.case.place(index, card),
            Event::RedFlags { flags } => self.case.red_flags.set(flags),
            Event::AssistDone {
                differential_json: _,
                time_to_first_token_ms,
                total_ms,
                reasoning_tokens,
                differential_tokens,
                kept_tokens,
                drafted_tokens,
            } => {
                self.case.stats.set(Some(CaseStats {
                    time_to_first_token_ms,
                    total_ms,
                    reasoning_tokens,
                    differential_tokens,
                    kept_tokens,
                    drafted_tokens,
                }));
                self.case.state.set(AnswerState::Done);
            }
            Event::AssistStopped => self.case.state.set(AnswerState::Done),
            Event::ReadAhead { tokens, kept, read } => {
                self.case.read_ahead.set(Some((tokens, kept + read)))
            }
            Event::Error { message } => {
                if self.case.state.get_untracked().busy() {
                    self.fail_case(message);
                } else if self.phase.get_untracked() == Phase::Ready {
                    self.fail_answer(message);
                } else {
                    self.phase.set(Phase::Failed { message });
                }
            }
        }
    }
}

/// `url` resolved against the page's address, so the worker (whose base is
/// its own script) fetches what the page means.
fn absolute_url(url: &str) -> String {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.base_uri().ok().flatten())
        .and_then(|base| web_sys::Url::new_with_base(url, &base).ok())
        .map(|u| u.href())
        .unwrap_or_else(|| url.to_string())
}
