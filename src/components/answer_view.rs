//! The streamed answer, its error if any, and its statistics.

use leptos::prelude::*;

use super::{GenerationStatsLine, PromptReading};
use crate::state::{use_assistant, AnswerState};

/// The answer as it arrives, token by token. `data-state` on `#answer`
/// says where it is (idle, streaming, stopping, done, failed).
#[component]
pub fn AnswerView() -> impl IntoView {
    let assistant = use_assistant();
    let state = assistant.answer_state;
    let status = move || match state.get() {
        AnswerState::Idle => "",
        // Prompt processing comes before the first token, and can be long.
        AnswerState::Streaming if assistant.answer.with(String::is_empty) => {
            "Reading the question…"
        }
        AnswerState::Streaming => "Writing…",
        AnswerState::Stopping => "Stopping…",
        AnswerState::Done => "",
        AnswerState::Failed => "",
    };
    view! {
        <section class="answer" aria-live="polite">
            <h2>"Answer " <span class="answer-status">{status}</span></h2>
            <PromptReading id="question-reading" />
            <div id="answer" class="answer-text" data-state=move || state.get().name()>
                {move || assistant.answer.get()}
            </div>
            <Show when=move || assistant.error.with(Option::is_some)>
                <p id="answer-error" class="error" role="alert">
                    {move || assistant.error.get()}
                </p>
            </Show>
            <GenerationStatsLine />
        </section>
    }
}
