//! The page's layout: a header, then either the no-WebGPU explanation or the
//! model status, the question form and the answer, and once the model is
//! ready the clinical case and its differential.

use leptos::prelude::*;

use crate::components::{
    AnswerView, CaseForm, DifferentialList, ModelPicker, ModelStatus, PromptForm, WebGpuMissing,
};
use crate::state::{provide_assistant_context, AnswerState, Phase};

/// The whole page. Provides the assistant to every component below.
#[component]
pub fn App() -> impl IntoView {
    let assistant = provide_assistant_context();
    let phase = assistant.phase;
    let missing = Memo::new(move |_| match phase.get() {
        Phase::NoWebGpu { detail } => Some(detail),
        _ => None,
    });
    view! {
        <header class="top">
            <h1>"Locum"</h1>
            <p class="tagline">
                "A private clinical assistant. The model runs in this browser: "
                "nothing you type leaves this computer."
            </p>
        </header>
        <main data-phase=move || phase.get().name()>
            <Show
                when=move || missing.with(Option::is_none)
                fallback=move || view! { <WebGpuMissing detail=missing.get().unwrap_or_default() /> }
            >
                <ModelStatus />
                <ModelPicker />
                <PromptForm />
                <AnswerView />
                // The case can be written while the model loads; it lives in
                // the assistant's state, in this tab's memory only.
                <CaseForm />
                <Show when=move || {
                    phase.with(|p| *p == Phase::Ready) || assistant.case.state.get() != AnswerState::Idle
                }>
                    <DifferentialList />
                </Show>
            </Show>
        </main>
        <footer>
            <p>
                "A test build with a small general-purpose model. Its answers can be wrong: "
                "they are not medical advice and do not replace clinical judgement."
            </p>
        </footer>
    }
}
