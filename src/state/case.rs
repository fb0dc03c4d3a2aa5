//! The clinical case as the form holds it, and the answer to it as it
//! streams (reasoning, then the differential piece by piece).
//!
//! Both live beside [`Assistant`](super::assistant::Assistant) for the whole page, so what is typed
//! survives errors, stops, imports and the model reloading. Nothing here is
//! written to any browser storage: the case is in this tab's memory only,
//! and [`CaseDraft::clear`] wipes it.

use leptos::prelude::*;
use locum_clinical::{
    Allergy, Case, Date, Demographics, Medication, Note, Observation, Problem, Report, Sex,
};
use locum_worker::DiagnosisCard;

use super::AnswerState;

/// How the last answer to a case went.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseStats {
    pub time_to_first_token_ms: f64,
    pub total_ms: f64,
    pub reasoning_tokens: u32,
    pub differential_tokens: u32,
    /// Prompt tokens read before the answer began (ahead, or for the
    /// case asked before).
    pub kept_tokens: u32,
    /// Generated tokens prompt lookup drafted and a batch accepted.
    pub drafted_tokens: u32,
}

/// The case as the form edits it: one signal a field. Free-text fields are
/// strings as typed; lists (problems, medications, results...) keep their
/// structure, so an imported medication's dose and dates survive editing.
/// `Copy`: every field is a signal.
#[derive(Clone, Copy)]
pub struct CaseDraft {
    /// Age in years, as typed ("67", "0.5").
    pub age: RwSignal<String>,
    /// "", "female", "male", "other" or "unknown".
    pub sex: RwSignal<String>,
    pub presenting_complaint: RwSignal<String>,
    pub history: RwSignal<String>,
    pub active_problems: RwSignal<Vec<Problem>>,
    pub past_history: RwSignal<Vec<Problem>>,
    pub medications: RwSignal<Vec<Medication>>,
    pub allergies: RwSignal<Vec<Allergy>>,
    pub social_history: RwSignal<String>,
    pub family_history: RwSignal<String>,
    pub examination: RwSignal<String>,
    /// Vital signs and results, each dated.
    pub observations: RwSignal<Vec<Observation>>,
    pub reports: RwSignal<Vec<Report>>,
    /// Notes that came with an import or an example.
    pub notes: RwSignal<Vec<Note>>,
    /// The clinician's own free-text note.
    pub note: RwSignal<String>,
    /// Counts [`CaseDraft::clear`]s, so what reports on the old case (the
    /// last import's outcome) can forget it too.
    pub cleared: RwSignal<u32>,
}

/// Which text field of the form a quoted finding came from (see
/// `state::quote`), so the page can show it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    PresentingComplaint,
    History,
    SocialHistory,
    FamilyHistory,
    Examination,
    Note,
}

impl Field {
    /// Every field a finding may quote, in the order they are searched.
    pub const ALL: [Field; 6] = [
        Field::PresentingComplaint,
        Field::History,
        Field::Examination,
        Field::Note,
        Field::SocialHistory,
        Field::FamilyHistory,
    ];

    /// The form control's id.
    pub fn element_id(self) -> &'static str {
        match self {
            Field::PresentingComplaint => "case-complaint",
            Field::History => "case-history",
            Field::SocialHistory => "case-social",
            Field::FamilyHistory => "case-family",
            Field::Examination => "case-examination",
            Field::Note => "case-text",
        }
    }

    /// The field's name in words.
    pub fn label(self) -> &'static str {
        match self {
            Field::PresentingComplaint => "Presenting complaint",
            Field::History => "History of present illness",
            Field::SocialHistory => "Social history",
            Field::FamilyHistory => "Family history",
            Field::Examination => "Examination",
            Field::Note => "Note",
        }
    }
}

impl CaseDraft {
    pub(super) fn new() -> Self {
        CaseDraft {
            age: RwSignal::new(String::new()),
            sex: RwSignal::new(String::new()),
            presenting_complaint: RwSignal::new(String::new()),
            history: RwSignal::new(String::new()),
            active_problems: RwSignal::new(Vec::new()),
            past_history: RwSignal::new(Vec::new()),
            medications: RwSignal::new(Vec::new()),
            allergies: RwSignal::new(Vec::new()),
            social_history: RwSignal::new(String::new()),
            family_history: RwSignal::new(String::new()),
            examination: RwSignal::new(String::new()),
            observations: RwSignal::new(Vec::new()),
            reports: RwSignal::new(Vec::new()),
            notes: RwSignal::new(Vec::new()),
            note: RwSignal::new(String::new()),
            cleared: RwSignal::new(0),
        }
    }

