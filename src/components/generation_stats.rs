//! How the last answer went: speed and why it ended.

use leptos::prelude::*;

use crate::state::use_assistant;

/// Time to first token, prompt and answer speeds, and why the answer ended;
/// shown once an answer is complete.
#[component]
pub fn GenerationStatsLine() -> impl IntoView {
    let assistant = use_assistant();
    move || {
        assistant.stats.get().map(|s| {
            let ending = match s.stop_reason.as_str() {
                "eos" => "the model finished its answer",
                "max_tokens" => "the token limit was reached",
                "stopped" => "stopped on request",
                "context" => "the context is full",
                other => other,
            };
            // The start of the question the model still held from the one
            // before was not read again.
            let kept = match s.kept_tokens {
                0 => String::new(),
                k => format!(", {k} kept from the question before"),
            };
            // Tokens checked in batches rather than decoded one by one.
            let drafted = match s.drafted_tokens {
                0 => String::new(),
                d => format!(" ({d} drafted by prompt lookup)"),
            };
            view! {
                <p id="stats" class="stats">
                    {format!(
                        "First token after {:.2} s ({} prompt tokens at {:.1} tokens/s{kept}); \
                         {} tokens{drafted} at {:.2} tokens/s; {ending}.",
                        s.time_to_first_token_ms / 1e3,
                        s.prompt_tokens,
                        s.prefill_tokens_per_s,
                        s.generated_tokens,
                        s.decode_tokens_per_s,
                    )}
                </p>
            }
        })
    }
}
