//! Where the model is: checking, downloading (with a progress bar),
//! preparing, ready, or failed with a way to try again.

use leptos::prelude::*;

use crate::state::{use_assistant, Phase};

/// One line (and a bar while downloading) about the model's state.
#[component]
pub fn ModelStatus() -> impl IntoView {
    let assistant = use_assistant();
    let body = move || match assistant.phase.get() {
        Phase::Checking => {
            view! { <p>"Checking that this browser can run the assistant…"</p> }.into_any()
        }
        Phase::Starting => view! { <p>"Starting the assistant…"</p> }.into_any(),
        Phase::Downloading { loaded, total } => {
            let percent = total
                .filter(|t| *t > 0)
                .map(|t| (loaded as f64 / t as f64 * 100.0).clamp(0.0, 100.0));
            let text = match (total, percent) {
                (Some(t), Some(p)) => format!(
                    "Downloading the model: {} of {} ({p:.0} %)",
                    megabytes(loaded),
                    megabytes(t)
                ),
                _ => format!("Downloading the model: {}", megabytes(loaded)),
            };
            view! {
                <p id="download-text">{text}</p>
                <progress
                    id="download-progress"
                    max="100"
                    value=percent.map(|p| format!("{p:.1}"))
                ></progress>
            }
            .into_any()
        }
        Phase::Preparing => view! {
            <p>"Preparing the model on the graphics processor…"</p>
            <progress id="prepare-progress"></progress>
        }
        .into_any(),
        Phase::Ready => {
            let model = assistant.model.get();
            let software = model.as_ref().is_some_and(|m| m.software);
            let text = model.map(|m| {
                format!(
                    "Ready: {} on {} (loaded in {:.1} s).",
                    if m.name.is_empty() {
                        "the model".into()
                    } else {
                        m.name
                    },
                    m.adapter,
                    m.load_ms / 1e3
                )
            });
            view! {
                <p id="model-ready">{text}</p>
                <Show when=move || software>
                    <p class="detail">
                        "The browser runs the model on a software stand-in for a graphics processor, "
                        "which is slow: an answer may take several minutes."
                    </p>
                </Show>
            }
            .into_any()
        }
        Phase::Failed { message } => view! {
            <p id="load-error" class="error" role="alert">{message}</p>
            <button type="button" on:click=move |_| assistant.restart()>"Try again"</button>
        }
        .into_any(),
        // The page shows `WebGpuMissing` instead of this component.
        Phase::NoWebGpu { .. } => ().into_any(),
    };
    view! {
        <section id="model-status" class="model-status" aria-live="polite">
            {body}
        </section>
    }
}

/// Bytes in megabytes (10⁶), as a download dialog shows them.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
