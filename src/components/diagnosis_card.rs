//! One diagnosis of the differential, as a card.

use leptos::prelude::*;
use locum_worker::DiagnosisCard;

/// A diagnosis with its rank, likelihood, a "can't miss" badge when it must
/// be excluded whatever its likelihood, its ICD-10-CM code and title (or
/// "uncoded"), the findings for and against it, and the next steps.
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
            {findings("Supporting", supporting)}
            {findings("Against", against)}
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
