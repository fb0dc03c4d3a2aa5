//! The prompt: a case in the model's own chat format, within a token budget.
//!
//! This crate does not know the model. The caller brings its chat template
//! (a [`ChatRenderer`], in Locum the GGUF's template rendered by minijinja in
//! `locum-engine`) and its tokenizer (a [`TokenCounter`]); [`fit_case`] uses
//! them to measure the real prompt, so the budget is exact for that model.
//!
//! # What is left out when a case does not fit
//!
//! [`fit_case`] removes material in this order, finishing each step before
//! starting the next, and within a step removes only as much as needed
//! (a binary search over the step's units, each try rendered and counted).
//! A step that would not shorten the prompt at all (a one-line section
//! costs about what its mention in the omission line does) is passed over:
//!
//! 1. older results, oldest first, always keeping the latest of each test;
//! 2. free-text notes, cut from their end, oldest note first (undated notes
//!    count as oldest); a note may go entirely;
//! 3. the family history;
//! 4. the social history;
//! 5. stopped medications, in list order;
//! 6. the past medical history;
//! 7. reports (imaging, ECG...), cut from their end, oldest first;
//! 8. the latest result of each test: normal ones first, then those with
//!    no numeric reference range, then abnormal ones; oldest first within each;
//! 9. the examination, cut from its end;
//! 10. the history of present illness, cut from its end.
//!
//! Never removed: today's date, age and sex, the presenting complaint,
//! active problems, current medications, allergies, and the flags on the
//! values that remain. If those alone do not fit, [`fit_case`] fails with
//! a sentence saying by how many tokens. Everything removed is listed
//! exactly in [`FittedPrompt::omitted`] ("3 older creatinine results
//! (2026-01-03 to 2026-02-01)"), and briefly at the end of the case text
//! ("Left out to fit the model's context: 12 results (2025-11-12 to
//! 2026-03-02); the end of the note …"), so neither the clinician nor the
//! model mistakes absence for normality. The brief form is brief because it
//! spends the same budget: a line per test would cost as much as the
//! results it replaced.

use serde::{Deserialize, Serialize};

use crate::case::Case;
use crate::date::Date;
use crate::render::{self, Cuts, Group};
use crate::{Error, Result};

/// Counts the tokens a text takes for the model in use.
pub trait TokenCounter {
    /// The number of tokens `text` encodes to, special tokens included.
    fn count(&self, text: &str) -> usize;
}

impl<F: Fn(&str) -> usize> TokenCounter for F {
    fn count(&self, text: &str) -> usize {
        self(text)
    }
}

/// Renders a conversation with the model's chat template.
pub trait ChatRenderer {
    /// The prompt text for `messages`; with `add_generation_prompt`, it ends
    /// with the assistant's turn opened, ready for the model to write.
    fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String>;
}

impl<F: Fn(&[ChatMessage], bool) -> Result<String>> ChatRenderer for F {
    fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        self(messages, add_generation_prompt)
    }
}

/// Who says a [`ChatMessage`]; lowercase in JSON, as chat templates expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The clinician (here: the case).
    User,
    /// The model.
    Assistant,
}

/// One turn of a conversation; serializes as `{"role": "...", "content": "..."}`,
/// the shape chat templates index into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: String,
}

/// The system message: what the assistant is, and the shape of its answer.
pub const SYSTEM_MESSAGE: &str = "You are Locum, a clinical decision support assistant for \
qualified clinicians. You suggest a differential diagnosis for the clinician to weigh; you do \
not make the diagnosis. Use only the facts in the case, and say when something important is \
missing. Values marked \"flagged\" failed a plausibility check and may be entry errors. First \
reason step by step, briefly: the key findings, how they change over time, and what they point \
to, in a few short sentences. Then write \"Differential (JSON):\" and give the differential as \
JSON: a one-sentence summary; up to 8 diagnoses, most likely first, each with its likelihood \
(high, moderate or low), the findings for and against it, whether it is a can't-miss diagnosis, \
and the next steps; and the red flags that need action now.";

/// The user message's closing instruction, after the case.
const USER_INSTRUCTION: &str = "Reason briefly, step by step, then give the differential.";

