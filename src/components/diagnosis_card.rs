//! One diagnosis of the differential, as a card.

use leptos::prelude::*;
use locum_worker::DiagnosisCard;
use wasm_bindgen::JsCast;

use super::timeline::row_id;
use crate::state::case::Field;
use crate::state::quote::{self, Source};
use crate::state::use_assistant;

/// A diagnosis with its rank, likelihood, a "can't miss" badge when it must
/// be excluded whatever its likelihood, its ICD-10-CM code and title (or
/// "uncoded"), the findings for and against it, and the next steps.
/// A finding that quotes the case is marked, with a button that shows the
/// quoted words where they are in the form (or the result in the timeline).
#[component]
pub fn DiagnosisCardView(
    /// 1 for the most likely.
    rank: usize,
    /// The diagnosis as the worker sent it.
    card: DiagnosisCard,
) -> impl IntoView {
    let DiagnosisCard {
        diagnosis,
        likelihood,
        supporting,
        against,
        cant_miss,
        next_steps,
        icd10_code,
        icd10_title,
    } = card;
    // The local ICD-10-CM lookup never guesses: no match reads "uncoded".
    let coded = match (icd10_code, icd10_title) {
        (Some(code), Some(title)) => {
            let attr = code.clone();
            view! {
            <p class="icd10" data-icd10=attr>
                <abbr title="ICD-10-CM 2026">"ICD-10-CM"</abbr>
                " "
                <code>{code}</code>
                " "
                {title}
            </p>
            }
            .into_any()
        }
        _ => view! { <p class="icd10 uncoded" data-icd10="">"Uncoded: no ICD-10-CM title matches."</p> }
            .into_any(),
    };
    view! {
        <li class="diagnosis" data-likelihood=likelihood.clone() data-cant-miss=cant_miss.to_string()>
            <h4>
                {format!("{rank}. {diagnosis}")}
                " "
                <span class="likelihood">{format!("{likelihood} likelihood")}</span>
                {cant_miss.then(|| view! { " " <span class="badge cant-miss">"Can't miss"</span> })}
            </h4>
            {coded}
            {quoted_findings("Supporting", supporting)}
            {quoted_findings("Against", against)}
            {findings("Next steps", next_steps)}
        </li>
    }
}

/// A titled list, or nothing when the list is empty.
fn findings(title: &'static str, lines: Vec<String>) -> impl IntoView {
    (!lines.is_empty()).then(|| {
        view! {
            <p class="findings-title">{title}</p>
            <ul>{lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
        }
    })
}

/// Findings, each linked to where the case says it when it quotes the case.
fn quoted_findings(title: &'static str, lines: Vec<String>) -> impl IntoView {
    let draft = use_assistant().case.draft;
    let fields: Vec<(Field, String)> = Field::ALL
        .iter()
        .map(|&f| (f, draft.text(f).get_untracked()))
        .collect();
    let results: Vec<String> = draft
        .observations
        .with_untracked(|o| o.iter().map(|o| o.name.clone()).collect());
    (!lines.is_empty()).then(|| {
        view! {
            <p class="findings-title">{title}</p>
            <ul>
                {lines
                    .into_iter()
                    .map(|line| match quote::find(&line, &fields, &results) {
                        Some(source) => {
                            let place = match &source {
                                Source::Text { field, .. } => field.label().to_string(),
                                Source::Result(name) => format!("{name} in the results"),
                            };
                            let aria = format!("Show where the case says this: {place}");
                            view! {
                                <li class="quoted">
                                    <mark>{line}</mark>
                                    " "
                                    <button type="button" class="quote-link" aria-label=aria
                                        on:click=move |_| show_source(&source)>
                                        {format!("from {place}")}
                                    </button>
                                </li>
                            }
                            .into_any()
                        }
                        None => view! { <li>{line}</li> }.into_any(),
                    })
                    .collect_view()}
            </ul>
        }
    })
}

/// Scrolls to a finding's source and selects the quoted words (or focuses
/// the result's row in the timeline).
fn show_source(source: &Source) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    match source {
        Source::Text { field, start, end } => {
            if let Some(el) = doc
                .get_element_by_id(field.element_id())
                .and_then(|e| e.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
            {
                el.scroll_into_view();
                let _ = el.focus();
                let _ = el.set_selection_range(*start, *end);
            }
        }
        Source::Result(name) => {
            if let Some(el) = doc
                .get_element_by_id(&row_id(name))
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                el.scroll_into_view();
                let _ = el.focus();
            }
        }
    }
}
