//! Import of a FHIR R4 Bundle (JSON) into a [`Case`].
//!
//! Records exported from an EHR or a patient portal come as a Bundle of
//! resources. This reader is tolerant by design: it walks the JSON as a
//! `serde_json::Value`, takes what it understands from each resource, and
//! lists what it did not take ([`Skipped`]) rather than failing. Only a
//! file that is not JSON, not a Bundle, or an empty Bundle is an error.
//!
//! Read: Patient (age from `birthDate` as of `today`, sex from `gender`),
//! Condition (active → active problems, otherwise past history),
//! Observation (quantities, strings, codeable concepts, components such as
//! systolic/diastolic pressure; vital-signs → vitals, social-history →
//! social history, anything else → laboratory), MedicationStatement and
//! MedicationRequest, AllergyIntolerance, Encounter (→ a note), and
//! DiagnosticReport (its conclusion → a report). References between
//! resources are not followed, codes are not looked up: names come from
//! `text`, else the first coding's `display`, else its `code`.

use serde_json::Value;

use crate::case::{
    Allergy, Case, Medication, Note, Observation, ObservationKind, ObservationValue, Problem,
    ReferenceRange, Report, Sex,
};
use crate::date::{Date, Precision, Timestamp};
use crate::{Error, Result};

/// Entries beyond this many are skipped (and listed), so that a huge
/// export cannot make the prompt builder's work unbounded.
pub const MAX_ENTRIES: usize = 20_000;

/// What an import produced.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirImport {
    /// The case built from the Bundle; `presenting_complaint` is left for
    /// the clinician.
    pub case: Case,
    /// Resources not imported, grouped by type and reason, in order of first
    /// appearance.
    pub skipped: Vec<Skipped>,
    /// Sentences about what was imported but may mislead (a year-only birth
    /// date, a second Patient...).
    pub warnings: Vec<String>,
}

/// Resources of one type left out for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The FHIR `resourceType` ("Practitioner").
    pub resource_type: String,
    /// How many.
    pub count: usize,
    /// Why, as a sentence fragment ("Locum does not read this resource type").
    pub reason: String,
}

/// Reads a FHIR R4 Bundle in JSON; `today` is the date ages are computed at.
pub fn import_bundle(json: &str, today: Date) -> Result<FhirImport> {
    let root: Value = serde_json::from_str(json).map_err(|e| Error::NotJson(e.to_string()))?;
    let Some(obj) = root.as_object() else {
        return Err(Error::NotABundle(format!(
            "it is a JSON {}, not an object",
            kind_of(&root)
        )));
    };
    match obj.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => {}
        Some(other) => {
            return Err(Error::NotABundle(format!(
                "it is a single {other} resource"
            )));
        }
        None => return Err(Error::NotABundle("it has no \"resourceType\"".to_string())),
    }
    let entries = match obj.get("entry") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(Error::NotABundle("its \"entry\" is not a list".to_string())),
    };
    if entries.is_empty() {
        return Err(Error::EmptyBundle);
    }

    let mut import = Importer {
        today,
        out: FhirImport {
            case: Case::default(),
            skipped: Vec::new(),
            warnings: Vec::new(),
        },
        patients: 0,
    };
    for (i, entry) in entries.iter().enumerate() {
        let resource = entry.get("resource");
        let rtype = resource
            .and_then(|r| r.get("resourceType"))
            .and_then(Value::as_str)
            .unwrap_or("(no resourceType)");
        if i >= MAX_ENTRIES {
            import.skip(
                rtype,
                &format!("the Bundle has more than {MAX_ENTRIES} entries"),
            );
            continue;
        }
        match resource {
            Some(r) if r.is_object() => import.resource(rtype, r),
            _ => import.skip(rtype, "the entry has no resource"),
        }
    }
    Ok(import.out)
}

struct Importer {
    today: Date,
    out: FhirImport,
    patients: usize,
}

impl Importer {
    fn skip(&mut self, rtype: &str, reason: &str) {
        match self
            .out
            .skipped
            .iter_mut()
            .find(|s| s.resource_type == rtype && s.reason == reason)
        {
            Some(s) => s.count += 1,
            None => self.out.skipped.push(Skipped {
                resource_type: rtype.to_string(),
                count: 1,
                reason: reason.to_string(),
            }),
        }
    }