/// A part of the case, for pointing at what was omitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "part", content = "index", rename_all = "snake_case")]
pub enum CasePart {
    /// Vital signs and laboratory results.
    Observations,
    /// `notes[i]`.
    Note(usize),
    /// `reports[i]`.
    Report(usize),
    /// The family history.
    FamilyHistory,
    /// The social history.
    SocialHistory,
    /// Stopped medications.
    Medications,
    /// The past medical history.
    PastMedicalHistory,
    /// The examination.
    Examination,
    /// The history of present illness.
    HistoryOfPresentIllness,
}

/// Something left out of the prompt, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Omission {
    /// Where in the case it was.
    pub part: CasePart,
    /// Exactly what was left out, e.g. "3 older creatinine results
    /// (2026-01-03 to 2026-02-20)" or "the last 1,200 characters of the
    /// free-text note".
    pub what: String,
}

impl std::fmt::Display for Omission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

/// A prompt that fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FittedPrompt {
    /// The rendered prompt, ending with the assistant's turn opened.
    pub text: String,
    /// Its length in tokens, by the caller's counter; at most the budget.
    pub tokens: usize,
    /// The case as the model sees it (the user message), for display.
    pub case_text: String,
    /// What was left out, in the order of the steps above (results, whether
    /// older or latest, first); empty if nothing.
    pub omitted: Vec<Omission>,
}

/// The conversation for a case text: the system message, then the case.
pub fn messages(case_text: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage {
            role: Role::System,
            content: SYSTEM_MESSAGE.to_string(),
        },
        ChatMessage {
            role: Role::User,
            content: format!("{case_text}\n\n{USER_INSTRUCTION}"),
        },
    ]
}

/// The whole case as prompt text, nothing left out (for a preview).
pub fn case_text(case: &Case, today: Date) -> String {
    let warnings = case.validate(today);
    let groups = render::groups(case);
    render::case_text(case, today, &warnings, &groups, &Cuts::none(case), &[])
}

/// Builds the prompt for `case` as seen on `today`, leaving out the least
/// essential material (in the order the module documentation gives) until
/// it takes at most `budget_tokens` tokens.
///
/// `budget_tokens` is for the prompt alone: the caller subtracts what it
/// reserves for the answer (see [`crate::Phases`]) from the model's context.
pub fn fit_case(
    case: &Case,
    today: Date,
    counter: &dyn TokenCounter,
    renderer: &dyn ChatRenderer,
    budget_tokens: usize,
) -> Result<FittedPrompt> {
    let fitter = Fitter {
        case,
        today,
        warnings: case.validate(today),
        groups: render::groups(case),
        counter,
        renderer,
    };
    let mut cuts = Cuts::none(case);
    let mut current = fitter.try_cuts(&cuts)?;
    if current.tokens <= budget_tokens {
        return Ok(current);
    }
    for step in fitter.steps() {
        let units = step.units(case);
        if units == 0 {
            continue;
        }
        let mut all = cuts.clone();
        step.apply(units, case, &mut all);
        let after = fitter.try_cuts(&all)?;
        if after.tokens >= current.tokens {
            // Naming a short section in the omission line can cost as much
            // as the section: a step that saves nothing is not taken.
            continue;
        }
        if after.tokens > budget_tokens {
            cuts = all;
            current = after;
            continue;
        }
        // `lo` units do not fit (0: the state before this step), `hi` do.
        let (mut lo, mut hi, mut best) = (0, units, after);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let mut trial = cuts.clone();
            step.apply(mid, case, &mut trial);
            let fitted = fitter.try_cuts(&trial)?;
            if fitted.tokens <= budget_tokens {
                hi = mid;
                best = fitted;
            } else {
                lo = mid;
            }
        }
        return Ok(best);
    }
    Err(Error::DoesNotFit {
        tokens: current.tokens,
        budget: budget_tokens,
        over: current.tokens - budget_tokens,
    })
}

struct Fitter<'a> {
    case: &'a Case,
    today: Date,
    warnings: Vec<crate::case::Warning>,
    groups: Vec<Group>,
    counter: &'a dyn TokenCounter,
    renderer: &'a dyn ChatRenderer,
}

