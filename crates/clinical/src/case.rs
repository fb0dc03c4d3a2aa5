//! The case: everything a clinician tells Locum about one patient.
//!
//! A [`Case`] is what the form fills in, what a FHIR import produces, and
//! what the prompt is built from. It serializes to a plain JSON format
//! (snake_case fields, empty ones left out, unknown ones refused so a typo
//! is an error, not a silently ignored field); the files in
//! `examples-data/` are examples of it.
//!
//! Values are kept as entered. [`Case::validate`] says which are implausible
//! (a heart rate of 900) or inconsistent (dated in the future), and the
//! prompt marks those values as flagged rather than trusting or hiding them.
//! It is not a clinical record system: there are no identifiers, no
//! provenance, no coding systems.

use serde::{Deserialize, Serialize};

use crate::date::{Date, Timestamp};
use crate::plausibility::{self, Verdict};
use crate::{Error, Result};

/// One patient's case. Every field may be empty; the presenting complaint
/// is the one the prompt cannot do without.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Age and sex.
    #[serde(default, skip_serializing_if = "Demographics::is_empty")]
    pub demographics: Demographics,
    /// Why the patient is here, in a phrase or two ("central chest pain for 2 hours").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub presenting_complaint: String,
    /// The story of the present illness, free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub history_of_present_illness: String,
    /// Current problems (FHIR: active conditions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_problems: Vec<Problem>,
    /// Past medical history (FHIR: resolved or inactive conditions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past_medical_history: Vec<Problem>,
    /// Medications, current and stopped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub medications: Vec<Medication>,
    /// Allergies and intolerances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allergies: Vec<Allergy>,
    /// Social history, free text (smoking, alcohol, living situation, travel...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub social_history: String,
    /// Family history, free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family_history: String,
    /// Examination findings, free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub examination: String,
    /// Vital signs and laboratory results, each with its date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observations: Vec<Observation>,
    /// Imaging and other reports (ECG, endoscopy...), free text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<Report>,
    /// Free-text notes: a pasted letter, an encounter summary, anything else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

/// Age and sex, both optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demographics {
    /// Age in years; fractions for infants (0.5 is six months).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_years: Option<f64>,
    /// Sex as recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
}

impl Demographics {
    fn is_empty(&self) -> bool {
        self.age_years.is_none() && self.sex.is_none()
    }
}

/// Sex as recorded (FHIR `administrative-gender`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Recorded as unknown.
    Unknown,
}

/// A condition, current or past.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// What it is ("Type 2 diabetes mellitus").
    pub name: String,
    /// When it started, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<Timestamp>,
    /// Anything else worth saying ("resolved 2019", "diet-controlled").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A medication, as prescribed or as taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Medication {
    /// Drug name ("Ramipril").
    pub name: String,
    /// Dose ("10 mg").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose: Option<String>,
    /// Route ("oral").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Frequency ("once daily").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<String>,
    /// Free-text dosage as written, when it is not split into dose, route
    /// and frequency (FHIR `Dosage.text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// When it was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    /// When it was stopped (or is planned to stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Timestamp>,
}

impl Medication {
    /// True if the medication was stopped before `today`.
    pub fn stopped_before(&self, today: Date) -> bool {
        self.stop.as_ref().is_some_and(|s| s.date() < today)
    }
}

/// An allergy or intolerance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allergy {
    /// What the patient reacts to ("Penicillin").
    pub substance: String,
    /// The reaction ("urticaria", "anaphylaxis").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
}

/// A vital sign or a laboratory result at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// What was measured ("Creatinine", "Heart rate").
    pub name: String,
    /// The result: a number, or text ("2+", "positive").
    pub value: ObservationValue,
    /// The unit as charted ("µmol/L", "/min"), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// When it was measured (ISO 8601 date or date-time).
    pub date: Timestamp,
    /// The laboratory's reference range, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_range: Option<ReferenceRange>,
    /// Vital sign or laboratory result.
    pub kind: ObservationKind,
}