    fn warn(&mut self, message: String) {
        if !self.out.warnings.contains(&message) {
            self.out.warnings.push(message);
        }
    }

    fn resource(&mut self, rtype: &str, r: &Value) {
        // Resources recorded in error are not facts about the patient.
        if str_at(r, &["status"]) == Some("entered-in-error")
            || code_at(r, "verificationStatus") == Some("entered-in-error")
        {
            return self.skip(rtype, "it is marked entered-in-error");
        }
        let outcome = match rtype {
            "Patient" => self.patient(r),
            "Condition" => self.condition(r),
            "Observation" => self.observation(r),
            "MedicationStatement" | "MedicationRequest" => self.medication(rtype, r),
            "AllergyIntolerance" => self.allergy(r),
            "Encounter" => self.encounter(r),
            "DiagnosticReport" => self.report(r),
            _ => Err("Locum does not read this resource type".to_string()),
        };
        if let Err(reason) = outcome {
            self.skip(rtype, &reason);
        }
    }

    fn patient(&mut self, r: &Value) -> Result<(), String> {
        self.patients += 1;
        if self.patients > 1 {
            self.warn("The Bundle holds more than one Patient; only the first was read.".into());
            return Err("only the first Patient is read".into());
        }
        let demo = &mut self.out.case.demographics;
        demo.sex = match str_at(r, &["gender"]) {
            Some("female") => Some(Sex::Female),
            Some("male") => Some(Sex::Male),
            Some("other") => Some(Sex::Other),
            Some("unknown") => Some(Sex::Unknown),
            _ => None,
        };
        if let Some(text) = str_at(r, &["birthDate"]) {
            match Timestamp::parse(text) {
                Ok(birth) => {
                    let months = birth.date().completed_months_until(self.today);
                    // Whole years from 2 on; months as a fraction below, where
                    // they matter clinically.
                    demo.age_years = Some(if months >= 24 {
                        f64::from(months / 12)
                    } else {
                        f64::from(months) / 12.0
                    });
                    if birth.precision() < Precision::Day {
                        self.warn(format!(
                            "The birth date is given only as {text}, so the age may be out by up to a year."
                        ));
                    }
                }
                Err(e) => self.warn(format!("The Patient's birth date was not used: {e}")),
            }
        }
        Ok(())
    }

    fn condition(&mut self, r: &Value) -> Result<(), String> {
        if matches!(code_at(r, "verificationStatus"), Some("refuted")) {
            return Err("it is marked refuted".into());
        }
        let name = concept_text(r.get("code")).ok_or("it has no name (code)")?;
        let onset = self.when(r, &["onsetDateTime", "onsetPeriod.start", "recordedDate"]);
        let abated = self.when(r, &["abatementDateTime", "abatementPeriod.end"]);
        let status = code_at(r, "clinicalStatus");
        let problem = Problem {
            name,
            onset,
            note: match (&abated, status) {
                (Some(d), _) => Some(format!("resolved {d}")),
                (None, Some(s @ ("remission" | "resolved" | "inactive"))) => Some(s.to_string()),
                _ => None,
            },
        };
        let active =
            matches!(status, Some("active" | "recurrence" | "relapse")) && abated.is_none();
        if active {
            self.out.case.active_problems.push(problem);
        } else {
            self.out.case.past_medical_history.push(problem);
        }
        Ok(())
    }

