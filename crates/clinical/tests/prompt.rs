//! Prompt building: golden renders through the SmolLM2 chat template, and
//! the token budget's promises (what goes first, what never goes, and that
//! every omission is named exactly).

mod common;

use common::{golden, Jinja, QuarterChars};
use locum_clinical::examples::{example_date, examples};
use locum_clinical::prompt::{case_text, CasePart};
use locum_clinical::{
    fit_case, Case, Date, Demographics, Error, Medication, Note, Observation, ObservationKind,
    ObservationValue, Problem, Report, Sex, Timestamp, TokenCounter,
};

fn example(id: &str) -> Case {
    examples()
        .into_iter()
        .find(|(i, _, _)| *i == id)
        .map(|(_, _, c)| c)
        .unwrap_or_else(|| panic!("no example {id}"))
}

#[test]
fn golden_full_prompts() {
    for id in [
        "chest-pain-troponin",
        "confusion-rising-creatinine",
        "child-limp-fever",
    ] {
        let case = example(id);
        let fitted = fit_case(
            &case,
            example_date(),
            &QuarterChars,
            &Jinja::smollm2(),
            100_000,
        )
        .unwrap();
        assert!(fitted.omitted.is_empty(), "{id}: {:?}", fitted.omitted);
        assert_eq!(fitted.tokens, QuarterChars.count(&fitted.text));
        assert!(
            fitted.text.starts_with("<|im_start|>system\nYou are Locum"),
            "{id}"
        );
        assert!(
            fitted.text.ends_with("<|im_end|>\n<|im_start|>assistant\n"),
            "{id}"
        );
        assert!(fitted.text.contains(&fitted.case_text));
        golden(&format!("{id}.txt"), &fitted.text);
    }
}

#[test]
fn golden_fitted_prompts() {
    let case = example("confusion-rising-creatinine");
    let full = fit_case(
        &case,
        example_date(),
        &QuarterChars,
        &Jinja::smollm2(),
        usize::MAX,
    )
    .unwrap();
    // 60 tokens short: older results and the end of the GP letter go.
    // 150 short: a good deal more. The golden files pin every word,
    // including how the prompt tells the model what it is not seeing.
    for short in [60, 150] {
        let budget = full.tokens - short;
        let fitted = fit_case(
            &case,
            example_date(),
            &QuarterChars,
            &Jinja::smollm2(),
            budget,
        )
        .unwrap();
        assert!(fitted.tokens <= budget);
        assert!(!fitted.omitted.is_empty());
        let listing: String = fitted
            .omitted
            .iter()
            .map(|o| format!("{}\n", o.what))
            .collect();
        golden(
            &format!("confusion-rising-creatinine.minus-{short}.txt"),
            &fitted.text,
        );
        golden(
            &format!("confusion-rising-creatinine.minus-{short}.omitted.txt"),
            &listing,
        );
    }
}

#[test]
fn trends_read_oldest_first_and_flags_are_marked() {
    let today = example_date();
    let chest = case_text(&example("chest-pain-troponin"), today);
    assert!(
        chest.contains("- Troponin T (high sensitivity) (ng/L; reference ≤ 14): 48 (2026-03-06 08:10) → 312 (2026-03-06 11:15)"),
        "{chest}"
    );
    let confused = case_text(&example("confusion-rising-creatinine"), today);
    assert!(
        confused.contains("- Creatinine (µmol/L; reference 45–90): 88 (2025-11-12) → 140 (2026-02-20) → 210 (2026-03-02) → 265 (2026-03-06 10:30)"),
        "{confused}"
    );
    assert!(
        confused.contains("960 (2026-03-06 10:05; flagged: implausible) → 94 (2026-03-06 10:40)"),
        "{confused}"
    );
    // Vital signs come before laboratory results, each in the table's order.
    let at = |s: &str| confused.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(at("Vital signs") < at("- Heart rate") && at("- Heart rate") < at("- Weight"));
    assert!(at("- Weight") < at("Laboratory results") && at("- Sodium") < at("- Potassium"));
    assert!(at("- Potassium") < at("- Creatinine") && at("- Creatinine") < at("- Urea"));
}

fn creatinine(date: &str, value: f64) -> Observation {
    Observation {
        name: "Creatinine".into(),
        value: ObservationValue::Number(value),
        unit: Some("µmol/L".into()),
        date: Timestamp::parse(date).unwrap(),
        reference_range: None,
        kind: ObservationKind::Lab,
    }
}

/// The dates of the creatinine trend in `long_case`: the 1st and 15th of
/// each month from September 2025, then 2026-03-05.
fn trend_dates() -> Vec<String> {
    let mut dates = Vec::new();
    for (y, m) in [
        (2025, 9),
        (2025, 10),
        (2025, 11),
        (2025, 12),
        (2026, 1),
        (2026, 2),
    ] {
        dates.push(format!("{y}-{m:02}-01"));
        dates.push(format!("{y}-{m:02}-15"));
    }
    dates.push("2026-03-01".into());
    dates.push("2026-03-05".into());
    dates
}

