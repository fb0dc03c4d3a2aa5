//! The answer to a case: the reasoning as it streams, then the differential
//! card by card, and the red flags.

use leptos::prelude::*;

use super::units;
use super::{AnswerActions, DiagnosisCardView, PromptReading};
use crate::state::{use_assistant, AnswerState};

/// The case's answer. `data-state` on `#case-answer` says where it is
/// (idle, streaming, stopping, done, failed); `#reasoning`, `#differential`
/// (one `li.diagnosis` per diagnosis), `#red-flags`, `#case-error` and
/// `#case-stats` hold its parts.
#[component]
pub fn DifferentialList() -> impl IntoView {
    let case = use_assistant().case;
    let state = case.state;
    let status = move || match state.get() {
        AnswerState::Streaming if case.reasoning.with(String::is_empty) => "Reading the case…",
        AnswerState::Streaming if case.summary.with(Option::is_none) => "Reasoning…",
        AnswerState::Streaming => "Writing the differential…",
        AnswerState::Stopping => "Stopping…",
        AnswerState::Done if case.stats.with(Option::is_none) => "Stopped.",
        _ => "",
    };
    view! {
        <section id="case-answer" class="case-answer" data-state=move || state.get().name()>
            <p id="print-case" class="print-only">
                {move || {
                    case.answered.get().map(|c| {
                        let who = [
                            c.demographics.age_years.map(|a| format!("{a}-year-old")),
                            c.demographics.sex.map(|s| format!("{s:?}").to_lowercase()),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                        format!("Case: {who}{}{}", if who.is_empty() { "" } else { ", " }, c.presenting_complaint)
                    })
                }}
            </p>
            <h3>"Reasoning " <span class="answer-status" aria-live="polite">{status}</span></h3>
            <PromptReading id="case-reading" />
            <Show when=move || case.prompt_tokens.with(Option::is_some)>
                <p id="case-prompt" class="detail">
                    {move || format!("The case took {} tokens of the model's context.", case.prompt_tokens.get().unwrap_or(0))}
                </p>
            </Show>
            <Show when=move || !case.warnings.with(Vec::is_empty)>
                <ul id="case-warnings" class="warning" role="status" aria-label="Flagged in the case">
                    {move || case.warnings.get().into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}
                </ul>
            </Show>
            <Show when=move || !case.omitted.with(Vec::is_empty)>
                <ul id="case-omitted" class="detail" aria-label="Left out to fit the model's context">
                    {move || {
                        case.omitted
                            .get()
                            .into_iter()
                            .map(|o| view! { <li>{format!("Left out: {o}")}</li> })
                            .collect_view()
                    }}
                </ul>
            </Show>
            <div id="reasoning" class="answer-text reasoning">{move || case.reasoning.get()}</div>
            <Show when=move || case.error.with(Option::is_some)>
                <p id="case-error" class="error" role="alert">{move || case.error.get()}</p>
            </Show>
            <h3>"Differential"</h3>
            <Show when=move || case.summary.with(Option::is_some)>
                <p id="case-summary">{move || case.summary.get()}</p>
            </Show>
            <ol id="differential" class="differential" aria-live="polite">
                {move || {
                    case.cards
                        .get()
                        .into_iter()
                        .enumerate()
                        .map(|(i, card)| view! { <DiagnosisCardView rank=i + 1 card=card /> })
                        .collect_view()
                }}
            </ol>
            <Show when=move || !case.red_flags.with(Vec::is_empty)>
                <section id="red-flags" class="red-flags" role="alert">
                    <h3>"Red flags: act now"</h3>
                    <ul>
                        {move || case.red_flags.get().into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}
                    </ul>
                </section>
            </Show>
            <AnswerActions />
            {move || {
                case.stats.get().map(|s| {
                    view! {
                        <p id="case-stats" class="stats">
                            {format!(
                                "First reasoning token after {}; differential complete after {} \
                                 ({} reasoning and {} differential tokens{}{}).",
                                units::duration(s.time_to_first_token_ms),
                                units::duration(s.total_ms),
                                s.reasoning_tokens,
                                s.differential_tokens,
                                match s.drafted_tokens {
                                    0 => String::new(),
                                    d => format!(", {d} of them drafted by prompt lookup"),
                                },
                                match s.kept_tokens {
                                    0 => String::new(),
                                    k => format!("; {k} of the case's tokens were read before"),
                                },
                            )}
                        </p>
                    }
                })
            }}
        </section>
    }
}
