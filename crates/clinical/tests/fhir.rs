//! FHIR R4 import against a fictional Bundle that holds every resource
//! type the importer reads, the cases it must skip, and malformed files.

use locum_clinical::{import_bundle, Date, Error, ObservationKind, ObservationValue, Sex, Skipped};

fn today() -> Date {
    Date::parse("2026-03-06").unwrap()
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn imports_every_supported_resource() {
    let import = import_bundle(&fixture("bundle.json"), today()).unwrap();
    let case = &import.case;

    assert_eq!(
        case.demographics.age_years,
        Some(67.0),
        "born 1958-07-14, seen 2026-03-06"
    );
    assert_eq!(case.demographics.sex, Some(Sex::Male));

    let names =
        |list: &[locum_clinical::Problem]| list.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&case.active_problems), ["Type 2 diabetes mellitus"]);
    assert_eq!(
        case.active_problems[0].onset.as_ref().unwrap().as_str(),
        "2014-05-01"
    );
    assert_eq!(
        names(&case.past_medical_history),
        ["Community-acquired pneumonia"]
    );
    assert_eq!(
        case.past_medical_history[0].note.as_deref(),
        Some("resolved 2019-02-01")
    );

    let obs: Vec<(&str, String, Option<&str>, &str, ObservationKind)> = case
        .observations
        .iter()
        .map(|o| {
            (
                o.name.as_str(),
                o.value.to_string(),
                o.unit.as_deref(),
                o.date.as_str(),
                o.kind,
            )
        })
        .collect();
    use ObservationKind::*;
    assert_eq!(
        obs,
        vec![
            (
                "Heart rate",
                "104".into(),
                Some("beats/minute"),
                "2026-03-06T08:05:00+00:00",
                Vital
            ),
            (
                "Systolic blood pressure",
                "158".into(),
                Some("mmHg"),
                "2026-03-06T08:05:00+00:00",
                Vital
            ),
            (
                "Diastolic blood pressure",
                "94".into(),
                Some("mmHg"),
                "2026-03-06T08:05:00+00:00",
                Vital
            ),
            ("Creatinine", "92".into(), Some("µmol/L"), "2025-11-20", Lab),
            (
                "Creatinine",
                "98".into(),
                Some("µmol/L"),
                "2026-03-06T08:10:00Z",
                Lab
            ),
            (
                "Troponin T (high sensitivity)",
                "<5".into(),
                Some("ng/L"),
                "2026-03-05T22:00:00Z",
                Lab
            ),
            (
                "Urine dipstick",
                "glucose 2+, no protein, no blood".into(),
                None,
                "2026-03-06T08:30:00Z",
                Lab
            ),
        ]
    );
    assert!(
        matches!(case.observations[5].value, ObservationValue::Text(_)),
        "a comparator is not a number"
    );
    let range = case.observations[3].reference_range.as_ref().unwrap();
    assert_eq!((range.low, range.high), (Some(60.0), Some(110.0)));
    assert_eq!(
        case.social_history,
        "Tobacco smoking status: Smokes tobacco daily (2026-03-06)."
    );

    let meds: Vec<_> = case
        .medications
        .iter()
        .map(|m| {
            (
                m.name.as_str(),
                m.dose.as_deref(),
                m.route.as_deref(),
                m.frequency.as_deref(),
                m.instructions.as_deref(),
                m.start.as_ref().map(|t| t.as_str()),
                m.stop.as_ref().map(|t| t.as_str()),
            )
        })
        .collect();
    assert_eq!(
        meds,
        vec![
            (
                "Ramipril 5 mg tablets",
                None,
                Some("oral"),
                None,
                Some("5 mg by mouth once daily"),
                Some("2016-09-12"),
                None
            ),
            (
                "Ibuprofen 400 mg tablets",
                None,
                None,
                None,
                None,
                Some("2026-02-01"),
                Some("2026-02-20")
            ),
            (
                "Metformin 1000 mg tablets",
                Some("1 g"),
                Some("Oral"),
                Some("twice a day"),
                None,
                Some("2014-05-01"),
                None
            ),
            (
                "Naproxen 250 mg tablets",
                None,
                None,
                None,
                Some("recorded as stopped, date not given"),
                Some("2025-06-01"),
                None
            ),
        ]
    );

    assert_eq!(case.allergies.len(), 1);
    assert_eq!(case.allergies[0].substance, "Penicillin");
    assert_eq!(
        case.allergies[0].reaction.as_deref(),
        Some("Urticaria, Wheeze (moderate); high criticality")
    );

    assert_eq!(case.notes.len(), 1);
    assert_eq!(
        case.notes[0].date.as_ref().unwrap().as_str(),
        "2026-03-06T07:55:00Z"
    );
    assert_eq!(
        case.notes[0].text,
        "Emergency department visit (emergency). Reason: Central chest pain."
    );
    assert_eq!(case.reports.len(), 1);
    assert_eq!(case.reports[0].title, "Chest X-ray");
    assert_eq!(case.reports[0].text, "Heart size normal. Lungs clear.");
    assert!(
        case.presenting_complaint.is_empty(),
        "left for the clinician"
    );

    let skipped: Vec<(&str, usize, &str)> = import
        .skipped
        .iter()
        .map(
            |Skipped {
                 resource_type,
                 count,
                 reason,
             }| (resource_type.as_str(), *count, reason.as_str()),
        )
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("Condition", 1, "it is marked refuted"),
            ("Observation", 1, "it has no usable date"),
            ("Observation", 1, "it is marked entered-in-error"),
            (
                "MedicationRequest",
                1,
                "it names no medication (a reference to a Medication resource is not followed)"
            ),
            ("MedicationRequest", 1, "it was cancelled"),
            ("Practitioner", 2, "Locum does not read this resource type"),
            ("Coverage", 1, "Locum does not read this resource type"),
            ("(no resourceType)", 1, "the entry has no resource"),
        ]
    );
    assert!(import.warnings.is_empty(), "{:?}", import.warnings);
    // What was imported passes validation, apart from the missing complaint.
    let warnings = case.validate(today());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn partial_birth_dates_and_infants() {
    let bundle = |birth: &str| {
        format!(
            r#"{{"resourceType": "Bundle", "entry": [{{"resource": {{"resourceType": "Patient", "birthDate": "{birth}"}}}}]}}"#
        )
    };
    let i = import_bundle(&bundle("1958"), today()).unwrap();
    assert_eq!(i.case.demographics.age_years, Some(68.0));
    assert_eq!(i.warnings.len(), 1);
    assert!(i.warnings[0].contains("only as 1958"), "{:?}", i.warnings);

    let infant = import_bundle(&bundle("2025-09-01"), today()).unwrap();
    assert_eq!(infant.case.demographics.age_years, Some(6.0 / 12.0));
    assert!(infant.warnings.is_empty());

    let bad = import_bundle(&bundle("1958-02-30"), today()).unwrap();
    assert_eq!(bad.case.demographics.age_years, None);
    assert!(bad.warnings[0].contains("1958-02-30"), "{:?}", bad.warnings);
}

