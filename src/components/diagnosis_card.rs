//! One diagnosis of the differential, as a card.

use leptos::prelude::*;
use locum_worker::DiagnosisCard;

/// A diagnosis with its rank, likelihood, a "can't miss" badge when it must
/// be excluded whatever its likelihood, the findings for and against it,
/// and the next steps.
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
    } = card;
    view! {
        <li class="diagnosis" data-likelihood=likelihood.clone() data-cant-miss=cant_miss.to_string()>
            <h4>
                {format!("{rank}. {diagnosis}")}
                " "
                <span class="likelihood">{format!("{likelihood} likelihood")}</span>
                {cant_miss.then(|| view! { " " <span class="badge cant-miss">"Can't miss"</span> })}
            </h4>
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
