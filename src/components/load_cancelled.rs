//! What the status says after the user cancelled the model load.

use leptos::html;
use leptos::prelude::*;

use super::focus::FocusHandoff;
use crate::state::use_assistant;

/// A sentence saying the load was cancelled and that what was downloaded is
/// kept, and a "Load the model" button to start again.
///
/// Test hooks: `#load-cancelled` on the sentence, `data-testid="load-model"`
/// on the button.
#[component]
pub fn LoadCancelledNotice(
    /// Takes keyboard focus to "Load the model" after Cancel was pressed,
    /// and gives it on to Cancel when this button is pressed.
    handoff: FocusHandoff,
) -> impl IntoView {
    let assistant = use_assistant();
    let button = NodeRef::<html::Button>::new();
    handoff.receive(button);
    view! {
        <p id="load-cancelled">
            "Loading was cancelled, so the assistant cannot answer yet. The parts of the model "
            "already downloaded are kept on this device: loading again downloads only the "
            "missing parts."
        </p>
        <button
            type="button"
            id="load-model"
            data-testid="load-model"
            node_ref=button
            on:click=move |_| {
                handoff.give();
                assistant.load();
            }
        >
            "Load the model"
        </button>
    }
}