/// A result value: a number or text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ObservationValue {
    /// A numeric result, in the observation's unit.
    Number(f64),
    /// A textual result ("2+", "negative", "not detected").
    Text(String),
}

impl std::fmt::Display for ObservationValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObservationValue::Number(n) => write!(f, "{n}"),
            ObservationValue::Text(t) => f.write_str(t),
        }
    }
}

/// Vital sign or laboratory result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObservationKind {
    /// Heart rate, blood pressure, temperature, weight...
    Vital,
    /// A laboratory or point-of-care test.
    Lab,
}

/// A reference range: numeric bounds, text, or both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceRange {
    /// Lower bound, in the observation's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    /// Upper bound, in the observation's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// The range in words ("<14 ng/L (99th centile)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl std::fmt::Display for ReferenceRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.low, self.high, &self.text) {
            (Some(l), Some(h), _) => write!(f, "{l}–{h}"),
            (Some(l), None, _) => write!(f, "≥ {l}"),
            (None, Some(h), _) => write!(f, "≤ {h}"),
            (None, None, Some(t)) => f.write_str(t),
            (None, None, None) => Ok(()),
        }
    }
}

/// An imaging or other report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// What it is ("Chest X-ray", "ECG").
    pub title: String,
    /// When it was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Timestamp>,
    /// The report or its conclusion.
    pub text: String,
}

/// A free-text note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// A heading ("GP letter", "Encounter"), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// When it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Timestamp>,
    /// The note itself.
    pub text: String,
}

/// Something in a case that should not be trusted as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// What it is about.
    pub target: WarningTarget,
    /// What kind of problem.
    pub kind: WarningKind,
    /// A sentence for the clinician.
    pub message: String,
}

/// The part of a case a [`Warning`] is about; indices are into the case's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", content = "index", rename_all = "snake_case")]
pub enum WarningTarget {
    /// `demographics.age_years`.
    Age,
    /// `presenting_complaint`.
    PresentingComplaint,
    /// `active_problems[i]`.
    ActiveProblem(usize),
    /// `past_medical_history[i]`.
    PastProblem(usize),
    /// `medications[i]`.
    Medication(usize),
    /// `observations[i]`.
    Observation(usize),
    /// `reports[i]`.
    Report(usize),
    /// `notes[i]`.
    Note(usize),
}

/// The kinds of problem [`Case::validate`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// Outside what a living patient can show: most likely an entry error.
    Implausible,
    /// Dated after `today`.
    FutureDate,
    /// Contradicts another part of the case (stopped before it started).
    Inconsistent,
    /// Something the prompt needs is empty.
    Missing,
}

impl WarningKind {
    /// The words a prompt puts beside a flagged value.
    pub fn flag(self) -> &'static str {
        match self {
            WarningKind::Implausible => "implausible",
            WarningKind::FutureDate => "dated in the future",
            WarningKind::Inconsistent => "inconsistent",
            WarningKind::Missing => "missing",
        }
    }
}

/// The oldest age the validator accepts without a flag, in years.
const MAX_AGE_YEARS: f64 = 125.0;

impl Case {
    /// Reads a case from Locum's JSON format.
    pub fn from_json(json: &str) -> Result<Case> {
        serde_json::from_str(json).map_err(|e| Error::CaseJson(e.to_string()))
    }

    /// A case that is only a pasted text: everything goes into one note.
    pub fn from_plain_text(text: &str) -> Case {
        let text = text.trim();
        Case {
            notes: if text.is_empty() {
                Vec::new()
            } else {
                vec![Note {
                    title: None,
                    date: None,
                    text: text.to_string(),
                }]
            },
            ..Case::default()
        }
    }