/// A case whose size is mostly a long trend and a long note.
fn long_case() -> Case {
    let sentence = "The patient reports worsening breathlessness on exertion over several weeks, now after one flight of stairs. ";
    // Entered newest first, to show that order of entry does not matter.
    let observations = trend_dates()
        .iter()
        .enumerate()
        .rev()
        .map(|(i, d)| creatinine(d, 80.0 + 10.0 * i as f64))
        .collect();
    Case {
        demographics: Demographics {
            age_years: Some(70.0),
            sex: Some(Sex::Female),
        },
        presenting_complaint: "Breathlessness and ankle swelling".into(),
        history_of_present_illness:
            "Three weeks of breathlessness on exertion, now on one flight of stairs, \
            with orthopnoea (three pillows) and ankle swelling rising to the knees."
                .into(),
        active_problems: vec![Problem {
            name: "Hypertension".into(),
            onset: None,
            note: None,
        }],
        past_medical_history: vec![Problem {
            name: "Appendicectomy".into(),
            onset: Some(Timestamp::parse("1975").unwrap()),
            note: Some("uncomplicated, no further abdominal problems since".into()),
        }],
        medications: vec![
            Medication {
                name: "Furosemide".into(),
                dose: Some("40 mg".into()),
                start: Some(Timestamp::parse("2026-02-20").unwrap()),
                ..Medication::default()
            },
            Medication {
                name: "Amlodipine".into(),
                dose: Some("10 mg".into()),
                start: Some(Timestamp::parse("2019-04-01").unwrap()),
                stop: Some(Timestamp::parse("2026-01-10").unwrap()),
                ..Medication::default()
            },
        ],
        social_history: "Ex-smoker of 30 pack-years, stopped in 2015. Lives with her husband \
            in a house with stairs; walks with a stick."
            .into(),
        family_history:
            "Mother had heart failure in her seventies; a brother has atrial fibrillation.".into(),
        examination: "Bibasal crackles to the mid zones, pitting oedema to the knees, \
            jugular venous pressure raised to the earlobes."
            .into(),
        observations,
        reports: vec![Report {
            title: "Echocardiogram".into(),
            date: Some(Timestamp::parse("2026-02-20").unwrap()),
            text: "Left ventricle dilated with global hypokinesia, ejection fraction 35%. \
                   Moderate functional mitral regurgitation."
                .into(),
        }],
        notes: vec![Note {
            title: None,
            date: Some(Timestamp::parse("2026-02-15").unwrap()),
            text: sentence.repeat(20).trim().to_string(),
        }],
        allergies: Vec::new(),
    }
}

fn today() -> Date {
    Date::parse("2026-03-06").unwrap()
}

fn creatinine_line(text: &str) -> Option<&str> {
    text.lines().find(|l| l.starts_with("- Creatinine"))
}

#[test]
fn oldest_results_go_first_and_are_named_exactly() {
    let case = long_case();
    let r = Jinja::smollm2();
    let full = fit_case(&case, today(), &QuarterChars, &r, usize::MAX).unwrap();
    let dates = trend_dates();
    let line = creatinine_line(&full.case_text).unwrap();
    assert!(
        line.starts_with("- Creatinine (µmol/L): 80 (2025-09-01) → 90 (2025-09-15) → "),
        "{line}"
    );
    assert!(
        line.ends_with(" → 200 (2026-03-01) → 210 (2026-03-05)"),
        "{line}"
    );

    // A little below the full size: only older results go, oldest first.
    let fitted = fit_case(&case, today(), &QuarterChars, &r, full.tokens - 10).unwrap();
    assert_eq!(fitted.omitted.len(), 1, "{:?}", fitted.omitted);
    assert_eq!(fitted.omitted[0].part, CasePart::Observations);
    let shown = creatinine_line(&fitted.case_text).unwrap();
    let n_shown = shown.matches(" → ").count() + 1;
    let n_gone = dates.len() - n_shown;
    assert!(n_gone >= 2, "{shown}");
    assert!(
        shown.contains(&format!(": {} ({})", 80 + 10 * n_gone, dates[n_gone])),
        "{shown}"
    );
    assert_eq!(
        fitted.omitted[0].what,
        format!(
            "{n_gone} older creatinine results (2025-09-01 to {})",
            dates[n_gone - 1]
        )
    );
    // The model is told too, briefly.
    assert!(
        fitted.case_text.ends_with(&format!(
            "Left out to fit the model's context: {n_gone} results (2025-09-01 to {}).",
            dates[n_gone - 1]
        )),
        "{}",
        fitted.case_text
    );
}

