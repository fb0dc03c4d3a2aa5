//! The differential's JSON Schema and `Differential::validate` must give
//! the same verdicts. A small validator for the subset of JSON Schema the
//! schema uses (type, enum, required, properties, additionalProperties,
//! items, min/maxItems, min/maxLength) checks values against the schema
//! document itself, so a bound changed in one place and not the other fails.

use locum_clinical::schema::{self, json_schema, json_schema_text};
use locum_clinical::{Differential, Item, Likelihood};
use serde_json::{json, Value};

/// Returns the first violation, with its JSON path.
fn check(schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    let s = schema
        .as_object()
        .ok_or(format!("{path}: schema is not an object"))?;
    for key in s.keys() {
        let known = [
            "$schema",
            "title",
            "type",
            "enum",
            "required",
            "properties",
            "additionalProperties",
            "items",
            "minItems",
            "maxItems",
            "minLength",
            "maxLength",
        ];
        assert!(
            known.contains(&key.as_str()),
            "the test validator does not know {key:?}"
        );
    }
    let fail = |why: String| Err(format!("{path}: {why}"));
    let ty = s.get("type").and_then(Value::as_str).unwrap_or("any");
    let type_ok = match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        other => panic!("type {other} not supported by the test validator"),
    };
    if !type_ok {
        return fail(format!("not a {ty}"));
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            return fail(format!("{v} not in {options:?}"));
        }
    }
    let bound = |k: &str| s.get(k).and_then(Value::as_u64).map(|n| n as usize);
    if let Some(text) = v.as_str() {
        let n = text.chars().count();
        if bound("minLength").is_some_and(|m| n < m) || bound("maxLength").is_some_and(|m| n > m) {
            return fail(format!("length {n}"));
        }
    }
    if let Some(list) = v.as_array() {
        let n = list.len();
        if bound("minItems").is_some_and(|m| n < m) || bound("maxItems").is_some_and(|m| n > m) {
            return fail(format!("{n} items"));
        }
        let items = s.get("items").expect("arrays declare items");
        for (i, x) in list.iter().enumerate() {
            check(items, x, &format!("{path}[{i}]"))?;
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s["properties"]
            .as_object()
            .expect("objects declare properties");
        for r in s["required"].as_array().expect("objects declare required") {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                return fail(format!("missing {r}"));
            }
        }
        assert_eq!(s["additionalProperties"], json!(false));
        for (k, x) in obj {
            match props.get(k) {
                Some(p) => check(p, x, &format!("{path}.{k}"))?,
                None => return fail(format!("unexpected {k}")),
            }
        }
    }
    Ok(())
}

fn item(diagnosis: &str) -> Item {
    Item {
        diagnosis: diagnosis.into(),
        likelihood: Likelihood::Moderate,
        supporting: vec!["fever".into()],
        against: vec![],
        cant_miss: false,
        next_steps: vec!["blood cultures".into()],
    }
}

fn base() -> Differential {
    Differential {
        summary: "A 24-year-old with fever and neck stiffness.".into(),
        differential: vec![item("Bacterial meningitis"), item("Viral meningitis")],
        red_flags: vec!["Non-blanching rash".into()],
    }
}

#[test]
fn schema_document_is_draft_2020_12_and_ordered() {
    let text = json_schema_text();
    let v = json_schema();
    assert_eq!(v, serde_json::from_str::<Value>(&text).unwrap());
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(v["additionalProperties"], false);
    assert_eq!(
        v["required"],
        json!(["summary", "differential", "red_flags"])
    );
    let item = &v["properties"]["differential"]["items"];
    assert_eq!(item["additionalProperties"], false);
    assert_eq!(
        item["properties"]["likelihood"]["enum"],
        json!(["high", "moderate", "low"])
    );
    assert_eq!(v["properties"]["differential"]["minItems"], 1);
    assert_eq!(v["properties"]["differential"]["maxItems"], 8);
    // A grammar built from the text writes the summary first.
    let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    assert!(at("summary") < at("differential") && at("differential") < at("red_flags"));
    assert!(at("diagnosis") < at("likelihood") && at("likelihood") < at("supporting"));
    // Every string and array is bounded.
    fn bounded(v: &Value, path: &str) {
        match v["type"].as_str() {
            Some("string") if v.get("enum").is_none() => {
                assert!(v.get("maxLength").is_some(), "{path}")
            }
            Some("array") => {
                assert!(v.get("maxItems").is_some(), "{path}");
                bounded(&v["items"], &format!("{path}[]"));
            }
            Some("object") => {
                for (k, p) in v["properties"].as_object().unwrap() {
                    bounded(p, &format!("{path}.{k}"));
                }
            }
            _ => {}
        }
    }
    bounded(&v, "$");
}