impl Fitter<'_> {
    fn try_cuts(&self, cuts: &Cuts) -> Result<FittedPrompt> {
        let omitted = crate::omitted::omissions(self.case, &self.groups, cuts);
        let case_text = render::case_text(
            self.case,
            self.today,
            &self.warnings,
            &self.groups,
            cuts,
            &omitted.brief,
        );
        let text = self.renderer.render(&messages(&case_text), true)?;
        Ok(FittedPrompt {
            tokens: self.counter.count(&text),
            text,
            case_text,
            omitted: omitted.list,
        })
    }

    /// 0: a numeric result within its reference range, or flagged as
    /// implausible; 1: no numeric range to judge it by; 2: outside its range.
    fn rank(&self, i: usize) -> u8 {
        let Some(o) = self.case.observations.get(i) else {
            return 1;
        };
        let flagged = self
            .warnings
            .iter()
            .any(|w| w.target == crate::case::WarningTarget::Observation(i));
        let range = o
            .reference_range
            .as_ref()
            .filter(|r| r.low.is_some() || r.high.is_some());
        match (&o.value, range) {
            _ if flagged => 0,
            (crate::case::ObservationValue::Number(v), Some(r)) => {
                let below = r.low.is_some_and(|l| *v < l);
                let above = r.high.is_some_and(|h| *v > h);
                if below || above {
                    2
                } else {
                    0
                }
            }
            _ => 1,
        }
    }

    /// The removal steps, in priority order (see the module documentation).
    fn steps(&self) -> Vec<Step> {
        let case = self.case;
        let by_date = |list: &mut Vec<usize>| {
            list.sort_by(|&a, &b| {
                case.observations[a]
                    .date
                    .cmp(&case.observations[b].date)
                    .then(a.cmp(&b))
            })
        };
        let mut older = Vec::new();
        let mut latest = Vec::new();
        for g in &self.groups {
            if let Some((&last, rest)) = g.members.split_last() {
                older.extend_from_slice(rest);
                latest.push(last);
            }
        }
        by_date(&mut older);
        by_date(&mut latest);
        // Of the latest results, normal ones go first, then those that
        // cannot be judged (no numeric range), then abnormal ones: a
        // potassium of 6.1 outlasts a normal glucose. The sort is stable,
        // so each rank stays oldest first.
        latest.sort_by_key(|&i| self.rank(i));
        // Undated free text first (its age is unknown), then oldest first.
        let oldest_first = |dates: Vec<Option<&crate::date::Timestamp>>| {
            let mut order: Vec<usize> = (0..dates.len()).collect();
            order.sort_by(|&a, &b| dates[a].cmp(&dates[b]).then(a.cmp(&b)));
            order
        };
        let notes = oldest_first(case.notes.iter().map(|n| n.date.as_ref()).collect());
        let reports = oldest_first(case.reports.iter().map(|r| r.date.as_ref()).collect());
        let stopped: Vec<usize> = (0..case.medications.len())
            .filter(|&i| case.medications[i].stopped_before(self.today))
            .collect();

        let mut steps = vec![Step::Results(older)];
        steps.extend(notes.into_iter().map(|i| Step::Cut(Text::Note(i))));
        steps.push(Step::Drop(Section::Family));
        steps.push(Step::Drop(Section::Social));
        steps.push(Step::StoppedMedications(stopped));
        steps.push(Step::Drop(Section::Past));
        steps.extend(reports.into_iter().map(|i| Step::Cut(Text::Report(i))));
        steps.push(Step::Results(latest));
        steps.push(Step::Cut(Text::Examination));
        steps.push(Step::Cut(Text::History));
        steps
    }
}

/// One kind of removal; `apply(k)` removes its first `k` units.
enum Step {
    /// Observations (indices), in the order they go.
    Results(Vec<usize>),
    /// Characters from the end of a text.
    Cut(Text),
    /// A whole section (one unit).
    Drop(Section),
    /// Medications (indices), in the order they go.
    StoppedMedications(Vec<usize>),
}

#[derive(Clone, Copy)]
enum Text {
    Note(usize),
    Report(usize),
    Examination,
    History,
}

#[derive(Clone, Copy)]
/// Sections dropped whole: the family, social and past medical history.
enum Section {
    Family,
    Social,
    Past,
}

