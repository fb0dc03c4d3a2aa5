//! The case format: JSON round trips, and validation seen through the prompt.

use locum_clinical::examples::{example_date, examples};
use locum_clinical::prompt::case_text;
use locum_clinical::{Case, WarningKind};

#[test]
fn every_example_round_trips_through_json() {
    for (id, _, case) in examples() {
        let json = serde_json::to_string_pretty(&case).unwrap();
        let back = Case::from_json(&json).unwrap();
        assert_eq!(back, case, "{id}");
        // Empty fields are left out, so the JSON stays what a person would write.
        assert!(
            !json.contains("null") && !json.contains("[]") && !json.contains("\"\""),
            "{id}: {json}"
        );
    }
}

#[test]
fn a_case_with_every_field_round_trips() {
    let json = r#"{
      "demographics": {"age_years": 0.5, "sex": "other"},
      "presenting_complaint": "Poor feeding",
      "history_of_present_illness": "Two days.",
      "active_problems": [{"name": "Reflux", "onset": "2026-01", "note": "on feeds thickener"}],
      "past_medical_history": [{"name": "Jaundice", "onset": "2025-09-03", "note": "phototherapy"}],
      "medications": [{"name": "Gaviscon Infant", "dose": "1 sachet", "route": "oral", "frequency": "with feeds",
                       "instructions": "mix with water", "start": "2026-01-10", "stop": "2026-02-01"}],
      "allergies": [{"substance": "Cow's milk protein", "reaction": "bloody stools"}],
      "social_history": "Lives with parents.",
      "family_history": "Older sibling had pyloric stenosis.",
      "examination": "Alert, mildly dry.",
      "observations": [{"name": "Weight", "value": 6.9, "unit": "kg", "date": "2026-03-06T09:00:00+01:00",
                        "reference_range": {"low": 6.1, "high": 9.3, "text": "2nd-98th centile"}, "kind": "vital"},
                       {"name": "Stool reducing substances", "value": "negative", "date": "2026-03-05", "kind": "lab"}],
      "reports": [{"title": "Abdominal ultrasound", "date": "2026-03-06", "text": "Pylorus normal."}],
      "notes": [{"title": "Health visitor", "date": "2026-02-20", "text": "Weight dropping across centiles."}, {"text": "Undated note."}]
    }"#;
    let case = Case::from_json(json).unwrap();
    let again = Case::from_json(&serde_json::to_string(&case).unwrap()).unwrap();
    assert_eq!(again, case);
    assert_eq!(
        case.observations[0].date.as_str(),
        "2026-03-06T09:00:00+01:00",
        "dates are kept as written"
    );
    let text = case_text(&case, example_date());
    assert!(
        text.contains("Patient: age 6 months, sex recorded as other"),
        "{text}"
    );
    assert!(text.contains("- Gaviscon Infant 1 sachet oral with feeds mix with water (2026-01-10 to 2026-02-01, stopped)"), "{text}");
    assert!(
        text.contains("- Weight (kg; reference 6.1–9.3): 6.9 (2026-03-06 09:00)"),
        "{text}"
    );
    assert!(text.contains("Note:\nUndated note."), "{text}");
}

#[test]
fn flagged_values_are_marked_not_used_silently() {
    let mut case = examples().remove(0).2;
    case.observations[2].value = locum_clinical::ObservationValue::Number(1040.0); // heart rate
    case.observations[5].date = locum_clinical::Timestamp::parse("2026-04-01").unwrap(); // SpO2
    case.demographics.age_years = Some(-67.0);
    let today = example_date();
    let kinds: Vec<WarningKind> = case.validate(today).iter().map(|w| w.kind).collect();
    assert_eq!(
        kinds,
        [
            WarningKind::Implausible,
            WarningKind::Implausible,
            WarningKind::FutureDate
        ]
    );
    let text = case_text(&case, today);
    assert!(
        text.contains("Patient: age -67 years (flagged: implausible), male"),
        "{text}"
    );
    assert!(
        text.contains("1040 (2026-03-06 08:05; flagged: implausible)"),
        "{text}"
    );
    assert!(
        text.contains("96 (2026-04-01; flagged: dated in the future)"),
        "{text}"
    );
}
