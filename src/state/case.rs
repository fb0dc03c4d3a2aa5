//! The clinical assistant's state: the case being written, and the answer
//! to it as it streams (reasoning, then the differential piece by piece).
//!
//! It lives beside [`super::Assistant`] for the whole page, so what is typed
//! survives errors, stops and the panel being hidden while the model
//! reloads.

use leptos::prelude::*;
use locum_worker::{DiagnosisCard, ExampleCase};

use super::AnswerState;

/// How the last answer to a case went.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseStats {
    pub time_to_first_token_ms: f64,
    pub total_ms: f64,
    pub reasoning_tokens: u32,
    pub differential_tokens: u32,
}

/// The case and its answer. `Copy`: every field is a signal.
#[derive(Clone, Copy)]
pub struct CaseAnswer {
    /// The case as typed: free text, or Locum's case JSON.
    pub text: RwSignal<String>,
    /// The demonstration cases the worker offered.
    pub examples: RwSignal<Vec<ExampleCase>>,
    pub state: RwSignal<AnswerState>,
    /// Prompt size in tokens, once the case is fitted.
    pub prompt_tokens: RwSignal<Option<u32>>,
    /// What was left out of the case to fit the context.
    pub omitted: RwSignal<Vec<String>>,
    /// What in the case looks wrong.
    pub warnings: RwSignal<Vec<String>>,
    pub reasoning: RwSignal<String>,
    pub summary: RwSignal<Option<String>>,
    /// The diagnoses so far, most likely first.
    pub cards: RwSignal<Vec<DiagnosisCard>>,
    pub red_flags: RwSignal<Vec<String>>,
    pub stats: RwSignal<Option<CaseStats>>,
    /// The last failure, as a sentence.
    pub error: RwSignal<Option<String>>,
}

impl CaseAnswer {
    pub(super) fn new() -> Self {
        CaseAnswer {
            text: RwSignal::new(String::new()),
            examples: RwSignal::new(Vec::new()),
            state: RwSignal::new(AnswerState::Idle),
            prompt_tokens: RwSignal::new(None),
            omitted: RwSignal::new(Vec::new()),
            warnings: RwSignal::new(Vec::new()),
            reasoning: RwSignal::new(String::new()),
            summary: RwSignal::new(None),
            cards: RwSignal::new(Vec::new()),
            red_flags: RwSignal::new(Vec::new()),
            stats: RwSignal::new(None),
            error: RwSignal::new(None),
        }
    }

    /// Forgets the last answer (not the case) before a new one.
    pub(super) fn clear_answer(self) {
        self.prompt_tokens.set(None);
        self.omitted.set(Vec::new());
        self.warnings.set(Vec::new());
        self.reasoning.set(String::new());
        self.summary.set(None);
        self.cards.set(Vec::new());
        self.red_flags.set(Vec::new());
        self.stats.set(None);
        self.error.set(None);
    }

    /// Puts `card` at its rank, whatever order the cards arrive in.
    pub(super) fn place(self, index: u32, card: DiagnosisCard) {
        self.cards
            .update(|cards| place(cards, index as usize, card));
    }
}

fn place(cards: &mut Vec<DiagnosisCard>, index: usize, card: DiagnosisCard) {
    if index < cards.len() {
        cards[index] = card;
    } else {
        cards.push(card);
    }
}

/// The case as the worker reads it: text that is already a JSON object goes
/// as it is (an example, or a case pasted in Locum's format); anything else
/// is a free-text note.
pub fn case_json(text: &str) -> String {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        return trimmed.to_string();
    }
    serde_json::json!({ "notes": [{ "text": trimmed }] }).to_string()
}

/// Today as `YYYY-MM-DD`, in the browser's time zone.
pub fn today() -> String {
    let now = js_sys::Date::new_0();
    format!(
        "{:04}-{:02}-{:02}",
        now.get_full_year(),
        now.get_month() + 1,
        now.get_date()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_becomes_a_note() {
        assert_eq!(
            case_json("  Fever and a \"rash\"\n"),
            r#"{"notes":[{"text":"Fever and a \"rash\""}]}"#
        );
        assert_eq!(
            case_json(r#" {"presenting_complaint":"limp"} "#),
            r#"{"presenting_complaint":"limp"}"#
        );
    }

    #[test]
    fn cards_land_at_their_rank() {
        let card = |d: &str| DiagnosisCard {
            diagnosis: d.into(),
            likelihood: "low".into(),
            supporting: vec![],
            against: vec![],
            cant_miss: false,
            next_steps: vec![],
            icd10_code: None,
            icd10_title: None,
        };
        let mut cards = Vec::new();
        place(&mut cards, 0, card("a"));
        place(&mut cards, 1, card("b"));
        place(&mut cards, 0, card("c"));
        let names: Vec<_> = cards.iter().map(|c| c.diagnosis.as_str()).collect();
        assert_eq!(names, ["c", "b"]);
    }
}