impl Text {
    fn of<'a>(&self, case: &'a Case) -> &'a str {
        match *self {
            Text::Note(i) => case.notes.get(i).map_or("", |n| n.text.trim()),
            Text::Report(i) => case.reports.get(i).map_or("", |r| r.text.trim()),
            Text::Examination => case.examination.trim(),
            Text::History => case.history_of_present_illness.trim(),
        }
    }

    fn slot<'c>(&self, cuts: &'c mut Cuts) -> Option<&'c mut Option<usize>> {
        match *self {
            Text::Note(i) => cuts.notes.get_mut(i),
            Text::Report(i) => cuts.reports.get_mut(i),
            Text::Examination => Some(&mut cuts.examination),
            Text::History => Some(&mut cuts.history),
        }
    }
}

impl Step {
    fn units(&self, case: &Case) -> usize {
        match self {
            Step::Results(list) | Step::StoppedMedications(list) => list.len(),
            Step::Cut(t) => t.of(case).chars().count(),
            Step::Drop(Section::Family) => usize::from(!case.family_history.trim().is_empty()),
            Step::Drop(Section::Social) => usize::from(!case.social_history.trim().is_empty()),
            Step::Drop(Section::Past) => usize::from(!case.past_medical_history.is_empty()),
        }
    }

    fn apply(&self, k: usize, case: &Case, cuts: &mut Cuts) {
        match self {
            Step::Results(list) => {
                for &i in list.iter().take(k) {
                    if let Some(c) = cuts.observations.get_mut(i) {
                        *c = true;
                    }
                }
            }
            Step::StoppedMedications(list) => {
                for &i in list.iter().take(k) {
                    if let Some(c) = cuts.medications.get_mut(i) {
                        *c = true;
                    }
                }
            }
            Step::Drop(s) if k > 0 => match s {
                Section::Family => cuts.family_history = true,
                Section::Social => cuts.social_history = true,
                Section::Past => cuts.past_history = true,
            },
            Step::Drop(_) => {}
            Step::Cut(t) => {
                let keep = cut_end(t.of(case), k);
                if let Some(slot) = t.slot(cuts) {
                    *slot = keep;
                }
            }
        }
    }
}

/// How many bytes of `text` to keep when `k` characters are removed from
/// its end: `None` for all of it, `Some(0)` for none. A cut inside a word
/// moves back to the space before the word (at most 40 characters back),
/// so the model never sees half a word. `text` is trimmed.
fn cut_end(text: &str, k: usize) -> Option<usize> {
    if k == 0 {
        return None;
    }
    let total = text.chars().count();
    if k >= total {
        return Some(0);
    }
    // Byte offset of the first removed character.
    let end = text
        .char_indices()
        .nth(total - k)
        .map_or(text.len(), |(b, _)| b);
    let mut head = &text[..end];
    let splits_word =
        !head.ends_with(char::is_whitespace) && !text[end..].starts_with(char::is_whitespace);
    if splits_word {
        let window = head.char_indices().rev().nth(39).map_or(0, |(b, _)| b);
        if let Some(space) = head[window..].rfind(char::is_whitespace) {
            head = &head[..window + space];
        }
    }
    match head.trim_end().len() {
        // Only whitespace before the cut: keep the cut as asked rather than
        // report a partial cut as a whole one.
        0 => Some(end),
        kept => Some(kept),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reasoning::DIFFERENTIAL_HEADER;

    #[test]
    fn system_message_names_the_phase_marker() {
        assert!(SYSTEM_MESSAGE.contains(DIFFERENTIAL_HEADER));
    }

    #[test]
    fn cut_end_keeps_whole_words() {
        let t = "alpha beta gamma";
        assert_eq!(cut_end(t, 0), None);
        assert_eq!(cut_end(t, 16), Some(0));
        assert_eq!(cut_end(t, 99), Some(0));
        assert_eq!(
            cut_end(t, 3),
            Some(10),
            "'gam|ma' backs off to 'alpha beta'"
        );
        assert_eq!(cut_end(t, 5), Some(10), "cut at the space");
        assert_eq!(cut_end(t, 6), Some(10));
        let m = "µµµ µµµ";
        assert_eq!(
            cut_end(m, 2),
            Some(6),
            "multi-byte text cuts on a char boundary"
        );
        let one_word = "x".repeat(100);
        assert_eq!(cut_end(&one_word, 10), Some(90));
    }
}
