//! The typed bridge to the inference worker, and the reactive state the
//! components read.
//!
//! [`Assistant`] owns the `Worker` (non-`Send`, so in a local
//! `StoredValue`) and turns each [`Event`] it posts into signal updates.
//! Components call [`Assistant::generate`] and [`Assistant::stop`]; they
//! never see a `postMessage`.

use leptos::prelude::*;
use locum_worker::{Event, GenerationStats, Request, SamplingParams, DEFAULT_CONTEXT};
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::webgpu;

/// The worker's loader script (`crates/worker/locum-worker-loader.js`, copied by trunk),
/// relative to the page.
const WORKER_SCRIPT: &str = "./locum-worker-loader.js";

/// The default model, relative to the page.
pub const DEFAULT_MODEL_URL: &str = "model-shards/model.gguf";

/// Where the assistant is in its start-up.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Asking the browser for WebGPU.
    Checking,
    /// This browser cannot run the assistant; `detail` is its reason.
    NoWebGpu { detail: String },
    /// The worker is starting.
    Starting,
    /// The model is downloading: `loaded` bytes of `total`.
    Downloading { loaded: u64, total: Option<u64> },
    /// The model is being copied to the GPU.
    Preparing,
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
            Phase::Downloading { .. } => "downloading",
            Phase::Preparing => "preparing",
            Phase::Ready => "ready",
            Phase::Failed { .. } => "failed",
        }
    }
}

/// The loaded model and where it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    /// The GPU adapter in words.
    pub adapter: String,
    /// A software adapter: it works, slowly.
    pub software: bool,
    pub load_ms: f64,
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
    model_url: StoredValue<String>,
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

/// Makes the assistant, starts it, and provides it to the components below.
pub fn provide_assistant_context() -> Assistant {
    let assistant = Assistant::new(DEFAULT_MODEL_URL);
    provide_context(assistant);
    assistant.start();
    assistant
}

/// The assistant provided by [`provide_assistant_context`].
pub fn use_assistant() -> Assistant {
    expect_context::<Assistant>()
}

impl Assistant {
    fn new(model_url: &str) -> Self {
        Assistant {
            phase: RwSignal::new(Phase::Checking),
            model: RwSignal::new(None),
            answer: RwSignal::new(String::new()),
            answer_state: RwSignal::new(AnswerState::Idle),
            stats: RwSignal::new(None),
            error: RwSignal::new(None),
            model_url: StoredValue::new(model_url.to_string()),
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

    /// Asks the worker to (re)load the model.
    pub fn load(self) {
        let url = absolute_url(&self.model_url.get_value());
        self.phase.set(Phase::Downloading {
            loaded: 0,
            total: None,
        });
        let request = Request::Load {
            url,
            context: DEFAULT_CONTEXT,
        };
        if let Err(e) = self.send(&request) {
            self.phase.set(Phase::Failed {
                message: format!("The model could not be requested ({e}). Reload the page."),
            });
        }
    }

    /// Starts answering `prompt`; tokens arrive in [`Assistant::answer`].
    pub fn generate(self, prompt: String, chat: bool, max_tokens: u32, sampling: SamplingParams) {
        if self.answer_state.get_untracked().busy() || self.phase.get_untracked() != Phase::Ready {
            return;
        }
        self.answer.set(String::new());
        self.stats.set(None);
        self.error.set(None);
        self.answer_state.set(AnswerState::Streaming);
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
        if self.answer_state.get_untracked().busy() {
            self.fail_answer(message.clone());
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
        match event {
            Event::Booted => self.load(),
            Event::Progress { loaded, total } => {
                self.phase.set(Phase::Downloading { loaded, total })
            }
            Event::Preparing => self.phase.set(Phase::Preparing),
            Event::Ready {
                model,
                adapter,
                load_ms,
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
            Event::Token { text } => {
                if self.answer_state.get_untracked().busy() {
                    self.answer.update(|a| a.push_str(&text));
                }
            }
            Event::Done { stats } => {
                self.stats.set(Some(stats));
                self.answer_state.set(AnswerState::Done);
            }
            Event::Error { message } => {
                if self.phase.get_untracked() == Phase::Ready {
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
