//! What a fitted prompt left out, in words.
//!
//! Every cut the budget search made is named twice: exactly, for the
//! clinician ([`Omission::what`]: "3 older creatinine results (2026-01-03 to
//! 2026-02-01)", "the last 1,200 characters of the free-text note"), and
//! briefly, for the line at the end of the prompt that tells the model what
//! it is not seeing.

use crate::case::Case;
use crate::prompt::{CasePart, Omission};
use crate::render::{kept, Cuts, Group};

/// Every cut in `cuts`, named two ways: exactly, for the caller
/// ([`Omission::what`]), and briefly, for the line at the end of the prompt.
///
/// The prompt's line is brief on purpose: it costs tokens from the same
/// budget, and a line per test would cost about as much as the results it
/// replaces. The model needs to know *that* results are missing and from
/// when; the clinician, reading [`Omission`]s, needs to know exactly which.
pub(crate) struct Omitted {
    /// Exactly what went, in the order the budget search removes it.
    pub list: Vec<Omission>,
    /// A short phrase per removal (results in one phrase).
    pub brief: Vec<String>,
}

/// Names every cut in `cuts`, in the order the budget search makes them.
pub(crate) fn omissions(case: &Case, groups: &[Group], cuts: &Cuts) -> Omitted {
    let mut out = Omitted {
        list: Vec::new(),
        brief: Vec::new(),
    };
    let o = &case.observations;

    let mut dropped_results = Vec::new();
    for g in groups {
        let dropped: Vec<usize> = g
            .members
            .iter()
            .copied()
            .filter(|&i| cuts.observations.get(i).copied().unwrap_or(false))
            .collect();
        let (Some(&first), Some(&last)) = (dropped.first(), dropped.last()) else {
            continue;
        };
        dropped_results.extend_from_slice(&dropped);
        let name = in_sentence(o[first].name.trim());
        let span = if dropped.len() == 1 {
            o[first].date.to_string()
        } else {
            format!("{} to {}", o[first].date, o[last].date)
        };
        let n = dropped.len();
        let what = match (n < g.members.len(), n) {
            (true, 1) => format!("1 older {name} result ({span})"),
            (true, _) => format!("{n} older {name} results ({span})"),
            (false, 1) => format!("the only {name} result ({span})"),
            (false, 2) => format!("both {name} results ({span})"),
            (false, _) => format!("all {n} {name} results ({span})"),
        };
        out.list.push(Omission {
            part: CasePart::Observations,
            what,
        });
    }
    let first = dropped_results.iter().map(|&i| &o[i].date).min();
    let last = dropped_results.iter().map(|&i| &o[i].date).max();
    if let (Some(first), Some(last)) = (first, last) {
        let n = dropped_results.len();
        out.brief.push(if n == 1 {
            format!("1 result ({first})")
        } else {
            format!("{n} results ({} to {})", first.date(), last.date())
        });
    }

    for (i, n) in case.notes.iter().enumerate() {
        let label = match (n.title.as_deref().map(str::trim), &n.date) {
            (Some(t), Some(d)) => format!("the note \u{201c}{t}\u{201d} of {d}"),
            (Some(t), None) => format!("the note \u{201c}{t}\u{201d}"),
            (None, Some(d)) => format!("the free-text note of {d}"),
            (None, None) if case.notes.len() == 1 => "the free-text note".to_string(),
            (None, None) => format!("free-text note {}", i + 1),
        };
        out.text(
            CasePart::Note(i),
            &label,
            n.text.trim(),
            cuts.notes.get(i).copied().flatten(),
        );
    }
    if cuts.family_history {
        out.text(
            CasePart::FamilyHistory,
            "the family history",
            case.family_history.trim(),
            Some(0),
        );
    }
    if cuts.social_history {
        out.text(
            CasePart::SocialHistory,
            "the social history",
            case.social_history.trim(),
            Some(0),
        );
    }
    let stopped: Vec<&str> = case
        .medications
        .iter()
        .zip(&cuts.medications)
        .filter(|(_, &cut)| cut)
        .map(|(m, _)| m.name.trim())
        .collect();
    if !stopped.is_empty() {
        let n = stopped.len();
        out.list.push(Omission {
            part: CasePart::Medications,
            what: format!(
                "{n} stopped medication{} ({})",
                plural(n),
                stopped.join(", ")
            ),
        });
        out.brief
            .push(format!("{n} stopped medication{}", plural(n)));
    }
    if cuts.past_history {
        let n = case.past_medical_history.len();
        out.list.push(Omission {
            part: CasePart::PastMedicalHistory,
            what: format!("the past medical history ({n} condition{})", plural(n)),
        });
        out.brief.push("the past medical history".into());
    }
    for (i, r) in case.reports.iter().enumerate() {
        let label = match &r.date {
            Some(d) => format!("the report \u{201c}{}\u{201d} of {d}", r.title.trim()),
            None => format!("the report \u{201c}{}\u{201d}", r.title.trim()),
        };
        out.text(
            CasePart::Report(i),
            &label,
            r.text.trim(),
            cuts.reports.get(i).copied().flatten(),
        );
    }
    out.text(
        CasePart::Examination,
        "the examination",
        case.examination.trim(),
        cuts.examination,
    );
    out.text(
        CasePart::HistoryOfPresentIllness,
        "the history of present illness",
        case.history_of_present_illness.trim(),
        cuts.history,
    );
    out
}

impl Omitted {
    /// Records a free text cut to its first `keep` bytes, if it was cut.
    fn text(&mut self, part: CasePart, label: &str, text: &str, keep: Option<usize>) {
        let (k, cut) = kept(text, keep);
        if !cut {
            return;
        }
        let total = text.chars().count();
        let (what, brief) = if k.is_empty() {
            (
                format!("{label} ({} characters)", thousands(total)),
                label.to_string(),
            )
        } else {
            (
                format!(
                    "the last {} characters of {label}",
                    thousands(total - k.chars().count())
                ),
                format!("the end of {label}"),
            )
        };
        self.list.push(Omission { part, what });
        self.brief.push(brief);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// "Creatinine" → "creatinine", "Heart rate" → "heart rate", but "CRP",
/// "SpO2", "HbA1c" and "pH" stay as they are: only a first word that is
/// an ordinary capitalised word (one capital, then lower case) is lowered.
fn in_sentence(name: &str) -> String {
    let first_word = name.split_whitespace().next().unwrap_or("");
    let mut chars = first_word.chars();
    let ordinary = chars.next().is_some_and(char::is_uppercase)
        && first_word.chars().count() > 1
        && chars.all(|c| !c.is_alphabetic() || c.is_lowercase());
    if !ordinary {
        return name.to_string();
    }
    let mut chars = name.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

/// 1200 → "1,200".
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1200), "1,200");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(in_sentence("Creatinine"), "creatinine");
        assert_eq!(in_sentence("CRP"), "CRP");
        assert_eq!(in_sentence("SpO2"), "SpO2");
        assert_eq!(in_sentence("pH"), "pH");
        assert_eq!(in_sentence("HbA1c"), "HbA1c");
        assert_eq!(in_sentence("Heart rate"), "heart rate");
        assert_eq!(
            in_sentence("Troponin T (high sensitivity)"),
            "troponin T (high sensitivity)"
        );
        assert_eq!(in_sentence("X"), "X");
        assert_eq!(in_sentence("Ölfarbe"), "ölfarbe");
    }
}
