//! Fictional cases for demonstrations and tests.
//!
//! Every person here is invented; any likeness is chance. Each case is
//! written to be clinically coherent, with results over several dates so
//! that trends matter, and is set on [`EXAMPLE_DATE`]: use
//! [`examples_as_of`] to replay them on another day with every date moved
//! by the same amount. The cases are JSON files in `examples-data/`, in the
//! format [`Case::from_json`] reads, so they double as documentation of it.

use crate::case::Case;
use crate::date::Date;

/// The day every example case is seen on.
pub const EXAMPLE_DATE: (i32, u32, u32) = (2026, 3, 6);

/// `(id, title, JSON)` for each example, in the order a demo offers them.
const SOURCES: &[(&str, &str, &str)] = &[
    (
        "chest-pain-troponin",
        "67-year-old man with chest pain and a rising troponin",
        include_str!("../examples-data/chest-pain-troponin.json"),
    ),
    (
        "fever-neck-stiffness",
        "24-year-old woman with fever, headache and neck stiffness",
        include_str!("../examples-data/fever-neck-stiffness.json"),
    ),
    (
        "confusion-rising-creatinine",
        "78-year-old woman with confusion and a creatinine rising over weeks",
        include_str!("../examples-data/confusion-rising-creatinine.json"),
    ),
    (
        "fatigue-weight-loss-low-sodium",
        "35-year-old woman with fatigue, weight loss, low sodium and high potassium",
        include_str!("../examples-data/fatigue-weight-loss-low-sodium.json"),
    ),
    (
        "child-limp-fever",
        "6-year-old boy with a limp and fever",
        include_str!("../examples-data/child-limp-fever.json"),
    ),
];

/// The date the examples are set on, as a [`Date`].
pub fn example_date() -> Date {
    let (y, m, d) = EXAMPLE_DATE;
    // A constant, valid date: tested below.
    Date::new(y, m, d).unwrap_or_else(|_| Date::from_days_since_epoch(0))
}

/// Every example as `(id, title, case)`, dated as written (seen on
/// [`EXAMPLE_DATE`]).
pub fn examples() -> Vec<(&'static str, &'static str, Case)> {
    SOURCES
        .iter()
        .map(|&(id, title, json)| {
            // The files are part of this crate and `every_example_parses`
            // reads each one, so a failure here is a bug in a file, not
            // something a user's input can cause.
            let case = Case::from_json(json)
                .unwrap_or_else(|e| panic!("examples-data/{id}.json is invalid: {e}"));
            (id, title, case)
        })
        .collect()
}

/// Every example moved in time so that it is seen on `today`.
pub fn examples_as_of(today: Date) -> Vec<(&'static str, &'static str, Case)> {
    let days = example_date().days_until(today);
    examples()
        .into_iter()
        .map(|(id, title, case)| (id, title, case.shifted_by_days(days)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{ObservationKind, WarningKind, WarningTarget};

    #[test]
    fn every_example_parses_and_is_longitudinal() {
        assert!(Date::new(EXAMPLE_DATE.0, EXAMPLE_DATE.1, EXAMPLE_DATE.2).is_ok());
        let all = examples();
        assert_eq!(all.len(), SOURCES.len());
        for (id, _, case) in &all {
            assert!(!case.presenting_complaint.is_empty(), "{id}");
            assert!(case.demographics.age_years.is_some(), "{id}");
            let mut dates: Vec<Date> = case.observations.iter().map(|o| o.date.date()).collect();
            dates.sort();
            dates.dedup();
            assert!(dates.len() >= 2, "{id}: results on {} date(s)", dates.len());
            assert!(
                case.observations
                    .iter()
                    .any(|o| o.kind == ObservationKind::Vital),
                "{id}"
            );
            assert!(
                case.observations
                    .iter()
                    .any(|o| o.kind == ObservationKind::Lab),
                "{id}"
            );
        }
    }

    #[test]
    fn only_the_deliberate_entry_error_is_flagged() {
        for (id, _, case) in examples() {
            let warnings = case.validate(example_date());
            if id == "confusion-rising-creatinine" {
                // A heart rate of 960 (for 96), left in to show flagging.
                assert_eq!(warnings.len(), 1, "{warnings:?}");
                assert_eq!(warnings[0].kind, WarningKind::Implausible);
                let WarningTarget::Observation(i) = warnings[0].target else {
                    panic!("{warnings:?}")
                };
                assert_eq!(case.observations[i].name, "Heart rate");
            } else {
                assert!(warnings.is_empty(), "{id}: {warnings:?}");
            }
        }
    }

    #[test]
    fn replaying_moves_every_date() {
        let today = Date::parse("2026-11-24").unwrap();
        let days = example_date().days_until(today);
        for ((_, _, before), (id, _, after)) in examples().into_iter().zip(examples_as_of(today)) {
            let latest = |c: &Case| c.observations.iter().map(|o| o.date.date()).max();
            assert_eq!(
                latest(&after),
                latest(&before).map(|d| d.add_days(days)),
                "{id}"
            );
            assert!(after
                .validate(today)
                .iter()
                .all(|w| w.kind != WarningKind::FutureDate));
        }
    }
}
