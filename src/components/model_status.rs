//! Where the model is: checking the browser, starting the engine, loading
//! (with readable progress and Cancel), cancelled (with a way to load
//! again), ready, or failed (with a way to try again).

use leptos::prelude::*;

use super::focus::FocusHandoff;
use super::{LoadCancelledNotice, LoadFailed, ModelLoadProgress, ModelReady};
use crate::state::{use_assistant, Phase};

/// Which view the status shows. The phase changes a few times a second
/// while loading; this changes only when the view must, so the progress
/// view (and the keyboard focus on its Cancel button) survives each report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusView {
    Checking,
    Starting,
    Loading,
    Cancelled,
    Ready,
    Failed,
    /// The page shows `WebGpuMissing` instead of this component.
    Hidden,
}

/// The model's state in a box above the question form. `aria-live="polite"`:
/// a screen reader announces each new step without interrupting.
#[component]
pub fn ModelStatus() -> impl IntoView {
    let assistant = use_assistant();
    let handoff = FocusHandoff::new();
    let view_kind = Memo::new(move |_| match assistant.phase.get() {
        Phase::Checking => StatusView::Checking,
        Phase::Starting => StatusView::Starting,
        Phase::Loading { .. } => StatusView::Loading,
        Phase::Cancelled => StatusView::Cancelled,
        Phase::Ready => StatusView::Ready,
        Phase::Failed { .. } => StatusView::Failed,
        Phase::NoWebGpu { .. } => StatusView::Hidden,
    });
    let body = move || match view_kind.get() {
        StatusView::Checking => {
            view! { <p>"Checking that this browser can run the assistant…"</p> }.into_any()
        }
        StatusView::Starting => view! { <p>"Starting the assistant…"</p> }.into_any(),
        StatusView::Loading => view! { <ModelLoadProgress handoff /> }.into_any(),
        StatusView::Cancelled => view! { <LoadCancelledNotice handoff /> }.into_any(),
        StatusView::Ready => view! { <ModelReady /> }.into_any(),
        StatusView::Failed => view! { <LoadFailed handoff /> }.into_any(),
        StatusView::Hidden => ().into_any(),
    };
    view! {
        <section id="model-status" class="model-status" aria-live="polite">
            {body}
        </section>
    }
}