    /// The signal holding a text field.
    pub fn text(self, field: Field) -> RwSignal<String> {
        match field {
            Field::PresentingComplaint => self.presenting_complaint,
            Field::History => self.history,
            Field::SocialHistory => self.social_history,
            Field::FamilyHistory => self.family_history,
            Field::Examination => self.examination,
            Field::Note => self.note,
        }
    }

    /// The case as the form holds it now (tracked: a memo over this
    /// follows every edit). An age that is not a number is left out;
    /// [`CaseDraft::age_problem`] says so.
    pub fn to_case(self) -> Case {
        let mut notes = self.notes.get();
        let note = self.note.get();
        if !note.trim().is_empty() {
            notes.push(Note {
                title: None,
                date: None,
                text: note.trim().to_string(),
            });
        }
        Case {
            demographics: Demographics {
                age_years: parse_age(&self.age.get()).ok().flatten(),
                sex: parse_sex(&self.sex.get()),
            },
            presenting_complaint: self.presenting_complaint.get().trim().to_string(),
            history_of_present_illness: self.history.get().trim().to_string(),
            active_problems: self.active_problems.get(),
            past_medical_history: self.past_history.get(),
            medications: self.medications.get(),
            allergies: self.allergies.get(),
            social_history: self.social_history.get().trim().to_string(),
            family_history: self.family_history.get().trim().to_string(),
            examination: self.examination.get().trim().to_string(),
            observations: self.observations.get(),
            reports: self.reports.get(),
            notes,
        }
    }

    /// A sentence when the typed age cannot be read.
    pub fn age_problem(self) -> Option<String> {
        parse_age(&self.age.get()).err()
    }

    /// Nothing typed or imported.
    pub fn is_empty(self) -> bool {
        self.to_case() == Case::default() && self.age.with(|a| a.trim().is_empty())
    }

    /// Replaces the whole draft with `case` (an example, or after a clear).
    pub fn replace(self, case: Case) {
        self.clear();
        self.merge(case);
    }

    /// Adds `case` to what is already here without losing anything typed:
    /// empty fields take the imported text, filled ones keep theirs and gain
    /// the imported text below it when it differs; lists are appended.
    /// Returns a sentence for each conflict it resolved that way.
    pub fn merge(self, case: Case) -> Vec<String> {
        let mut conflicts = Vec::new();
        if let Some(age) = case.demographics.age_years {
            let typed = self.age.get_untracked();
            match parse_age(&typed) {
                Ok(Some(t)) if (t - age).abs() > 1e-9 => conflicts.push(format!(
                    "The file gives the age as {age} years; the age typed here ({}) is kept.",
                    typed.trim()
                )),
                Ok(Some(_)) => {}
                _ => self.age.set(format_number(age)),
            }
        }
        if let Some(sex) = case.demographics.sex {
            let name = sex_name(sex);
            let typed = self.sex.get_untracked();
            if typed.is_empty() {
                self.sex.set(name.to_string());
            } else if typed != name {
                conflicts.push(format!(
                    "The file records the sex as {name}; the {typed} chosen here is kept."
                ));
            }
        }
        append_text(self.presenting_complaint, &case.presenting_complaint, "; ");
        append_text(self.history, &case.history_of_present_illness, "\n\n");
        append_text(self.social_history, &case.social_history, "\n");
        append_text(self.family_history, &case.family_history, "\n");
        append_text(self.examination, &case.examination, "\n");
        append_list(self.active_problems, case.active_problems);
        append_list(self.past_history, case.past_medical_history);
        append_list(self.medications, case.medications);
        append_list(self.allergies, case.allergies);
        append_list(self.observations, case.observations);
        append_list(self.reports, case.reports);
        append_list(self.notes, case.notes);
        conflicts
    }

    /// Forgets the whole case: every field and list.
    pub fn clear(self) {
        for s in [
            self.age,
            self.sex,
            self.presenting_complaint,
            self.history,
            self.social_history,
            self.family_history,
            self.examination,
            self.note,
        ] {
            s.set(String::new());
        }
        self.active_problems.set(Vec::new());
        self.past_history.set(Vec::new());
        self.medications.set(Vec::new());
        self.allergies.set(Vec::new());
        self.observations.set(Vec::new());
        self.reports.set(Vec::new());
        self.notes.set(Vec::new());
        self.cleared.update(|n| *n += 1);
    }
}

fn append_text(signal: RwSignal<String>, imported: &str, separator: &str) {
    let imported = imported.trim();
    if imported.is_empty() {
        return;
    }
    signal.update(|t| {
        if t.trim().is_empty() {
            *t = imported.to_string();
        } else if !t.contains(imported) {
            t.push_str(separator);
            t.push_str(imported);
        }
    });
}

