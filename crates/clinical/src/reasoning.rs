//! The answer in two phases: brief free reasoning, then the JSON.
//!
//! Small models reason better when they may think in words before they
//! commit to structure, and structure is only guaranteed under a grammar.
//! So the assistant's turn is generated in two phases:
//!
//! 1. **Reasoning**, unconstrained, at most [`Phases::reasoning_max_tokens`]
//!    tokens. It ends at the first stop marker (the model writing the
//!    differential's header itself, or starting JSON), at end of turn, or at
//!    the token limit, whichever comes first.
//! 2. **The differential**, decoded under [`crate::schema::json_schema_text`].
//!    The host appends [`Phases::transition`] to the reasoning, so the
//!    model's context reads "…reasoning.\n\nDifferential (JSON):\n" whatever
//!    it wrote, and the JSON starts on the next token.
//!
//! This module only holds the plan and the text between the phases; the
//! engine runs the decoding loop.

use crate::prompt::TokenCounter;

/// The line between the reasoning and the JSON. The system message asks the
/// model to write it, and the host appends it (see [`Phases::transition`]).
pub const DIFFERENTIAL_HEADER: &str = "Differential (JSON):";

/// The plan for one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phases {
    /// Most tokens of free reasoning (phase 1).
    pub reasoning_max_tokens: usize,
    /// Text that ends phase 1 when the model writes it; the reasoning is
    /// what comes before the earliest one.
    pub stop_markers: Vec<String>,
    /// Appended after the reasoning to open phase 2.
    pub transition: String,
    /// Most tokens of JSON (phase 2). The schema bounds the JSON already;
    /// this is the safety net for a decoder without it, and a stream cut
    /// here fails to parse rather than producing a partial differential.
    pub differential_max_tokens: usize,
}

impl Default for Phases {
    fn default() -> Phases {
        Phases {
            reasoning_max_tokens: 256,
            stop_markers: vec![
                // The header the system message asks for, and the shorter
                // forms small models write instead.
                "Differential (JSON)".into(),
                "Differential:".into(),
                // JSON begun early: the model skipped to the answer, which
                // phase 2 then writes under the grammar.
                "```".into(),
                "{".into(),
            ],
            transition: format!("\n\n{DIFFERENTIAL_HEADER}\n"),
            differential_max_tokens: 2048,
        }
    }
}

impl Phases {
    /// Tokens to keep free after the prompt for both phases. Subtract this
    /// from the model's context to get the prompt's budget.
    pub fn answer_tokens(&self, counter: &dyn TokenCounter) -> usize {
        self.reasoning_max_tokens + counter.count(&self.transition) + self.differential_max_tokens
    }

    /// Where phase 1 ends in `generated` (a byte offset), if a stop marker
    /// has appeared. Call it as the text grows; it is cheap for the few
    /// hundred tokens of a reasoning phase.
    pub fn reasoning_end(&self, generated: &str) -> Option<usize> {
        self.stop_markers
            .iter()
            .filter(|m| !m.is_empty())
            .filter_map(|m| generated.find(m.as_str()))
            .min()
    }

    /// The reasoning to keep from phase 1's output: the text before the
    /// first stop marker. Without one (the token limit or end of turn came
    /// first), the text up to its last complete sentence, so that phase 2
    /// does not continue half a thought; all of it if it has no sentence end.
    pub fn reasoning<'a>(&self, generated: &'a str) -> &'a str {
        let text = match self.reasoning_end(generated) {
            Some(end) => &generated[..end],
            None => {
                // Sentence ends are ASCII, so `at + 1` is a char boundary.
                let end = generated
                    .rfind(['.', '!', '?', '\n'])
                    .map_or(generated.len(), |at| at + 1);
                &generated[..end]
            }
        };
        text.trim()
    }

    /// The full text phase 2 continues from: the prompt, the kept reasoning,
    /// and the transition.
    pub fn phase_two_prompt(&self, prompt: &str, generated: &str) -> String {
        format!("{prompt}{}{}", self.reasoning(generated), self.transition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_stops_at_the_earliest_marker() {
        let p = Phases::default();
        let out =
            "Troponin rises from 48 to 312 ng/L. ST depression.\n\nDifferential:\n{\"summary\"";
        assert_eq!(p.reasoning_end(out), out.find("Differential:"));
        assert_eq!(
            p.reasoning(out),
            "Troponin rises from 48 to 312 ng/L. ST depression."
        );
        assert_eq!(
            p.phase_two_prompt("<prompt>", out),
            "<prompt>Troponin rises from 48 to 312 ng/L. ST depression.\n\nDifferential (JSON):\n"
        );
    }

    #[test]
    fn without_a_marker_keep_whole_sentences() {
        let p = Phases::default();
        assert_eq!(p.reasoning_end("Fever and a stiff neck"), None);
        assert_eq!(
            p.reasoning("Fever and neck stiffness. Rash is non-bl"),
            "Fever and neck stiffness."
        );
        assert_eq!(p.reasoning("no sentence end"), "no sentence end");
        assert_eq!(p.reasoning(""), "");
    }

    #[test]
    fn the_answer_budget_counts_the_transition() {
        let p = Phases::default();
        let chars = |s: &str| s.chars().count();
        assert_eq!(p.answer_tokens(&chars), 256 + 23 + 2048);
    }
}