/// Sweeps the budget down from the full size and checks, at every step,
/// that the prompt fits, keeps the essentials, removes in the documented
/// order, and that the omission list says exactly what the text lacks.
#[test]
fn every_budget_fits_in_order_or_says_by_how_much_it_does_not() {
    let case = long_case();
    let r = Jinja::smollm2();
    let full = fit_case(&case, today(), &QuarterChars, &r, usize::MAX).unwrap();
    let note = case.notes[0].text.as_str();
    let note_chars = note.chars().count();
    let all_older = "13 older creatinine results (2025-09-01 to 2026-03-01)";
    let every_result = "all 14 creatinine results (2025-09-01 to 2026-03-05)";
    let whole_note = format!(
        "the free-text note of 2026-02-15 ({} characters)",
        thousands(note_chars)
    );
    let mut failed_at = None;
    let mut seen_parts = Vec::new();
    for budget in (0..=full.tokens).rev().step_by(2) {
        let f = match fit_case(&case, today(), &QuarterChars, &r, budget) {
            Ok(f) => f,
            Err(Error::DoesNotFit {
                tokens,
                budget: b,
                over,
            }) => {
                assert_eq!(b, budget);
                assert_eq!(over, tokens - budget);
                failed_at.get_or_insert(budget);
                continue;
            }
            Err(e) => panic!("budget {budget}: {e}"),
        };
        assert!(
            failed_at.is_none(),
            "fits at {budget} after failing at {failed_at:?}"
        );
        assert!(f.tokens <= budget);
        assert_eq!(f.tokens, QuarterChars.count(&f.text));
        assert!(f.case_text.contains("Patient: age 70 years, female"));
        assert!(f
            .case_text
            .contains("Presenting complaint: Breathlessness and ankle swelling"));
        let parts: Vec<CasePart> = f.omitted.iter().map(|o| o.part).collect();
        let whats: Vec<&str> = f.omitted.iter().map(|o| o.what.as_str()).collect();
        if !seen_parts.contains(&parts) {
            seen_parts.push(parts.clone());
        }

        // The note: shown whole, cut (and the cut named to the character), or gone.
        let kept = f.case_text.split("2026-02-15):\n").nth(1).map(|rest| {
            rest.split(" […]")
                .next()
                .unwrap_or(rest)
                .split("\n\n")
                .next()
                .unwrap_or(rest)
        });
        match (f.omitted.iter().find(|o| o.part == CasePart::Note(0)), kept) {
            (None, Some(k)) => assert_eq!(k, note, "budget {budget}"),
            (Some(o), Some(k)) => {
                assert!(note.starts_with(k), "budget {budget}");
                assert!(
                    !k.ends_with(' ') && note[k.len()..].starts_with(' '),
                    "cut between words"
                );
                let cut = note_chars - k.chars().count();
                assert_eq!(
                    o.what,
                    format!(
                        "the last {} characters of the free-text note of 2026-02-15",
                        thousands(cut)
                    )
                );
                assert!(
                    whats[0] == all_older || whats[0] == every_result,
                    "notes are cut only after every older result: {whats:?}"
                );
            }
            (Some(o), None) => {
                assert_eq!(o.what, whole_note);
                assert!(
                    whats[0] == all_older || whats[0] == every_result,
                    "{whats:?}"
                );
            }
            (None, None) => panic!("budget {budget}: the note vanished unannounced"),
        }
        if parts.contains(&CasePart::FamilyHistory) {
            assert!(!f.case_text.contains("Mother had heart failure"));
            assert!(
                f.case_text.contains("Furosemide"),
                "current medications stay"
            );
            assert!(f.case_text.contains("Hypertension"), "active problems stay");
            assert_eq!(
                whats[1], whole_note,
                "the family history goes after the whole note"
            );
        }
        if creatinine_line(&f.case_text).is_none() {
            assert_eq!(whats[0], every_result);
            assert!(
                parts.contains(&CasePart::Report(0)),
                "the latest result goes after the reports"
            );
        }
    }
    // Every stage of the order was reached on the way down.
    use CasePart::*;
    let order = [
        Observations,
        Note(0),
        FamilyHistory,
        SocialHistory,
        Medications,
        PastMedicalHistory,
        Report(0),
        // Here the latest results go: the same parts, "all 14" in words.
        Examination,
        HistoryOfPresentIllness,
    ];
    for n in 1..=order.len() {
        let stage = order[..n].to_vec();
        assert!(
            seen_parts.contains(&stage),
            "{stage:?} never seen in {seen_parts:?}"
        );
    }
    let failed_at = failed_at.expect("a budget of 0 cannot fit");
    let msg = fit_case(&case, today(), &QuarterChars, &r, failed_at)
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("The case does not fit the model's context"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("more than the {failed_at} available")),
        "{msg}"
    );
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
