//! A case as the text the model reads, with parts cut away to fit a budget.
//!
//! Sections come in a fixed order, empty ones left out. Observations are
//! grouped by test (same normalized name, unit and kind) and each group is
//! one line, oldest value first, so a trend reads left to right:
//! `Creatinine (µmol/L): 88 (2026-01-03) → 140 (2026-03-01) → 210 (2026-03-05)`.
//! Values and items that [`Case::validate`] warned about carry
//! `(flagged: …)` beside them.
//!
//! [`Cuts`] records what the budget search in `prompt` removed; this module
//! applies it, and `omitted` names each removal in words.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::case::{Case, ObservationKind, Warning, WarningTarget};
use crate::date::Date;
use crate::plausibility::{self, normalize_name, normalize_unit};

/// One line of results: the same test in the same unit.
pub(crate) struct Group {
    /// Indices into `case.observations`, oldest first.
    pub members: Vec<usize>,
}

/// Groups the observations, in the order the prompt lists them: vital signs
/// then laboratory results; tests in the plausibility table in its order,
/// then the rest alphabetically.
pub(crate) fn groups(case: &Case) -> Vec<Group> {
    // (vital 0 / lab 1, rank in the plausibility table, name, unit)
    let mut keyed: BTreeMap<(u8, usize, String, String), Vec<usize>> = BTreeMap::new();
    for (i, o) in case.observations.iter().enumerate() {
        let kind = match o.kind {
            ObservationKind::Vital => 0,
            ObservationKind::Lab => 1,
        };
        let rank = plausibility::lookup(&o.name).map_or(usize::MAX, |(rank, _)| rank);
        let unit = o.unit.as_deref().map(normalize_unit).unwrap_or_default();
        keyed
            .entry((kind, rank, normalize_name(&o.name), unit))
            .or_default()
            .push(i);
    }
    keyed
        .into_values()
        .map(|mut members| {
            members.sort_by(|&a, &b| {
                case.observations[a]
                    .date
                    .cmp(&case.observations[b].date)
                    .then(a.cmp(&b))
            });
            Group { members }
        })
        .collect()
}

/// What has been cut from a case. Text is cut from its end; `Some(n)` keeps
/// the first `n` bytes (a character boundary), `Some(0)` drops it whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cuts {
    pub observations: Vec<bool>,
    pub notes: Vec<Option<usize>>,
    pub reports: Vec<Option<usize>>,
    pub medications: Vec<bool>,
    pub family_history: bool,
    pub social_history: bool,
    pub past_history: bool,
    pub examination: Option<usize>,
    pub history: Option<usize>,
}

impl Cuts {
    /// Nothing cut.
    pub fn none(case: &Case) -> Cuts {
        Cuts {
            observations: vec![false; case.observations.len()],
            notes: vec![None; case.notes.len()],
            reports: vec![None; case.reports.len()],
            medications: vec![false; case.medications.len()],
            ..Cuts::default()
        }
    }
}

/// The part of `text` that `kept` leaves, and whether anything was cut.
pub(crate) fn kept(text: &str, kept: Option<usize>) -> (&str, bool) {
    match kept {
        Some(n) if n < text.len() => (text.get(..n).unwrap_or(text), true),
        _ => (text, false),
    }
}

