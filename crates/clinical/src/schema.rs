//! The differential: what the model must produce, as types and as a JSON Schema.
//!
//! The same bounds appear twice, once in [`json_schema`] (which constrains
//! decoding, so the model cannot produce anything else) and once in
//! [`Differential::validate`] (which checks a value that came from anywhere
//! else: a saved file, an unconstrained model). Both read the constants
//! below, and a test holds them to the same verdicts.
//!
//! Every string and array is bounded so that the output, and so the time
//! spent decoding it, is bounded: at most about 8 × 1 kB of text.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Most characters in the summary.
pub const SUMMARY_MAX_CHARS: usize = 400;
/// Fewest and most diagnoses in a differential.
pub const ITEMS: std::ops::RangeInclusive<usize> = 1..=8;
/// Most characters in a diagnosis name.
pub const DIAGNOSIS_MAX_CHARS: usize = 100;
/// Most findings listed for, or against, one diagnosis.
pub const FINDINGS_MAX_ITEMS: usize = 5;
/// Most next steps for one diagnosis.
pub const NEXT_STEPS_MAX_ITEMS: usize = 4;
/// Most red flags.
pub const RED_FLAGS_MAX_ITEMS: usize = 5;
/// Most characters in one finding, next step or red flag.
pub const LINE_MAX_CHARS: usize = 160;

/// A differential diagnosis for one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Differential {
    /// The case in one or two sentences.
    pub summary: String,
    /// Diagnoses, most likely first; 1 to 8 of them.
    pub differential: Vec<Item>,
    /// Findings that need action now, whatever the diagnosis; may be empty.
    pub red_flags: Vec<String>,
}

/// One diagnosis in the differential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// The diagnosis ("Acute kidney injury, prerenal").
    pub diagnosis: String,
    /// How likely it is, given the case.
    pub likelihood: Likelihood,
    /// Findings in the case that support it.
    pub supporting: Vec<String>,
    /// Findings in the case that speak against it.
    pub against: Vec<String>,
    /// A diagnosis that must be excluded even if unlikely, because missing
    /// it would be dangerous.
    pub cant_miss: bool,
    /// Tests or actions that would confirm or exclude it.
    pub next_steps: Vec<String>,
}

/// How likely a diagnosis is; lowercase in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    /// The leading explanation(s).
    High,
    /// Plausible.
    Moderate,
    /// Possible but not favoured.
    Low,
}

/// The JSON Schema (draft 2020-12) of a [`Differential`], as text with the
/// properties in the order the model should write them (summary first).
///
/// Prefer this to [`json_schema`] when handing the schema to a grammar
/// compiler: `serde_json::Value` objects sort their keys (which would put
/// `differential` before `summary`) unless serde_json's `preserve_order`
/// feature is on. llguidance turns it on, and [`crate::grammar`] relies on
/// that to parse this text; its tests fail if the order is ever lost.
pub fn json_schema_text() -> String {
    let line = format!(r#"{{"type": "string", "minLength": 1, "maxLength": {LINE_MAX_CHARS}}}"#);
    let list = |max: usize| format!(r#"{{"type": "array", "maxItems": {max}, "items": {line}}}"#);
    let item = format!(
        r#"{{
      "type": "object",
      "additionalProperties": false,
      "required": ["diagnosis", "likelihood", "supporting", "against", "cant_miss", "next_steps"],
      "properties": {{
        "diagnosis": {{"type": "string", "minLength": 1, "maxLength": {DIAGNOSIS_MAX_CHARS}}},
        "likelihood": {{"type": "string", "enum": ["high", "moderate", "low"]}},
        "supporting": {findings},
        "against": {findings},
        "cant_miss": {{"type": "boolean"}},
        "next_steps": {next_steps}
      }}
    }}"#,
        findings = list(FINDINGS_MAX_ITEMS),
        next_steps = list(NEXT_STEPS_MAX_ITEMS),
    );
    format!(
        r#"{{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Differential",
  "type": "object",
  "additionalProperties": false,
  "required": ["summary", "differential", "red_flags"],
  "properties": {{
    "summary": {{"type": "string", "minLength": 1, "maxLength": {SUMMARY_MAX_CHARS}}},
    "differential": {{
      "type": "array",
      "minItems": {min_items},
      "maxItems": {max_items},
      "items": {item}
    }},
    "red_flags": {red_flags}
  }}
}}"#,
        min_items = ITEMS.start(),
        max_items = ITEMS.end(),
        red_flags = list(RED_FLAGS_MAX_ITEMS),
    )
}

/// The JSON Schema of a [`Differential`] as a value. Its key order follows
/// serde_json's features (see [`json_schema_text`] for the ordered text).
pub fn json_schema() -> serde_json::Value {
    // The text is built from constants above, not from input, and a test
    // parses it: failure here is a bug in this file.
    serde_json::from_str(&json_schema_text()).expect("the differential schema is valid JSON")
}

impl Differential {
    /// Parses differential JSON and checks it with [`Differential::validate`].
    pub fn from_json(json: &str) -> Result<Differential> {
        let d: Differential = serde_json::from_str(json)
            .map_err(|e| Error::InvalidDifferential(vec![e.to_string()]))?;
        d.validate()?;
        Ok(d)
    }

    /// Checks the bounds [`json_schema`] states, listing every breach.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        text(
            &mut problems,
            "the summary",
            &self.summary,
            SUMMARY_MAX_CHARS,
        );
        let n = self.differential.len();
        if !ITEMS.contains(&n) {
            problems.push(format!(
                "the differential has {n} diagnoses; it must have {} to {}",
                ITEMS.start(),
                ITEMS.end()
            ));
        }
        for (i, item) in self.differential.iter().enumerate() {
            let at = |what: &str| format!("diagnosis {}'s {what}", i + 1);
            text(
                &mut problems,
                &at("name"),
                &item.diagnosis,
                DIAGNOSIS_MAX_CHARS,
            );
            lines(
                &mut problems,
                &at("supporting findings"),
                &item.supporting,
                FINDINGS_MAX_ITEMS,
            );
            lines(
                &mut problems,
                &at("findings against"),
                &item.against,
                FINDINGS_MAX_ITEMS,
            );
            lines(
                &mut problems,
                &at("next steps"),
                &item.next_steps,
                NEXT_STEPS_MAX_ITEMS,
            );
        }
        lines(
            &mut problems,
            "the red flags",
            &self.red_flags,
            RED_FLAGS_MAX_ITEMS,
        );
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidDifferential(problems))
        }
    }
}

/// A non-empty string of at most `max` characters (JSON Schema counts
/// characters, i.e. code points, not bytes).
fn text(problems: &mut Vec<String>, what: &str, s: &str, max: usize) {
    let n = s.chars().count();
    if n == 0 {
        problems.push(format!("{what} is empty"));
    } else if n > max {
        problems.push(format!(
            "{what} is {n} characters long; at most {max} are allowed"
        ));
    }
}

fn lines(problems: &mut Vec<String>, what: &str, list: &[String], max_items: usize) {
    if list.len() > max_items {
        problems.push(format!(
            "{what} have {} entries; at most {max_items} are allowed",
            list.len()
        ));
    }
    for (i, s) in list.iter().enumerate() {
        text(
            problems,
            &format!("{what}, entry {}", i + 1),
            s,
            LINE_MAX_CHARS,
        );
    }
}
