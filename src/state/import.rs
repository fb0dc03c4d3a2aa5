//! Reading a file the clinician chose: a FHIR R4 Bundle or a case in
//! Locum's JSON format. The file is read in this tab and never uploaded;
//! what cannot be read is said in a sentence and changes nothing.

use locum_clinical::{import_bundle, Case, Date};

/// Files larger than this are refused before they are parsed: a single
/// patient's record is far smaller, and a tab should not stall on a
/// whole-population export.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// What a file gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub case: Case,
    /// What the file was, in words ("FHIR Bundle").
    pub kind: &'static str,
    /// What was left out, one sentence each.
    pub skipped: Vec<String>,
    /// What was imported but may mislead.
    pub warnings: Vec<String>,
}

impl Imported {
    /// What came in, counted ("2 conditions, 14 results, 3 medications").
    pub fn summary(&self) -> String {
        let c = &self.case;
        let mut parts = Vec::new();
        let mut count = |n: usize, one: &str, many: &str| {
            if n > 0 {
                parts.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        };
        count(
            usize::from(c.demographics.age_years.is_some() || c.demographics.sex.is_some()),
            "patient",
            "patients",
        );
        count(
            c.active_problems.len() + c.past_medical_history.len(),
            "condition",
            "conditions",
        );
        count(c.observations.len(), "result", "results");
        count(c.medications.len(), "medication", "medications");
        count(c.allergies.len(), "allergy", "allergies");
        count(c.reports.len(), "report", "reports");
        count(c.notes.len(), "note", "notes");
        let free = [
            &c.presenting_complaint,
            &c.history_of_present_illness,
            &c.social_history,
            &c.family_history,
            &c.examination,
        ]
        .iter()
        .filter(|t| !t.trim().is_empty())
        .count();
        count(free, "text field", "text fields");
        if parts.is_empty() {
            "nothing Locum can use".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// Reads `text`, the content of a file named `name`, as of `today`.
pub fn read_file(name: &str, text: &str, today: Date) -> Result<Imported, String> {
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(format!("{name} is empty: there is nothing to import."));
    }
    let value: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| {
        format!(
            "{name} is not JSON ({e}), so nothing was imported. Locum reads a FHIR R4 Bundle \
             or a case saved in its own JSON format."
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err(format!(
            "{name} is JSON but not an object, so nothing was imported. Locum reads a FHIR R4 \
             Bundle or a case saved in its own JSON format."
        ));
    };
    if object.contains_key("resourceType") {
        let import = import_bundle(trimmed, today).map_err(|e| format!("{name}: {e}"))?;
        return Ok(Imported {
            case: import.case,
            kind: "FHIR Bundle",
            skipped: import
                .skipped
                .iter()
                .map(|s| format!("{} {}: {}.", s.count, s.resource_type, s.reason))
                .collect(),
            warnings: import.warnings,
        });
    }
    let case = Case::from_json(trimmed).map_err(|e| format!("{name}: {e}"))?;
    Ok(Imported {
        case,
        kind: "Locum case",
        skipped: Vec::new(),
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLE: &str = include_str!("../../crates/clinical/tests/data/bundle.json");
    const NOT_A_BUNDLE: &str = include_str!("../../crates/clinical/tests/data/not-a-bundle.json");

    fn today() -> Date {
        Date::new(2026, 3, 6).unwrap()
    }

    #[test]
    fn a_bundle_fills_a_case_and_lists_what_it_skipped() {
        let got = read_file("bundle.json", BUNDLE, today()).unwrap();
        assert_eq!(got.kind, "FHIR Bundle");
        assert!(!got.case.observations.is_empty());
        assert!(got.summary().contains("results"), "{}", got.summary());
        for s in &got.skipped {
            assert!(s.ends_with('.'), "{s}");
        }
    }

    /// The browser test's bundle: what it imports, skips and flags.
    #[test]
    fn the_browser_tests_bundle_imports_as_they_expect() {
        let text = include_str!("../../tests/e2e/data/fhir-bundle.json");
        let got = read_file("fhir-bundle.json", text, today()).unwrap();
        let c = &got.case;
        assert_eq!(c.demographics.age_years, Some(65.0));
        assert_eq!(c.active_problems.len(), 1);
        let creatinine = c
            .observations
            .iter()
            .filter(|o| o.name == "Creatinine")
            .count();
        assert_eq!(creatinine, 3);
        assert_eq!(c.medications.len(), 1);
        assert_eq!(c.allergies.len(), 1);
        let skipped = got.skipped.join(" ");
        assert!(
            skipped.contains("Procedure") && skipped.contains("Practitioner"),
            "{skipped}"
        );
        let flags: Vec<_> = c.validate(today()).into_iter().map(|w| w.message).collect();
        assert!(flags.iter().any(|f| f.contains("900")), "{flags:?}");
        assert!(flags.iter().any(|f| f.contains("2099")), "{flags:?}");
    }

    #[test]
    fn a_locum_case_is_read_as_it_is() {
        let (_, _, case) = locum_clinical::examples::examples().remove(0);
        let json = serde_json::to_string(&case).unwrap();
        let got = read_file("case.json", &format!("\u{feff}{json}\n"), today()).unwrap();
        assert_eq!(got.kind, "Locum case");
        assert_eq!(got.case, case);
    }

    #[test]
    fn bad_files_get_a_sentence_naming_the_file() {
        for (text, expect) in [
            ("", "is empty"),
            ("not json at all", "is not JSON"),
            ("[1, 2]", "not an object"),
            (NOT_A_BUNDLE, "not a FHIR Bundle"),
            (r#"{"resourceType": "Bundle", "entry": []}"#, "no entries"),
            (
                r#"{"presenting_complaint": "x", "colour": "red"}"#,
                "could not be read",
            ),
        ] {
            let err = read_file("upload.json", text, today()).unwrap_err();
            assert!(err.contains("upload.json"), "{err}");
            assert!(err.contains(expect), "{text}: {err}");
        }
    }
}
