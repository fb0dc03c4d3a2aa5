//! What a clinician does with a finished answer: copy it as a plain-text or
//! Markdown note, or print it (the print style shows the answer, the case's
//! complaint and the decision-support statement, not the form).

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

use crate::state::case::today;
use crate::state::note::{AnswerNote, NoteFormat};
use crate::state::{use_assistant, AnswerState};

/// Copy and Print, shown once the differential has at least one item.
///
/// Test hooks: `#copy-text`, `#copy-markdown`, `#print`, `#copy-status`.
#[component]
pub fn AnswerActions() -> impl IntoView {
    let assistant = use_assistant();
    let case = assistant.case;
    let status = RwSignal::new(None::<String>);
    let note = move || AnswerNote {
        model: assistant
            .model
            .get_untracked()
            .map(|m| m.name.trim().to_string())
            .unwrap_or_default(),
        date: today().to_string(),
        case_line: case
            .answered
            .get_untracked()
            .map(|c| c.presenting_complaint)
            .filter(|c| !c.is_empty()),
        summary: case.summary.get_untracked(),
        cards: case.cards.get_untracked(),
        red_flags: case.red_flags.get_untracked(),
        incomplete: case.stats.get_untracked().is_none(),
    };
    let copy = move |format: NoteFormat| {
        let text = note().render(format);
        let what = if format == NoteFormat::Markdown {
            "Markdown"
        } else {
            "plain text"
        };
        let Some(window) = web_sys::window() else {
            return;
        };
        let promise = window.navigator().clipboard().write_text(&text);
        spawn_local(async move {
            status.try_set(Some(match JsFuture::from(promise).await {
                Ok(_) => format!("Copied as {what}."),
                Err(_) => format!(
                    "The browser did not allow copying ({what}). Select the differential and copy it by hand."
                ),
            }));
        });
    };
    let print = move |_| {
        if let Some(w) = web_sys::window() {
            let _ = w.print();
        }
    };
    let finished = move || {
        !case.cards.with(Vec::is_empty)
            && matches!(case.state.get(), AnswerState::Done | AnswerState::Failed)
    };
    view! {
        <Show when=finished>
            <div class="actions answer-actions">
                <button type="button" id="copy-text" class="secondary" on:click=move |_| copy(NoteFormat::Text)>
                    "Copy as text"
                </button>
                <button type="button" id="copy-markdown" class="secondary" on:click=move |_| copy(NoteFormat::Markdown)>
                    "Copy as Markdown"
                </button>
                <button type="button" id="print" class="secondary" on:click=print>"Print"</button>
                <span id="copy-status" role="status">{move || status.get()}</span>
            </div>
        </Show>
    }
}
