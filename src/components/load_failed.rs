//! What the status says when starting the assistant or loading the model
//! failed.

use leptos::prelude::*;

use super::focus::FocusHandoff;
use crate::state::{use_assistant, Phase};

/// The failure as a sentence (what happened and what to do) and a
/// "Try again" button that starts a fresh engine and loads again. What the
/// user typed in the question box is untouched.
///
/// Test hooks: `#load-error` (`role="alert"`), `data-testid="retry-load"`.
#[component]
pub fn LoadFailed(
    /// Gives keyboard focus on to the next view's button when "Try again" is
    /// pressed.
    handoff: FocusHandoff,
) -> impl IntoView {
    let assistant = use_assistant();
    let message = Memo::new(move |_| match assistant.phase.get() {
        Phase::Failed { message } => message,
        _ => String::new(),
    });
    view! {
        <p id="load-error" class="error" role="alert">{message}</p>
        <button
            type="button"
            data-testid="retry-load"
            on:click=move |_| {
                handoff.give();
                assistant.restart();
            }
        >
            "Try again"
        </button>
    }
}