    fn observation(&mut self, r: &Value) -> Result<(), String> {
        if matches!(str_at(r, &["status"]), Some("cancelled")) {
            return Err("it was cancelled".into());
        }
        let name = concept_text(r.get("code")).ok_or("it has no name (code)")?;
        let categories: Vec<&str> = list(r.get("category"))
            .iter()
            .flat_map(|c| list(c.get("coding")))
            .filter_map(|c| c.get("code").and_then(Value::as_str))
            .collect();
        let date = self
            .when(
                r,
                &[
                    "effectiveDateTime",
                    "effectiveInstant",
                    "effectivePeriod.start",
                    "issued",
                ],
            )
            .ok_or("it has no usable date")?;

        if categories.contains(&"social-history") {
            let value = value_of(r).map(|(v, u)| with_unit(&v.to_string(), u.as_deref()));
            let line = match value {
                Some(v) => format!("{name}: {v} ({date})."),
                None => return Err("a social-history observation has no value".into()),
            };
            let social = &mut self.out.case.social_history;
            if !social.is_empty() {
                social.push(' ');
            }
            social.push_str(&line);
            return Ok(());
        }

        let kind = if categories.contains(&"vital-signs") {
            ObservationKind::Vital
        } else {
            ObservationKind::Lab
        };
        let range = reference_range(r);
        let mut added = 0;
        if let Some((value, unit)) = value_of(r) {
            self.out.case.observations.push(Observation {
                name: name.clone(),
                value,
                unit,
                date: date.clone(),
                reference_range: range,
                kind,
            });
            added += 1;
        }
        // Blood pressure and other panels carry their values in components.
        for comp in list(r.get("component")) {
            let (Some(cname), Some((value, unit))) =
                (concept_text(comp.get("code")), value_of(comp))
            else {
                continue;
            };
            self.out.case.observations.push(Observation {
                name: cname,
                value,
                unit,
                date: date.clone(),
                reference_range: reference_range(comp),
                kind,
            });
            added += 1;
        }
        if added == 0 {
            return Err(if r.get("dataAbsentReason").is_some() {
                "it records why the value is absent, not a value".into()
            } else {
                "it has no value (a panel whose results are separate resources, or empty)".into()
            });
        }
        Ok(())
    }

    fn medication(&mut self, rtype: &str, r: &Value) -> Result<(), String> {
        let name = concept_text(r.get("medicationCodeableConcept"))
            .or_else(|| concept_text(r.pointer("/medication/concept")))
            .or_else(|| str_at(r, &["medicationReference", "display"]).map(str::to_string))
            .ok_or(
                "it names no medication (a reference to a Medication resource is not followed)",
            )?;
        let status = str_at(r, &["status"]);
        match status {
            Some("not-taken") => return Err("it records a medication not taken".into()),
            Some("cancelled") => return Err("it was cancelled".into()),
            Some("draft") => return Err("it is a draft".into()),
            _ => {}
        }
        let request = rtype == "MedicationRequest";
        let dosage = list(r.get(if request {
            "dosageInstruction"
        } else {
            "dosage"
        }))
        .first()
        .copied();
        let dose = dosage
            .and_then(|d| list(d.get("doseAndRate")).first().copied())
            .and_then(|d| d.get("doseQuantity"))
            .and_then(quantity);
        let start = self.when(
            r,
            &["effectivePeriod.start", "effectiveDateTime", "authoredOn"],
        );
        // A statement's period ends when the drug was stopped; a request
        // (or a statement without a period) may bound its dosage instead.
        let mut stop = self.when(r, &["effectivePeriod.end"]);
        if stop.is_none() {
            if let Some(d) = dosage {
                stop = self.when(d, &["timing.repeat.boundsPeriod.end"]);
            }
        }
        let mut instructions = dosage
            .and_then(|d| str_at(d, &["text"]))
            .map(str::to_string);
        if let (Some(s @ ("stopped" | "completed")), None) = (status, &stop) {
            // Stopped with no date: say so rather than list it as current.
            let note = format!("recorded as {s}, date not given");
            instructions = Some(match instructions {
                Some(i) => format!("{i}; {note}"),
                None => note,
            });
        }
        self.out.case.medications.push(Medication {
            name,
            dose: dose.map(|(v, u)| with_unit(&v.to_string(), u.as_deref())),
            route: dosage.and_then(|d| concept_text(d.get("route"))),
            frequency: dosage.and_then(|d| d.get("timing")).and_then(timing_text),
            instructions,
            start,
            stop,
        });
        Ok(())
    }

