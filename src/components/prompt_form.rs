//! The question box and its options: chat template, answer length,
//! temperature; Generate and Stop.

use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::prelude::*;
use locum_worker::SamplingParams;

use crate::state::{use_assistant, AnswerState, Phase};

/// Answer length when the field is empty or unreadable.
const DEFAULT_MAX_TOKENS: u32 = 256;
/// The longest answer the form allows; the worker's context is 2048.
const MAX_MAX_TOKENS: u32 = 1536;

/// The prompt form. Usable while the model downloads (Generate waits for
/// it); what is typed stays here across answers and errors.
#[component]
pub fn PromptForm() -> impl IntoView {
    let assistant = use_assistant();
    let prompt = RwSignal::new(String::new());
    let chat = RwSignal::new(true);
    let max_tokens = RwSignal::new(DEFAULT_MAX_TOKENS.to_string());
    let temperature = RwSignal::new("0".to_string());

    let ready = move || assistant.phase.get() == Phase::Ready;
    let busy = move || assistant.busy();
    let can_generate = move || ready() && !busy() && !prompt.with(|p| p.trim().is_empty());

    let submit = move || {
        if !can_generate() {
            return;
        }
        let max = max_tokens
            .get_untracked()
            .trim()
            .parse::<u32>()
            .unwrap_or(DEFAULT_MAX_TOKENS)
            .clamp(1, MAX_MAX_TOKENS);
        max_tokens.set(max.to_string());
        let temp = temperature
            .get_untracked()
            .trim()
            .parse::<f32>()
            .ok()
            .filter(|t| t.is_finite())
            .unwrap_or(0.0)
            .clamp(0.0, 2.0);
        let sampling = if temp <= 0.0 {
            SamplingParams::greedy()
        } else {
            SamplingParams {
                temperature: temp,
                top_k: 40,
                top_p: 0.95,
                // A new draw each time; greedy needs none.
                seed: js_sys::Date::now() as u32,
            }
        };
        assistant.generate(prompt.get_untracked(), chat.get_untracked(), max, sampling);
    };
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        submit();
    };
    // Ctrl+Enter (Cmd+Enter on a Mac) sends, as in most chat boxes.
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
            ev.prevent_default();
            submit();
        }
    };

    view! {
        <form id="prompt-form" class="prompt-form" on:submit=on_submit>
            <label for="prompt">"Your question"</label>
            <textarea
                id="prompt"
                rows="6"
                placeholder="Type a question, e.g. a clinical scenario (Ctrl+Enter to send)"
                prop:value=move || prompt.get()
                on:input=move |ev| prompt.set(event_target_value(&ev))
                on:keydown=on_keydown
            ></textarea>
            <div class="options">
                <label title="Wrap the question in the model's own chat format (recommended)">
                    <input
                        type="checkbox"
                        id="chat"
                        prop:checked=move || chat.get()
                        on:change=move |ev| chat.set(event_target_checked(&ev))
                    />
                    " Chat template"
                </label>
                <label>
                    "Max tokens "
                    <input
                        type="number"
                        id="max-tokens"
                        min="1"
                        max=MAX_MAX_TOKENS.to_string()
                        prop:value=move || max_tokens.get()
                        on:input=move |ev| max_tokens.set(event_target_value(&ev))
                    />
                </label>
                <label title="0 always picks the most likely word; higher values vary the answer">
                    "Temperature "
                    <input
                        type="number"
                        id="temperature"
                        min="0"
                        max="2"
                        step="0.1"
                        prop:value=move || temperature.get()
                        on:input=move |ev| temperature.set(event_target_value(&ev))
                    />
                </label>
            </div>
            <div class="actions">
                <button type="submit" id="generate" disabled=move || !can_generate()>
                    "Generate"
                </button>
                <button
                    type="button"
                    id="stop"
                    disabled=move || assistant.answer_state.get() != AnswerState::Streaming
                    on:click=move |_| assistant.stop()
                >
                    "Stop"
                </button>
            </div>
        </form>
    }
}