    /// The same case with every date moved by `days` (a demo case set on
    /// one day, replayed on another).
    pub fn shifted_by_days(&self, days: i64) -> Case {
        let shift = |t: &mut Option<Timestamp>| {
            if let Some(ts) = t {
                *ts = ts.shifted(days);
            }
        };
        let mut case = self.clone();
        for p in case
            .active_problems
            .iter_mut()
            .chain(&mut case.past_medical_history)
        {
            shift(&mut p.onset);
        }
        for m in &mut case.medications {
            shift(&mut m.start);
            shift(&mut m.stop);
        }
        for o in &mut case.observations {
            o.date = o.date.shifted(days);
        }
        for r in &mut case.reports {
            shift(&mut r.date);
        }
        for n in &mut case.notes {
            shift(&mut n.date);
        }
        case
    }

    /// Everything that should not be used as it stands, in case order.
    ///
    /// `today` is the date the case is seen on; anything dated after it is
    /// flagged (a medication's planned stop date excepted). See
    /// [`plausibility`] for which values count as implausible.
    pub fn validate(&self, today: Date) -> Vec<Warning> {
        let mut out = Vec::new();
        let mut warn = |target, kind, message: String| {
            out.push(Warning {
                target,
                kind,
                message,
            })
        };
        let future = |t: &Timestamp| t.is_after(today);

        if let Some(age) = self.demographics.age_years {
            if !(0.0..=MAX_AGE_YEARS).contains(&age) {
                warn(
                    WarningTarget::Age,
                    WarningKind::Implausible,
                    format!(
                        "The age ({age} years) is not possible; check it was entered correctly."
                    ),
                );
            }
        }
        if self.presenting_complaint.trim().is_empty() {
            warn(
                WarningTarget::PresentingComplaint,
                WarningKind::Missing,
                "There is no presenting complaint; the differential will be less focused.".into(),
            );
        }
        for (list, target) in [
            (
                &self.active_problems,
                WarningTarget::ActiveProblem as fn(usize) -> WarningTarget,
            ),
            (&self.past_medical_history, WarningTarget::PastProblem),
        ] {
            for (i, p) in list.iter().enumerate() {
                if let Some(onset) = p.onset.as_ref().filter(|t| future(t)) {
                    warn(
                        target(i),
                        WarningKind::FutureDate,
                        format!(
                            "{}: the onset date {onset} is after today ({today}).",
                            p.name
                        ),
                    );
                }
            }
        }
        for (i, m) in self.medications.iter().enumerate() {
            let target = WarningTarget::Medication(i);
            if let Some(start) = m.start.as_ref().filter(|t| future(t)) {
                warn(
                    target,
                    WarningKind::FutureDate,
                    format!(
                        "{}: the start date {start} is after today ({today}).",
                        m.name
                    ),
                );
            }
            if let (Some(start), Some(stop)) = (&m.start, &m.stop) {
                if stop < start {
                    warn(
                        target,
                        WarningKind::Inconsistent,
                        format!(
                            "{}: stopped ({stop}) before it was started ({start}).",
                            m.name
                        ),
                    );
                }
            }
        }
        for (i, o) in self.observations.iter().enumerate() {
            let target = WarningTarget::Observation(i);
            let unit = o.unit.as_deref();
            if let ObservationValue::Number(v) = o.value {
                if let Verdict::Implausible { expected } = plausibility::check(&o.name, unit, v) {
                    let shown = match unit {
                        Some(u) => format!("{v} {u}"),
                        None => format!("{v} (no unit)"),
                    };
                    warn(
                        target,
                        WarningKind::Implausible,
                        format!(
                            "{} of {shown} on {} is outside the plausible range ({expected}); check it was entered correctly.",
                            o.name, o.date
                        ),
                    );
                }
            }
            if future(&o.date) {
                warn(
                    target,
                    WarningKind::FutureDate,
                    format!("{} is dated {}, after today ({today}).", o.name, o.date),
                );
            }
            if let Some(ReferenceRange {
                low: Some(l),
                high: Some(h),
                ..
            }) = o.reference_range
            {
                if l > h {
                    warn(
                        target,
                        WarningKind::Inconsistent,
                        format!("{}: the reference range's low bound ({l}) is above its high bound ({h}).", o.name),
                    );
                }
            }
        }
        for (i, r) in self.reports.iter().enumerate() {
            if let Some(d) = r.date.as_ref().filter(|t| future(t)) {
                warn(
                    WarningTarget::Report(i),
                    WarningKind::FutureDate,
                    format!(
                        "The report \u{201c}{}\u{201d} is dated {d}, after today ({today}).",
                        r.title
                    ),
                );
            }
        }
        for (i, n) in self.notes.iter().enumerate() {
            if let Some(d) = n.date.as_ref().filter(|t| future(t)) {
                warn(
                    WarningTarget::Note(i),
                    WarningKind::FutureDate,
                    format!("A note is dated {d}, after today ({today})."),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(name: &str, value: f64, unit: &str, date: &str) -> Observation {
        Observation {
            name: name.into(),
            value: ObservationValue::Number(value),
            unit: Some(unit.into()),
            date: Timestamp::parse(date).unwrap(),
            reference_range: None,
            kind: ObservationKind::Vital,
        }
    }

    fn today() -> Date {
        Date::parse("2026-03-06").unwrap()
    }

    #[test]
    fn validate_flags_absurd_values_and_future_dates() {
        let case = Case {
            demographics: Demographics {
                age_years: Some(-3.0),
                sex: None,
            },
            presenting_complaint: "Palpitations".into(),
            medications: vec![Medication {
                name: "Bisoprolol".into(),
                start: Some(Timestamp::parse("2026-02-01").unwrap()),
                stop: Some(Timestamp::parse("2026-01-01").unwrap()),
                ..Medication::default()
            }],
            observations: vec![
                obs("Heart rate", 900.0, "/min", "2026-03-05"),
                obs("Heart rate", 88.0, "/min", "2026-03-06T09:00"),
                obs("SpO2", 101.0, "%", "2026-03-06"),
                obs("Temperature", 46.0, "°C", "2026-03-06"),
                obs("Temperature", 37.2, "°C", "2026-03-07"),
                obs("Weight", -70.0, "kg", "2026-03-06"),
            ],
            ..Case::default()
        };
        let w = case.validate(today());
        let got: Vec<(WarningTarget, WarningKind)> = w.iter().map(|w| (w.target, w.kind)).collect();
        use WarningKind as K;
        use WarningTarget as T;
        assert_eq!(
            got,
            vec![
                (T::Age, K::Implausible),
                (T::Medication(0), K::Inconsistent),
                (T::Observation(0), K::Implausible),
                (T::Observation(2), K::Implausible),
                (T::Observation(3), K::Implausible),
                (T::Observation(4), K::FutureDate),
                (T::Observation(5), K::Implausible),
            ]
        );
        assert!(w[2].message.contains("900 /min"), "{}", w[2].message);
        assert!(w[2].message.contains("15–300 /min"), "{}", w[2].message);
    }

    #[test]
    fn plain_text_goes_into_one_note() {
        let c = Case::from_plain_text("  58M, 3 days of cough.\nSpO2 91% on air.  ");
        assert_eq!(c.notes.len(), 1);
        assert_eq!(c.notes[0].text, "58M, 3 days of cough.\nSpO2 91% on air.");
        assert!(Case::from_plain_text(" \n ").notes.is_empty());
        let w = c.validate(today());
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, WarningKind::Missing);
    }

    #[test]
    fn json_refuses_unknown_fields_and_bad_dates() {
        let err =
            Case::from_json(r#"{"presenting_complaint": "x", "medication": []}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `medication`"),
            "{err}"
        );
        let err = Case::from_json(
            r#"{"observations": [{"name": "Na", "value": 131, "unit": "mmol/L", "date": "2026-02-30", "kind": "lab"}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("2026-02-30"), "{err}");
        let ok = Case::from_json(
            r#"{"observations": [{"name": "Urine protein", "value": "2+", "date": "2026-02-28", "kind": "lab"}]}"#,
        )
        .unwrap();
        assert_eq!(
            ok.observations[0].value,
            ObservationValue::Text("2+".into())
        );
    }
}