/// The case as prompt text, with `cuts` applied and the omissions listed
/// at the end.
pub(crate) fn case_text(
    case: &Case,
    today: Date,
    warnings: &[Warning],
    groups: &[Group],
    cuts: &Cuts,
    omitted: &[String],
) -> String {
    let flags = |target: WarningTarget| -> String {
        let kinds: Vec<&str> = warnings
            .iter()
            .filter(|w| w.target == target)
            .map(|w| w.kind.flag())
            .collect();
        if kinds.is_empty() {
            String::new()
        } else {
            format!("flagged: {}", kinds.join(", "))
        }
    };
    let paren = |s: String| if s.is_empty() { s } else { format!(" ({s})") };
    let mut out = String::new();
    // `write!` to a String cannot fail; the results are ignored throughout.
    let _ = writeln!(out, "Today: {today}");

    // Patient line.
    let d = &case.demographics;
    let age = match d.age_years {
        None => "age not recorded".to_string(),
        Some(a) if (0.0..2.0).contains(&a) => format!("age {} months", (a * 12.0).round()),
        Some(a) if a >= 2.0 => format!("age {} years", a.floor()),
        Some(a) => format!("age {a} years"),
    };
    let sex = match d.sex {
        Some(crate::case::Sex::Female) => "female",
        Some(crate::case::Sex::Male) => "male",
        Some(crate::case::Sex::Other) => "sex recorded as other",
        Some(crate::case::Sex::Unknown) => "sex unknown",
        None => "sex not recorded",
    };
    let _ = writeln!(
        out,
        "Patient: {age}{}, {sex}",
        paren(flags(WarningTarget::Age))
    );
    let pc = case.presenting_complaint.trim();
    let _ = writeln!(
        out,
        "Presenting complaint: {}",
        if pc.is_empty() { "not recorded" } else { pc }
    );

    let (hpi, cut) = kept(case.history_of_present_illness.trim(), cuts.history);
    block(&mut out, "History of present illness", hpi, cut);

    // Active problems are "since" their onset; past ones just dated.
    let problems = |out: &mut String,
                    title: &str,
                    list: &[crate::case::Problem],
                    t: fn(usize) -> WarningTarget,
                    since: &str| {
        if list.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{title}:");
        for (i, p) in list.iter().enumerate() {
            let mut details = Vec::new();
            if let Some(onset) = &p.onset {
                details.push(format!("{since}{onset}"));
            }
            if let Some(note) = p.note.as_deref().filter(|n| !n.trim().is_empty()) {
                details.push(note.trim().to_string());
            }
            let f = flags(t(i));
            if !f.is_empty() {
                details.push(f);
            }
            let _ = writeln!(out, "- {}{}", p.name.trim(), paren(details.join("; ")));
        }
    };
    problems(
        &mut out,
        "Active problems",
        &case.active_problems,
        WarningTarget::ActiveProblem,
        "since ",
    );
    if !cuts.past_history {
        problems(
            &mut out,
            "Past medical history",
            &case.past_medical_history,
            WarningTarget::PastProblem,
            "",
        );
    }

    let meds: Vec<usize> = (0..case.medications.len())
        .filter(|&i| !cuts.medications.get(i).copied().unwrap_or(false))
        .collect();
    if case.medications.is_empty() {
        out.push_str("\nMedications: none recorded\n");
    } else if !meds.is_empty() {
        out.push_str("\nMedications:\n");
        for i in meds {
            let m = &case.medications[i];
            let mut line = m.name.trim().to_string();
            for part in [&m.dose, &m.route, &m.frequency, &m.instructions]
                .into_iter()
                .flatten()
            {
                if !part.trim().is_empty() {
                    line.push(' ');
                    line.push_str(part.trim());
                }
            }
            let mut details = Vec::new();
            match (&m.start, &m.stop) {
                (Some(s), Some(e)) if e.date() <= today => {
                    details.push(format!("{s} to {e}, stopped"))
                }
                (None, Some(e)) if e.date() <= today => details.push(format!("stopped {e}")),
                (Some(s), Some(e)) => details.push(format!("since {s}, planned to stop {e}")),
                (None, Some(e)) => details.push(format!("planned to stop {e}")),
                (Some(s), None) => details.push(format!("since {s}")),
                (None, None) => {}
            }
            let f = flags(WarningTarget::Medication(i));
            if !f.is_empty() {
                details.push(f);
            }
            let _ = writeln!(out, "- {line}{}", paren(details.join("; ")));
        }
    }

    if case.allergies.is_empty() {
        out.push_str("\nAllergies: none recorded\n");
    } else {
        out.push_str("\nAllergies:\n");
        for a in &case.allergies {
            match a
                .reaction
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
            {
                Some(r) => writeln!(out, "- {}: {r}", a.substance.trim()),
                None => writeln!(out, "- {}", a.substance.trim()),
            }
            .ok();
        }
    }

    if !cuts.social_history {
        block(
            &mut out,
            "Social history",
            case.social_history.trim(),
            false,
        );
    }
    if !cuts.family_history {
        block(
            &mut out,
            "Family history",
            case.family_history.trim(),
            false,
        );
    }
    let (exam, cut) = kept(case.examination.trim(), cuts.examination);
    block(&mut out, "Examination", exam, cut);

    for (kind, title) in [
        (ObservationKind::Vital, "Vital signs"),
        (ObservationKind::Lab, "Laboratory results"),
    ] {
        let mut lines = Vec::new();
        for g in groups {
            let shown: Vec<usize> = g
                .members
                .iter()
                .copied()
                .filter(|&i| !cuts.observations.get(i).copied().unwrap_or(false))
                .collect();
            let Some(&latest) = shown.last() else {
                continue;
            };
            let last = &case.observations[latest];
            if last.kind != kind {
                continue;
            }
            let mut header = Vec::new();
            if let Some(u) = last.unit.as_deref().filter(|u| !u.trim().is_empty()) {
                header.push(u.trim().to_string());
            }
            if let Some(r) = &last.reference_range {
                let r = r.to_string();
                if !r.is_empty() {
                    header.push(format!("reference {r}"));
                }
            }
            let values: Vec<String> = shown
                .iter()
                .map(|&i| {
                    let o = &case.observations[i];
                    let f = flags(WarningTarget::Observation(i));
                    if f.is_empty() {
                        format!("{} ({})", o.value, o.date)
                    } else {
                        format!("{} ({}; {f})", o.value, o.date)
                    }
                })
                .collect();
            lines.push(format!(
                "- {}{}: {}",
                last.name.trim(),
                paren(header.join("; ")),
                values.join(" → ")
            ));
        }
        if !lines.is_empty() {
            let _ = writeln!(out, "\n{title} (oldest first):");
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
        }
    }

    free_texts(
        &mut out,
        "Reports",
        case.reports.iter().enumerate().map(|(i, r)| {
            let label = format!("{}{}", r.title.trim(), paren(dated(&r.date)));
            (
                label,
                r.text.trim(),
                cuts.reports.get(i).copied().flatten(),
                flags(WarningTarget::Report(i)),
            )
        }),
    );
    free_texts(
        &mut out,
        "Notes",
        case.notes.iter().enumerate().map(|(i, n)| {
            let title = n.title.as_deref().map(str::trim).unwrap_or("Note");
            let label = format!("{title}{}", paren(dated(&n.date)));
            (
                label,
                n.text.trim(),
                cuts.notes.get(i).copied().flatten(),
                flags(WarningTarget::Note(i)),
            )
        }),
    );

    if !omitted.is_empty() {
        let _ = writeln!(
            out,
            "\nLeft out to fit the model's context: {}.",
            omitted.join("; ")
        );
    }
    out.trim_end().to_string()
}

fn dated(date: &Option<crate::date::Timestamp>) -> String {
    date.as_ref().map(|d| d.to_string()).unwrap_or_default()
}

/// A titled free-text section; nothing if empty.
fn block(out: &mut String, title: &str, text: &str, cut: bool) {
    if text.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}: {text}{}", if cut { " […]" } else { "" });
}

/// Reports or notes: `(label, text, kept bytes, flags)` each.
fn free_texts<'a>(
    out: &mut String,
    title: &str,
    items: impl Iterator<Item = (String, &'a str, Option<usize>, String)>,
) {
    let mut first = true;
    for (label, text, keep, flags) in items {
        let (text, cut) = kept(text, keep);
        if text.is_empty() && cut {
            continue; // dropped whole
        }
        if first {
            let _ = writeln!(out, "\n{title}:");
            first = false;
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{flags}]")
        };
        let _ = writeln!(
            out,
            "{label}{flags}:\n{text}{}",
            if cut { " […]" } else { "" }
        );
    }
}
