//! The clinical pipeline on the real default model: a short case in, a
//! schema-valid differential out, under the grammar, whatever the model
//! writes. Budgets are kept small so the test runs in CI on a CPU adapter;
//! the cap forces the wind-down and the forced close, the paths a long
//! answer takes at its end.

use std::path::PathBuf;

use anyhow::{Context, Result};
use locum_assist::{AssistEvent, Assistant};
use locum_clinical::{Case, Date, Differential};
use locum_engine::{Gpu, Sampling, Session};

fn model_bytes() -> Result<Vec<u8>> {
    let p = match std::env::var_os("LOCUM_TEST_MODEL") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    };
    std::fs::read(&p).with_context(|| {
        format!(
            "the default model is missing at {}: run `cargo xtask setup`",
            p.display()
        )
    })
}

#[test]
fn a_case_gives_a_schema_valid_differential_on_the_real_model() -> Result<()> {
    let bytes = model_bytes()?;
    let gpu = pollster::block_on(Gpu::new())?;
    let mut session = Session::load(&gpu, &bytes, 1024)?;
    let mut assistant = Assistant::new(&session)?;
    assistant.phases.reasoning_max_tokens = 12;
    assistant.phases.differential_max_tokens = 48;
    let case = Case::from_plain_text(
        "58-year-old man, 2 hours of crushing central chest pain radiating to the left arm, \
         sweating. Smoker. BP 150/90, HR 104. ECG: ST elevation in II, III, aVF.",
    );
    let mut events = Vec::new();
    let answer = pollster::block_on(assistant.answer(
        &mut session,
        &case,
        Date::new(2026, 3, 6)?,
        Sampling::greedy(),
        &|| false,
        |e| events.push(e),
    ))?;

    // What streamed is what came out, and it parses and validates.
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            AssistEvent::Json(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, answer.json);
    let parsed = Differential::from_json(&answer.json)?;
    parsed.validate()?;
    assert_eq!(parsed, answer.differential);
    assert!(!parsed.differential.is_empty());
    // Every closed diagnosis was announced as it closed, in order.
    let items: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            AssistEvent::Item(i, item, _) => Some((*i, item.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(items.len(), parsed.differential.len());
    for (n, (i, item)) in items.iter().enumerate() {
        assert_eq!((*i, item), (n, &parsed.differential[n]));
    }
    assert_eq!(answer.codes.len(), parsed.differential.len());
    assert!(answer.reasoning_stats.generated_tokens <= 12);
    assert!(answer.differential_stats.generated_tokens <= 48);
    // What the grammar forces was fed without sampling: after the model's
    // `{"`, the key `summary` (the summary then takes the budget).
    let forced = answer.differential_stats.forced_tokens;
    assert!(forced >= 1, "{forced} tokens forced");
    assert!(matches!(events.first(), Some(AssistEvent::Prompt { .. })));
    Ok(())
}

#[test]
fn a_case_too_long_for_the_context_is_refused_with_a_sentence() -> Result<()> {
    let bytes = model_bytes()?;
    let gpu = pollster::block_on(Gpu::new())?;
    // 600 positions leave no room for the prompt once the answer's share is
    // set aside.
    let mut session = Session::load(&gpu, &bytes, 600)?;
    let assistant = Assistant::new(&session)?;
    let case = Case::from_plain_text("Cough for three days.");
    let err = pollster::block_on(assistant.answer(
        &mut session,
        &case,
        Date::new(2026, 3, 6)?,
        Sampling::greedy(),
        &|| false,
        |_| {},
    ))
    .err()
    .context("a case that cannot fit was answered")?;
    assert!(err.to_string().contains("does not fit"), "{err}");
    Ok(())
}