fn append_list<T: PartialEq + Send + Sync + 'static>(signal: RwSignal<Vec<T>>, items: Vec<T>) {
    if items.is_empty() {
        return;
    }
    signal.update(|list| {
        for item in items {
            if !list.contains(&item) {
                list.push(item);
            }
        }
    });
}

/// The typed age: empty is `None`; anything else must be a number of years.
pub fn parse_age(text: &str) -> Result<Option<f64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<f64>()
        .ok()
        .filter(|a| a.is_finite())
        .map(Some)
        .ok_or_else(|| format!("The age \"{t}\" is not a number of years, so it is left out."))
}

fn parse_sex(text: &str) -> Option<Sex> {
    match text {
        "female" => Some(Sex::Female),
        "male" => Some(Sex::Male),
        "other" => Some(Sex::Other),
        "unknown" => Some(Sex::Unknown),
        _ => None,
    }
}

fn sex_name(sex: Sex) -> &'static str {
    match sex {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Other => "other",
        Sex::Unknown => "unknown",
    }
}

/// A number without a pointless ".0".
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// The case and its answer. `Copy`: every field is a signal.
#[derive(Clone, Copy)]
pub struct CaseAnswer {
    /// The case as the form holds it.
    pub draft: CaseDraft,
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
    /// The last read-ahead of the form's case (`Event::ReadAhead`): the
    /// prompt's tokens, and how many the model holds.
    pub read_ahead: RwSignal<Option<(u32, u32)>>,
    /// The last failure, as a sentence.
    pub error: RwSignal<Option<String>>,
    /// The case the shown answer was reasoned over, as sent: quotes are
    /// looked up in it, and the copied note names what it answered.
    pub answered: RwSignal<Option<Case>>,
}

impl CaseAnswer {
    pub(super) fn new() -> Self {
        CaseAnswer {
            draft: CaseDraft::new(),
            state: RwSignal::new(AnswerState::Idle),
            prompt_tokens: RwSignal::new(None),
            omitted: RwSignal::new(Vec::new()),
            warnings: RwSignal::new(Vec::new()),
            reasoning: RwSignal::new(String::new()),
            summary: RwSignal::new(None),
            cards: RwSignal::new(Vec::new()),
            red_flags: RwSignal::new(Vec::new()),
            stats: RwSignal::new(None),
            read_ahead: RwSignal::new(None),
            error: RwSignal::new(None),
            answered: RwSignal::new(None),
        }
    }

    /// Forgets the last answer (not the case) before a new one.
    pub fn clear_answer(self) {
        self.prompt_tokens.set(None);
        self.omitted.set(Vec::new());
        self.warnings.set(Vec::new());
        self.reasoning.set(String::new());
        self.summary.set(None);
        self.cards.set(Vec::new());
        self.red_flags.set(Vec::new());
        self.stats.set(None);
        self.error.set(None);
        self.answered.set(None);
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

/// Today, in the browser's time zone.
pub fn today() -> Date {
    let now = js_sys::Date::new_0();
    Date::new(
        now.get_full_year() as i32,
        now.get_month() + 1,
        now.get_date(),
    )
    .unwrap_or_else(|_| Date::from_days_since_epoch(0))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn an_age_is_a_number_or_nothing() {
        assert_eq!(parse_age(" 67 "), Ok(Some(67.0)));
        assert_eq!(parse_age(""), Ok(None));
        assert!(parse_age("sixty").unwrap_err().contains("sixty"));
        assert!(parse_age("NaN").is_err());
        assert_eq!(format_number(67.0), "67");
        assert_eq!(format_number(0.5), "0.5");
    }

    /// An example goes in and comes out whole, and an import merged over a
    /// typed case keeps every typed word.
    #[test]
    fn a_draft_round_trips_and_merges_without_losing_what_was_typed() {
        let owner = Owner::new();
        owner.set();
        for (_, _, case) in locum_clinical::examples::examples() {
            let draft = CaseDraft::new();
            draft.replace(case.clone());
            assert_eq!(draft.to_case(), case);
        }
        let draft = CaseDraft::new();
        draft.age.set("54".into());
        draft.presenting_complaint.set("breathless".into());
        draft.note.set("typed note".into());
        let (_, _, example) = locum_clinical::examples::examples().remove(0);
        let conflicts = draft.merge(example.clone());
        let merged = draft.to_case();
        assert!(merged.presenting_complaint.starts_with("breathless; "));
        assert!(merged
            .presenting_complaint
            .ends_with(example.presenting_complaint.as_str()));
        assert_eq!(merged.demographics.age_years, Some(54.0));
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert!(merged.notes.iter().any(|n| n.text == "typed note"));
        assert_eq!(merged.observations, example.observations);
        // Merging the same again adds nothing.
        draft.merge(example);
        assert_eq!(draft.to_case(), merged);
        draft.clear();
        assert!(draft.is_empty());
    }
}
