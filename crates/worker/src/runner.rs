//! The worker's state and its answers to each [`Request`].
//!
//! Everything runs on the worker's one thread. Loading and generating are
//! futures spawned on its event loop; they yield whenever they await the
//! network or a GPU readback (once per token), so a [`Request::Stop`] that
//! arrives mid-generation is handled between two tokens: `onmessage` sets a
//! flag that the generation's text callback reads.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use locum_engine::{Error, Gpu, Sampling, Session};
use locum_worker::{Event, GenerationStats, Request, SamplingParams};
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
    /// A load or a generation is running.
    busy: Cell<bool>,
    /// The page asked the running generation to stop.
    stop: Cell<bool>,
    /// The page asked the running load to stop.
    cancel_load: Cell<bool>,
}

/// Installs the message handler and tells the page the worker is listening.
pub fn start() {
    let worker = Rc::new(Worker {
        scope: js_sys::global().unchecked_into(),
        session: RefCell::new(None),
        busy: Cell::new(false),
        stop: Cell::new(false),
        cancel_load: Cell::new(false),
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
        match request {
            Request::Stop => self.stop.set(true),
            Request::CancelLoad => self.cancel_load.set(true),
            _ if self.busy.get() => self
                .fail("The assistant is still busy with the previous request; wait or press Stop."),
            Request::Load { manifest, context } => {
                self.busy.set(true);
                self.cancel_load.set(false);
                spawn_local(self.clone().load(manifest, context));
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
        }
    }

    async fn load(self: Rc<Self>, manifest: String, context: u32) {
        let event = self
            .try_load(&manifest, context)
            .await
            .unwrap_or_else(|e| e);
        self.busy.set(false);
        self.post(&event);
    }

    /// Opens the GPU first, so a browser without WebGPU learns it before
    /// downloading anything; then loads the sharded model (see `loader`).
    async fn try_load(&self, manifest: &str, context: u32) -> Result<Event, Event> {
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
        *self.session.borrow_mut() = Some(loaded.session);
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
                // Stop is honoured between prompt batches too.
                let stop = || self.stop.get();
                session
                    .generate_until(&ids, max_tokens as usize, sampling, &stop, |piece| {
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
                    generated_tokens: st.generated_tokens as u32,
                    time_to_first_token_ms: st.time_to_first_token_ms,
                    prefill_tokens_per_s: finite(st.prefill_tokens_per_s()),
                    decode_tokens_per_s: finite(st.decode_tokens_per_s()),
                    stop_reason: st.stop_reason,
                },
            }),
            Err(e) => self.fail(sentence("The answer could not be generated", &e)),
        }
    }
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
