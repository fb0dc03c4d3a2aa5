//! `locum assist`: the clinical assistant on a case file or a built-in
//! example (reasoning, then the differential under its grammar), as the
//! page's worker runs it.

use super::*;

/// Today's date from the system clock.
fn today_utc() -> locum_clinical::Date {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    locum_clinical::Date::from_days_since_epoch(days as i64)
}

/// Reads a case file: case JSON, a FHIR Bundle, or plain text.
fn read_case(path: &Path, today: locum_clinical::Date) -> Result<locum_clinical::Case> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    Ok(match json {
        Some(v) if v.get("resourceType").and_then(|r| r.as_str()) == Some("Bundle") => {
            let import = locum_clinical::import_bundle(&text, today)?;
            for s in &import.skipped {
                eprintln!(
                    "skipped {} {} resource(s): {}",
                    s.count, s.resource_type, s.reason
                );
            }
            import.case
        }
        Some(_) => locum_clinical::Case::from_json(&text)?,
        None => locum_clinical::Case::from_plain_text(&text),
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn assist(
    model: &Path,
    cases: &[PathBuf],
    examples: &[String],
    json: bool,
    today: Option<&str>,
    ctx: u32,
    temperature: f32,
    seed: u32,
    (reasoning_tokens, differential_tokens, sample_every_token): (
        Option<usize>,
        Option<usize>,
        bool,
    ),
) -> Result<()> {
    use locum_assist::AssistEvent;
    let today = match today {
        Some(t) => Some(locum_clinical::Date::parse(t)?),
        None => None,
    };
    // Each case with the date it is seen: `--today`, else the examples' own
    // date for an example and today's for a file.
    let mut todo = Vec::new();
    for id in examples {
        let d = today.unwrap_or_else(locum_clinical::examples::example_date);
        let all = locum_clinical::examples::examples_as_of(d);
        if id == "list" {
            for (id, title, _) in &all {
                println!("{id}\t{title}");
            }
            return Ok(());
        }
        let case = all
            .into_iter()
            .find(|(i, _, _)| i == id)
            .map(|(_, _, c)| c)
            .with_context(|| format!("no example {id:?}; try --example list"))?;
        todo.push((case, d));
    }
    for path in cases {
        let d = today.unwrap_or_else(today_utc);
        todo.push((read_case(path, d)?, d));
    }
    if todo.is_empty() {
        bail!("give --case FILE or --example ID");
    }
    let (_gpu, mut session, _) = load(model, ctx)?;
    let mut assistant = match sample_every_token {
        true => locum_assist::Assistant::sampling_every_token(&session)?,
        false => locum_assist::Assistant::new(&session)?,
    };
    if let Some(n) = reasoning_tokens {
        assistant.phases.reasoning_max_tokens = n;
    }
    if let Some(n) = differential_tokens {
        assistant.phases.differential_max_tokens = n;
    }
    let sampling = Sampling {
        temperature,
        top_k: 40,
        top_p: 0.95,
        seed,
    };
    let mut json_values = Vec::new();
    for (n, (case, today)) in todo.iter().enumerate() {
        if n > 0 && !json {
            println!("\n");
        }
        let mut out = std::io::stdout().lock();
        let answer = pollster::block_on(assistant.answer(
            &mut session,
            case,
            *today,
            sampling,
            &|| false,
            |e| {
                if json {
                    return;
                }
                match e {
                    AssistEvent::Prompt {
                        tokens,
                        omitted,
                        warnings,
                    } => {
                        let _ = writeln!(out, "[case: {tokens} prompt tokens]");
                        for o in omitted {
                            let _ = writeln!(out, "[left out to fit the context: {o}]");
                        }
                        for w in warnings {
                            let _ = writeln!(out, "[flagged: {}]", w.message);
                        }
                        let _ = writeln!(out, "\nReasoning:");
                    }
                    AssistEvent::Reasoning(piece) => {
                        let _ = out.write_all(piece.as_bytes());
                        let _ = out.flush();
                    }
                    AssistEvent::Item(i, item, code) => {
                        let coded = match code {
                            Some(c) => format!("ICD-10-CM {} {}", c.code, c.title),
                            None => "uncoded".to_string(),
                        };
                        let _ = writeln!(
                            out,
                            "\n{}. {} ({:?}{}) [{coded}]",
                            i + 1,
                            item.diagnosis,
                            item.likelihood,
                            if item.cant_miss { ", can't miss" } else { "" }
                        );
                    }
                    _ => {}
                }
            },
        ))?;
        if json {
            // The differential as the schema has it, each diagnosis with its
            // ICD-10-CM code (null where the lookup found none).
            let mut value = serde_json::to_value(&answer.differential)?;
            if let Some(items) = value["differential"].as_array_mut() {
                for (item, code) in items.iter_mut().zip(&answer.codes) {
                    item["icd10cm"] = match code {
                        Some(c) => {
                            serde_json::json!({"code": c.code, "title": c.title, "billable": c.billable})
                        }
                        None => serde_json::Value::Null,
                    };
                }
            }
            json_values.push(value);
        } else {
            println!(
                "\n\nDifferential (JSON):\n{}",
                serde_json::to_string_pretty(&answer.differential)?
            );
            let d = &answer.differential_stats;
            eprintln!(
            "first reasoning token {:.0} ms, differential complete {:.0} ms; {} reasoning + {} differential tokens",
            answer.time_to_first_token_ms,
            answer.total_ms,
            answer.reasoning_stats.generated_tokens,
            d.generated_tokens
        );
            eprintln!(
            "differential: {} tokens ({} forced by the grammar) in {:.0} ms after its first, {:.2} tokens/s; prompt lookup: {} of {} drafted tokens accepted, {} checked tokens refused by the grammar",
            d.generated_tokens,
            d.forced_tokens,
            d.decode_ms,
            d.decode_tokens_per_s(),
            d.accepted_tokens,
            d.drafted_tokens,
            d.refed_tokens
        );
            let r = &answer.reasoning_stats;
            eprintln!(
                "reasoning: {} tokens in {:.0} ms after its first, {:.2} tokens/s; prompt lookup: {} of {} drafted tokens accepted",
                r.generated_tokens,
                r.decode_ms,
                r.decode_tokens_per_s(),
                r.accepted_tokens,
                r.drafted_tokens
            );
            eprintln!(
                "prompt: {} tokens, {} kept in the cache from the case before, {} read in {:.0} ms",
                r.reused_tokens + r.prompt_tokens,
                r.reused_tokens,
                r.prompt_tokens,
                r.time_to_first_token_ms
            );
        }
    }
    // One case: its JSON; several: an array of them, in order.
    match json_values.len() {
        0 => {}
        1 => println!("{}", serde_json::to_string_pretty(&json_values[0])?),
        _ => println!("{}", serde_json::to_string_pretty(&json_values)?),
    }
    Ok(())
}
