//! The clinical case: an example picker, the case text, Reason and Stop,
//! and the standing reminder of what the assistant is.

use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::prelude::*;
use locum_worker::SamplingParams;

use crate::state::{use_assistant, AnswerState, Phase};

/// The case form, shown once the model is ready. The case is free text
/// (sent as one note) or Locum's case JSON, which is what picking an
/// example puts here. What is typed is kept in the page's state, so it
/// survives errors, stops and model reloads.
///
/// Test hooks: `#case-example`, `#case-text`, `#reason`, `#case-stop`,
/// `#case-disclaimer`.
#[component]
pub fn CaseForm() -> impl IntoView {
    let assistant = use_assistant();
    let case = assistant.case;
    let ready = move || assistant.phase.get() == Phase::Ready;
    let can_reason =
        move || ready() && !assistant.busy() && !case.text.with(|t| t.trim().is_empty());

    let submit = move || {
        if can_reason() {
            // Greedy: the same case gives the same answer, which is what a
            // clinician checking a suggestion needs.
            assistant.assist(SamplingParams::greedy());
        }
    };
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        submit();
    };
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
            ev.prevent_default();
            submit();
        }
    };
    let on_pick = move |ev| {
        let id = event_target_value(&ev);
        let json = case
            .examples
            .with_untracked(|all| all.iter().find(|e| e.id == id).map(|e| e.case_json.clone()));
        if let Some(json) = json {
            case.text.set(json);
        }
    };
    let model_name = move || {
        assistant
            .model
            .get()
            .map(|m| m.name.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "unnamed".into())
    };

    view! {
        <section class="case" aria-labelledby="case-heading">
            <h2 id="case-heading">"Clinical case"</h2>
            <p id="case-disclaimer" class="disclaimer">
                "Decision support only: verify every suggestion clinically. Model: "
                {model_name}
                "; small models make mistakes."
            </p>
            <form id="case-form" class="case-form" on:submit=on_submit>
                <label for="case-example">"Fictional example case"</label>
                <select id="case-example" on:change=on_pick>
                    <option value="">"Choose an example to fill in the case…"</option>
                    {move || {
                        case.examples
                            .get()
                            .into_iter()
                            .map(|e| view! { <option value=e.id>{e.title}</option> })
                            .collect_view()
                    }}
                </select>
                <label for="case-text">"The case"</label>
                <textarea
                    id="case-text"
                    rows="12"
                    placeholder="Paste the history, examination and results (Ctrl+Enter to reason), or choose an example"
                    prop:value=move || case.text.get()
                    on:input=move |ev| case.text.set(event_target_value(&ev))
                    on:keydown=on_keydown
                ></textarea>
                <div class="actions">
                    <button type="submit" id="reason" disabled=move || !can_reason()>
                        "Reason over this case"
                    </button>
                    <button
                        type="button"
                        id="case-stop"
                        disabled=move || case.state.get() != AnswerState::Streaming
                        on:click=move |_| assistant.stop_case()
                    >
                        "Stop"
                    </button>
                </div>
            </form>
        </section>
    }
}