#[test]
fn malformed_files_are_refused_with_a_sentence() {
    let err = import_bundle(&fixture("not-json.txt"), today()).unwrap_err();
    assert!(matches!(err, Error::NotJson(_)));
    assert!(
        err.to_string().starts_with("This file is not JSON: "),
        "{err}"
    );

    let err = import_bundle(&fixture("not-a-bundle.json"), today()).unwrap_err();
    assert!(matches!(err, Error::NotABundle(_)));
    assert!(
        err.to_string().starts_with(
            "This file is JSON but not a FHIR Bundle: it is a single Patient resource."
        ),
        "{err}"
    );

    let err = import_bundle(&fixture("empty-bundle.json"), today()).unwrap_err();
    assert_eq!(err, Error::EmptyBundle);
    assert_eq!(
        err.to_string(),
        "This FHIR Bundle has no entries, so there is nothing to import."
    );

    for (json, words) in [
        ("[1, 2]", "it is a JSON array"),
        ("{\"entry\": []}", "it has no \"resourceType\""),
        (
            "{\"resourceType\": \"Bundle\", \"entry\": {}}",
            "\"entry\" is not a list",
        ),
    ] {
        let err = import_bundle(json, today()).unwrap_err().to_string();
        assert!(err.contains(words), "{json}: {err}");
    }
    assert_eq!(
        import_bundle("{\"resourceType\": \"Bundle\"}", today()).unwrap_err(),
        Error::EmptyBundle
    );
}

#[test]
fn odd_shapes_are_skipped_not_fatal() {
    // Wrong types everywhere the importer looks: nothing may panic, and
    // every entry is either imported or listed.
    let json = r#"{"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Observation", "code": 5, "valueQuantity": "x"}},
        {"resource": {"resourceType": "Observation", "code": {"text": "Sodium"}, "effectiveDateTime": 2026, "valueQuantity": {"value": "131"}}},
        {"resource": {"resourceType": "Condition", "code": {"coding": "none"}}},
        {"resource": {"resourceType": "Encounter"}},
        {"resource": {"resourceType": "AllergyIntolerance", "code": {"text": "Latex"}, "reaction": "bad"}},
        {"resource": "not an object"},
        {"resource": {"resourceType": "Patient", "birthDate": ["1958"]}},
        {"resource": {"resourceType": "Patient", "gender": "female"}},
        7
    ]}"#;
    let i = import_bundle(json, today()).unwrap();
    assert_eq!(i.case.allergies.len(), 1);
    assert_eq!(i.case.allergies[0].reaction, None);
    let listed: usize = i.skipped.iter().map(|s| s.count).sum();
    assert_eq!(listed, 7, "9 entries, 2 imported: {:#?}", i.skipped);
    assert!(
        i.warnings
            .iter()
            .any(|w| w.contains("more than one Patient")),
        "{:?}",
        i.warnings
    );
}
