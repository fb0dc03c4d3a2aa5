//! How far the engine has read a long prompt, before its first token.

use leptos::prelude::*;

use super::units;
use crate::state::use_assistant;

/// A bar, the tokens read of the prompt's and a rough time left, while a
/// prompt longer than one batch is read (a long case takes seconds before
/// its first token on a slow adapter); nothing otherwise. `id` names the
/// paragraph (`#case-reading` for a case, `#question-reading` for a
/// question).
#[component]
pub fn PromptReading(id: &'static str) -> impl IntoView {
    let assistant = use_assistant();
    move || {
        assistant.prompt_read.get().map(|r| {
            view! {
                <p id=id class="prompt-reading detail" role="status">
                    <progress max=r.total value=r.done aria-label="Prompt read"></progress>
                    {format!("Read {}", units::prompt_read(r.done, r.total, r.elapsed_ms))}
                </p>
            }
        })
    }
}
