//! Importing a file into the case: a FHIR R4 Bundle or a saved Locum case,
//! read in this tab (never uploaded), merged into what is already written
//! without losing any of it, with what was read, skipped and flagged said
//! in sentences.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlInputElement;

use crate::state::case::today;
use crate::state::import::{read_file, MAX_FILE_BYTES};
use crate::state::use_assistant;

/// How the last import went.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Reading(String),
    Imported {
        message: String,
        details: Vec<String>,
    },
    Failed(String),
}

/// The file picker and the report of the last import.
///
/// Test hooks: `#case-import` (the file input), `#import-status` with
/// `data-outcome` (imported or failed), `#import-details`.
#[component]
pub fn CaseImport() -> impl IntoView {
    let draft = use_assistant().case.draft;
    let outcome = RwSignal::new(None::<Outcome>);
    // A cleared case takes the report on its last import with it.
    Effect::new(move |previous: Option<u32>| {
        let now = draft.cleared.get();
        if previous.is_some_and(|p| p != now) {
            outcome.set(None);
        }
        now
    });
    let on_change = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        // The same file may be chosen again after a fix.
        input.set_value("");
        let name = file.name();
        if file.size() > MAX_FILE_BYTES as f64 {
            outcome.set(Some(Outcome::Failed(format!(
                "{name} is {:.0} MB; Locum imports one patient's record of up to {} MB. Nothing was imported.",
                file.size() / 1e6,
                MAX_FILE_BYTES / 1_000_000
            ))));
            return;
        }
        outcome.set(Some(Outcome::Reading(name.clone())));
        spawn_local(async move {
            let text = match JsFuture::from(file.text()).await {
                Ok(t) => t.as_string().unwrap_or_default(),
                Err(e) => {
                    outcome.try_set(Some(Outcome::Failed(format!(
                        "{name} could not be read ({}). Nothing was imported.",
                        e.as_string()
                            .unwrap_or_else(|| "the browser refused".into())
                    ))));
                    return;
                }
            };
            // try_: the view may be gone by the time the file is read.
            outcome.try_set(Some(match read_file(&name, &text, today()) {
                Ok(imported) => {
                    let summary = imported.summary();
                    let mut details = imported.warnings.clone();
                    details.extend(imported.skipped.iter().map(|s| format!("Skipped: {s}")));
                    details.extend(draft.merge(imported.case));
                    Outcome::Imported {
                        message: format!(
                            "Imported {summary} from {name} ({}), added to what was already written.",
                            imported.kind
                        ),
                        details,
                    }
                }
                Err(message) => Outcome::Failed(message),
            }));
        });
    };
    view! {
        <label for="case-import">"Import a FHIR R4 Bundle or a saved case (JSON; read on this device, never uploaded)"</label>
        <input id="case-import" type="file" accept=".json,application/json,application/fhir+json" on:change=on_change />
        {move || outcome.get().map(|o| match o {
            Outcome::Reading(name) => view! {
                <p id="import-status" data-outcome="reading" role="status">{format!("Reading {name}…")}</p>
            }.into_any(),
            Outcome::Imported { message, details } => view! {
                <div id="import-status" data-outcome="imported" role="status">
                    <p>{message}</p>
                    {(!details.is_empty()).then(|| view! {
                        <ul id="import-details">{details.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}</ul>
                    })}
                </div>
            }.into_any(),
            Outcome::Failed(message) => view! {
                <p id="import-status" class="error" data-outcome="failed" role="alert">{message}</p>
            }.into_any(),
        })}
    }
}