    fn allergy(&mut self, r: &Value) -> Result<(), String> {
        if matches!(code_at(r, "verificationStatus"), Some("refuted")) {
            return Err("it is marked refuted".into());
        }
        let substance = concept_text(r.get("code")).ok_or("it names no substance (code)")?;
        let mut reactions = Vec::new();
        for reaction in list(r.get("reaction")) {
            let manifest: Vec<String> = list(reaction.get("manifestation"))
                .into_iter()
                // R4 lists CodeableConcepts; R5 wraps each in `concept`.
                .filter_map(|m| concept_text(Some(m)).or_else(|| concept_text(m.get("concept"))))
                .collect();
            if manifest.is_empty() {
                continue;
            }
            let mut text = manifest.join(", ");
            if let Some(sev) = str_at(reaction, &["severity"]) {
                text.push_str(&format!(" ({sev})"));
            }
            reactions.push(text);
        }
        let criticality = str_at(r, &["criticality"]).filter(|c| *c == "high");
        if criticality.is_some() {
            reactions.push("high criticality".into());
        }
        self.out.case.allergies.push(Allergy {
            substance,
            reaction: (!reactions.is_empty()).then(|| reactions.join("; ")),
        });
        Ok(())
    }

    fn encounter(&mut self, r: &Value) -> Result<(), String> {
        let class = str_at(r, &["class", "display"])
            .or_else(|| str_at(r, &["class", "code"]))
            .map(str::to_string)
            .or_else(|| {
                list(r.get("class"))
                    .first()
                    .and_then(|c| concept_text(Some(c)))
            });
        let kind = list(r.get("type"))
            .first()
            .and_then(|t| concept_text(Some(t)));
        let reasons: Vec<String> = list(r.get("reasonCode"))
            .into_iter()
            .filter_map(|c| concept_text(Some(c)))
            .chain(list(r.get("reason")).into_iter().flat_map(|x| {
                list(x.get("value"))
                    .into_iter()
                    .filter_map(|v| concept_text(v.get("concept")))
            }))
            .collect();
        let start = self.when(r, &["period.start", "actualPeriod.start"]);
        let end = self.when(r, &["period.end", "actualPeriod.end"]);
        let mut text = match (kind, class) {
            (Some(k), Some(c)) => format!("{k} ({c})."),
            (Some(k), None) => format!("{k}."),
            (None, Some(c)) => format!("Encounter ({c})."),
            (None, None) => "Encounter.".to_string(),
        };
        if let Some(e) = &end {
            text.push_str(&format!(" Ended {e}."));
        }
        if !reasons.is_empty() {
            text.push_str(&format!(" Reason: {}.", reasons.join("; ")));
        }
        if start.is_none() && reasons.is_empty() {
            return Err("it has neither a date nor a reason".into());
        }
        self.out.case.notes.push(Note {
            title: Some("Encounter".into()),
            date: start,
            text,
        });
        Ok(())
    }

    fn report(&mut self, r: &Value) -> Result<(), String> {
        let title = concept_text(r.get("code")).unwrap_or_else(|| "Report".into());
        let conclusion = str_at(r, &["conclusion"])
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let codes: Vec<String> = list(r.get("conclusionCode"))
            .into_iter()
            .filter_map(|c| concept_text(Some(c)))
            .collect();
        let text = match (conclusion, codes.is_empty()) {
            (Some(c), _) => c.to_string(),
            (None, false) => codes.join("; "),
            (None, true) => {
                return Err("it has no conclusion (attached documents are not read)".into())
            }
        };
        let date = self.when(r, &["effectiveDateTime", "effectivePeriod.start", "issued"]);
        self.out.case.reports.push(Report { title, date, text });
        Ok(())
    }

    /// The first of `paths` (dotted) that holds a valid date; an invalid one
    /// is reported and the next path tried.
    fn when(&mut self, r: &Value, paths: &[&str]) -> Option<Timestamp> {
        for path in paths {
            let segments: Vec<&str> = path.split('.').collect();
            let Some(text) = str_at(r, &segments) else {
                continue;
            };
            match Timestamp::parse(text) {
                Ok(t) => return Some(t),
                Err(e) => self.warn(format!("A date was ignored: {e}")),
            }
        }
        None
    }
}

