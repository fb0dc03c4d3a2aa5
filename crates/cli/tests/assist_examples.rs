//! `locum assist --json` on a built-in example case, on the real model
//! (lavapipe in CI): the output is the differential in its schema, and each
//! diagnosis carries the ICD-10-CM code the local lookup gives its name
//! (null where the lookup finds none; never a guess).
//!
//! One example runs on the model, fitted into a 600-position context (about 500 prompt tokens) with
//! short phases (8 reasoning and 64 differential tokens): on CI's two
//! shared cores a whole example's 1,000-token prefill took minutes each, and
//! the five ran past CI's limit. The grammar still closes the JSON within the
//! limit, which is part of what is tested; every example is listed, and
//! `LOCUM_ALL_EXAMPLES=1` runs all of them.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use locum_clinical::{icd10, Differential};

fn model() -> Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join(".models/SmolLM2-135M-Instruct.Q4_1.gguf");
    ensure!(
        path.exists(),
        "{} is missing: run `cargo xtask setup`",
        path.display()
    );
    Ok(path)
}

#[test]
fn an_example_gives_schema_valid_json_with_its_codes() -> Result<()> {
    let model = model()?;
    // Without the index every code is null and the check below is empty.
    ensure!(
        icd10::source().is_some() && icd10::lookup("Acute myocardial infarction").is_some(),
        "the ICD-10-CM index is not built in: run `cargo xtask setup`"
    );
    let list = Command::new(env!("CARGO_BIN_EXE_locum"))
        .args(["assist", "--example", "list"])
        .output()?;
    ensure!(list.status.success(), "--example list failed");
    let ids: Vec<String> = String::from_utf8(list.stdout)?
        .lines()
        .filter_map(|l| l.split('\t').next().map(str::to_string))
        .collect();
    ensure!(ids.len() >= 5, "only {} examples listed", ids.len());
    let all = std::env::var_os("LOCUM_ALL_EXAMPLES").is_some_and(|v| v == "1");
    let run = if all { &ids[..] } else { &ids[..1] };
    let mut coded = 0;
    for id in run {
        let out = Command::new(env!("CARGO_BIN_EXE_locum"))
            .args(["assist", "--example", id, "--json", "--ctx", "600"])
            .args(["--reasoning-tokens", "8", "--differential-tokens", "64"])
            .arg("--model")
            .arg(&model)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .output()?;
        ensure!(
            out.status.success(),
            "{id}: locum assist failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut value: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("{id}: the output is not JSON"))?;
        // The codes sit beside the schema's fields; take them out, then the
        // rest must be exactly the schema.
        let items = value["differential"]
            .as_array_mut()
            .with_context(|| format!("{id}: no differential array"))?;
        let mut codes = Vec::new();
        for item in items.iter_mut() {
            let obj = item.as_object_mut().context("an item is not an object")?;
            codes.push(
                obj.remove("icd10cm")
                    .with_context(|| format!("{id}: an item has no icd10cm"))?,
            );
        }
        let differential = Differential::from_json(&value.to_string())
            .with_context(|| format!("{id}: the JSON does not parse as a differential"))?;
        differential
            .validate()
            .with_context(|| format!("{id}: the differential breaks its schema"))?;
        for (item, code) in differential.differential.iter().zip(&codes) {
            let expected = icd10::lookup(&item.diagnosis);
            match (&expected, code) {
                (Some(m), serde_json::Value::Object(c)) => {
                    ensure!(
                        c["code"] == m.code.as_str(),
                        "{id}: {} coded {c:?}, lookup says {}",
                        item.diagnosis,
                        m.code
                    );
                    ensure!(
                        c["title"] == m.title.as_str(),
                        "{id}: {} has the wrong title",
                        item.diagnosis
                    );
                    coded += 1;
                }
                (None, serde_json::Value::Null) => {}
                _ => anyhow::bail!(
                    "{id}: {} has code {code} but the lookup gives {expected:?}",
                    item.diagnosis
                ),
            }
        }
        eprintln!(
            "{id}: {} diagnoses, {} coded: {}",
            codes.len(),
            codes.iter().filter(|c| !c.is_null()).count(),
            differential
                .differential
                .iter()
                .map(|i| i.diagnosis.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    eprintln!("{coded} diagnoses coded over {} examples", run.len());
    Ok(())
}