#[test]
fn likelihood_is_lowercase_and_round_trips() {
    let d = base();
    let json = serde_json::to_string(&d).unwrap();
    assert!(json.contains(r#""likelihood":"moderate""#), "{json}");
    assert_eq!(Differential::from_json(&json).unwrap(), d);
    assert!(Differential::from_json(&json.replace("moderate", "Moderate")).is_err());
    assert!(
        Differential::from_json(&json.replace(r#""cant_miss""#, r#""extra":1,"cant_miss""#))
            .is_err()
    );
}

#[test]
fn schema_and_validate_agree_at_every_bound() {
    let schema = json_schema();
    let long = |n: usize| "é".repeat(n); // multi-byte: bounds count characters
    type Mutation = Box<dyn Fn(&mut Differential)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        ("as is", Box::new(|_| {})),
        ("empty summary", Box::new(|d| d.summary.clear())),
        (
            "summary at max",
            Box::new(move |d| d.summary = long(schema::SUMMARY_MAX_CHARS)),
        ),
        (
            "summary over",
            Box::new(move |d| d.summary = long(schema::SUMMARY_MAX_CHARS + 1)),
        ),
        ("no items", Box::new(|d| d.differential.clear())),
        (
            "max items",
            Box::new(|d| d.differential = vec![item("x"); *schema::ITEMS.end()]),
        ),
        (
            "too many items",
            Box::new(|d| d.differential = vec![item("x"); *schema::ITEMS.end() + 1]),
        ),
        (
            "empty diagnosis",
            Box::new(|d| d.differential[1].diagnosis.clear()),
        ),
        (
            "diagnosis at max",
            Box::new(move |d| d.differential[0].diagnosis = long(schema::DIAGNOSIS_MAX_CHARS)),
        ),
        (
            "diagnosis over",
            Box::new(move |d| d.differential[0].diagnosis = long(schema::DIAGNOSIS_MAX_CHARS + 1)),
        ),
        (
            "findings at max",
            Box::new(|d| {
                d.differential[0].supporting = vec!["f".into(); schema::FINDINGS_MAX_ITEMS]
            }),
        ),
        (
            "findings over",
            Box::new(|d| {
                d.differential[0].against = vec!["f".into(); schema::FINDINGS_MAX_ITEMS + 1]
            }),
        ),
        (
            "empty finding",
            Box::new(|d| d.differential[0].against = vec![String::new()]),
        ),
        (
            "line at max",
            Box::new(move |d| d.differential[1].next_steps = vec![long(schema::LINE_MAX_CHARS)]),
        ),
        (
            "line over",
            Box::new(move |d| {
                d.differential[1].next_steps = vec![long(schema::LINE_MAX_CHARS + 1)]
            }),
        ),
        (
            "steps over",
            Box::new(|d| {
                d.differential[1].next_steps = vec!["s".into(); schema::NEXT_STEPS_MAX_ITEMS + 1]
            }),
        ),
        ("no red flags", Box::new(|d| d.red_flags.clear())),
        (
            "red flags over",
            Box::new(|d| d.red_flags = vec!["r".into(); schema::RED_FLAGS_MAX_ITEMS + 1]),
        ),
        (
            "red flag over",
            Box::new(move |d| d.red_flags = vec![long(schema::LINE_MAX_CHARS + 1)]),
        ),
    ];
    let mut rejected = 0;
    for (name, mutate) in &mutations {
        let mut d = base();
        mutate(&mut d);
        let by_schema = check(&schema, &serde_json::to_value(&d).unwrap(), "$");
        let by_validate = d.validate();
        assert_eq!(
            by_schema.is_ok(),
            by_validate.is_ok(),
            "{name}: schema {by_schema:?}, validate {by_validate:?}"
        );
        if let Err(e) = by_validate {
            rejected += 1;
            assert!(
                e.to_string()
                    .starts_with("The differential does not follow its schema: "),
                "{e}"
            );
        }
    }
    assert_eq!(
        rejected, 12,
        "every \"over\", \"empty\" and \"no items\" case"
    );
}

#[test]
fn validate_lists_every_problem_in_words() {
    let mut d = base();
    d.summary.clear();
    d.differential[1].supporting = vec!["x".repeat(200)];
    let err = d.validate().unwrap_err().to_string();
    assert_eq!(
        err,
        "The differential does not follow its schema: the summary is empty; \
         diagnosis 2's supporting findings, entry 1 is 200 characters long; at most 160 are allowed."
    );
}