/// The string at a path of object keys.
fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

/// The first coding's code of a CodeableConcept field (`clinicalStatus`...).
fn code_at<'a>(r: &'a Value, field: &str) -> Option<&'a str> {
    list(r.get(field)?.get("coding"))
        .first()?
        .get("code")?
        .as_str()
}

/// The elements of a JSON array; nothing for anything else.
fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    }
}

/// A CodeableConcept's name: `text`, else the first coding with a display,
/// else the first code.
fn concept_text(v: Option<&Value>) -> Option<String> {
    let v = v?;
    let text = str_at(v, &["text"])
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let codings = list(v.get("coding"));
    let display = || {
        codings.iter().find_map(|c| {
            str_at(c, &["display"])
                .map(str::trim)
                .filter(|d| !d.is_empty())
        })
    };
    let code = || codings.iter().find_map(|c| str_at(c, &["code"]));
    text.or_else(display).or_else(code).map(str::to_string)
}

/// A Quantity's value as written (with its comparator, "<5", if any) and
/// its unit (`unit`, else the UCUM `code`).
fn quantity(q: &Value) -> Option<(ObservationValue, Option<String>)> {
    let number = q.get("value")?;
    let value = number.as_f64()?;
    let unit = str_at(q, &["unit"])
        .or_else(|| str_at(q, &["code"]))
        .map(str::to_string);
    let value = match str_at(q, &["comparator"]) {
        // "<5 ng/L" is not 5: keep it as text so no one reads it as a number.
        Some(cmp) => ObservationValue::Text(format!("{cmp}{number}")),
        None => ObservationValue::Number(value),
    };
    Some((value, unit))
}

/// An Observation's (or component's) value and unit.
fn value_of(r: &Value) -> Option<(ObservationValue, Option<String>)> {
    if let Some(q) = r.get("valueQuantity") {
        return quantity(q);
    }
    if let Some(s) = str_at(r, &["valueString"]) {
        return Some((ObservationValue::Text(s.to_string()), None));
    }
    if let Some(c) = concept_text(r.get("valueCodeableConcept")) {
        return Some((ObservationValue::Text(c), None));
    }
    if let Some(b) = r.get("valueBoolean").and_then(Value::as_bool) {
        return Some((
            ObservationValue::Text(if b { "yes" } else { "no" }.into()),
            None,
        ));
    }
    if let Some(n) = r.get("valueInteger").and_then(Value::as_f64) {
        return Some((ObservationValue::Number(n), None));
    }
    None
}

fn reference_range(r: &Value) -> Option<ReferenceRange> {
    let rr = list(r.get("referenceRange")).first().copied()?;
    let range = ReferenceRange {
        low: rr
            .get("low")
            .and_then(|q| q.get("value"))
            .and_then(Value::as_f64),
        high: rr
            .get("high")
            .and_then(|q| q.get("value"))
            .and_then(Value::as_f64),
        text: str_at(rr, &["text"]).map(str::to_string),
    };
    (range != ReferenceRange::default()).then_some(range)
}

/// A Timing in words: its code's text, or "2 times per 1 d" spelled out.
fn timing_text(t: &Value) -> Option<String> {
    if let Some(code) = concept_text(t.get("code")) {
        return Some(code);
    }
    let rep = t.get("repeat")?;
    let freq = rep.get("frequency").and_then(Value::as_u64).unwrap_or(1);
    let period = rep.get("period").and_then(Value::as_f64)?;
    let unit = match str_at(rep, &["periodUnit"])? {
        "s" => "second",
        "min" => "minute",
        "h" => "hour",
        "d" => "day",
        "wk" => "week",
        "mo" => "month",
        "a" => "year",
        _ => return None,
    };
    let times = match freq {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
    };
    Some(if period == 1.0 {
        format!("{times} a {unit}")
    } else {
        format!("{times} every {period} {unit}s")
    })
}

fn with_unit(value: &str, unit: Option<&str>) -> String {
    match unit {
        Some(u) if !u.trim().is_empty() => format!("{value} {}", u.trim()),
        _ => value.to_string(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
