//! The clinical case: examples and file import, the case's fields, the
//! results timeline, what looks wrong in it, and Reason, Regenerate, Stop
//! and Clear, under the standing reminder of what the assistant is.

use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::prelude::*;
use locum_clinical::examples::examples_as_of;
use locum_clinical::{Allergy, Medication, Problem};
use locum_worker::SamplingParams;

use super::{CaseImport, ItemList, Timeline};
use crate::state::case::{today, CaseDraft, Field};
use crate::state::{use_assistant, AnswerState, Phase};

/// What a two-step action is waiting to have confirmed.
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    /// Wipe the whole case.
    Clear,
    /// Replace what is written with the example `id`.
    Example(String),
}

/// The case form. It is usable while the model downloads (Reason waits for
/// it), and what is typed stays in the page's memory across answers,
/// errors, imports and model reloads; only Clear, confirmed, wipes it.
///
/// Test hooks: `#case-example`, `#case-age`, `#case-sex`, `#case-complaint`,
/// `#case-history`, `#case-examination`, `#case-text` (the free note),
/// `#reason`, `#regenerate`, `#case-stop`, `#case-clear`,
/// `#case-disclaimer`, `#case-flags`.
#[component]
pub fn CaseForm() -> impl IntoView {
    let assistant = use_assistant();
    let case = assistant.case;
    let draft = case.draft;
    let pending = RwSignal::new(None::<Pending>);
    let ready = move || assistant.phase.get() == Phase::Ready;
    let has_case = Memo::new(move |_| !draft.is_empty());
    let can_reason = move || ready() && !assistant.busy() && has_case.get();
    let answered = move || !case.cards.with(Vec::is_empty) || case.state.get() == AnswerState::Done;

    let reason = move |sampling: SamplingParams| {
        if can_reason() {
            assistant.assist(sampling);
        }
    };
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        // Greedy: the same case gives the same answer, which is what a
        // clinician checking a suggestion needs.
        reason(SamplingParams::greedy());
    };
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
            ev.prevent_default();
            reason(SamplingParams::greedy());
        }
    };
    let regenerate = move |_| {
        // Another reading of the same case: sampled, with a fresh seed.
        reason(SamplingParams {
            temperature: 0.7,
            top_k: 40,
            top_p: 0.95,
            seed: (js_sys::Math::random() * u32::MAX as f64) as u32,
        });
    };

    let examples = StoredValue::new(examples_as_of(today()));
    let load_example = move |id: &str| {
        let found = examples.with_value(|all| {
            all.iter()
                .find(|(eid, _, _)| *eid == id)
                .map(|(_, _, c)| c.clone())
        });
        if let Some(c) = found {
            draft.replace(c);
        }
    };
    let on_pick = move |ev| {
        let id = event_target_value(&ev);
        if id.is_empty() {
            return;
        }
        if draft.is_empty() {
            load_example(&id);
        } else {
            pending.set(Some(Pending::Example(id)));
        }
    };
    let confirm = move |_| {
        match pending.get_untracked() {
            // Clear is offered only while no answer is streaming.
            Some(Pending::Clear) if !case.state.get_untracked().busy() => {
                draft.clear();
                case.clear_answer();
                case.state.set(AnswerState::Idle);
            }
            Some(Pending::Example(id)) => {
                load_example(&id);
            }
            _ => {}
        }
        pending.set(None);
    };

    let model_name = move || {
        assistant
            .model
            .get()
            .map(|m| m.name.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "not loaded yet".into())
    };
    let flags = Memo::new(move |_| {
        let c = draft.to_case();
        let mut out: Vec<String> = draft.age_problem().into_iter().collect();
        if c != Default::default() {
            out.extend(c.validate(today()).into_iter().map(|w| w.message));
        }
        out
    });

    view! {
        <section class="case" aria-labelledby="case-heading">
            <h2 id="case-heading">"Clinical case"</h2>
            <p id="case-disclaimer" class="disclaimer">
                "Decision support only, not a diagnosis: verify every suggestion clinically. Model: "
                {model_name}
                ". A small general-purpose model that runs on this device: it makes mistakes, \
                 misses diagnoses and can invent findings. The case stays in this tab's memory."
            </p>
            <div class="case-sources">
                <label for="case-example">"Fictional example case"</label>
                <select id="case-example" on:change=on_pick prop:value=move || {
                    match pending.get() { Some(Pending::Example(id)) => id, _ => String::new() }
                }>
                    <option value="">"Choose an example to fill in the case…"</option>
                    {examples.with_value(|all| {
                        all.iter()
                            .map(|(id, title, _)| view! { <option value=*id>{*title}</option> })
                            .collect_view()
                    })}
                </select>
                <CaseImport />
            </div>
            <Show when=move || pending.with(Option::is_some)>
                <div id="case-confirm" class="confirm" role="alertdialog" aria-labelledby="case-confirm-text">
                    <p id="case-confirm-text">
                        {move || match pending.get() {
                            Some(Pending::Clear) => "Clear the whole case and its answer from this tab? This cannot be undone.",
                            _ => "Replace the case written here with the example? What you wrote will be lost.",
                        }}
                    </p>
                    <button type="button" id="case-confirm-yes" on:click=confirm>
                        {move || if pending.get() == Some(Pending::Clear) { "Clear the case" } else { "Replace it" }}
                    </button>
                    <button type="button" id="case-confirm-no" on:click=move |_| pending.set(None)>
                        "Keep my case"
                    </button>
                </div>
            </Show>
            <form id="case-form" class="case-form" on:submit=on_submit on:keydown=on_keydown>
                <div class="row">
                    <label>
                        "Age (years)"
                        <input id="case-age" type="text" inputmode="decimal" size="5"
                            prop:value=move || draft.age.get()
                            on:input=move |ev| draft.age.set(event_target_value(&ev)) />
                    </label>
                    <label>
                        "Sex"
                        <select id="case-sex" prop:value=move || draft.sex.get()
                            on:change=move |ev| draft.sex.set(event_target_value(&ev))>
                            <option value="">"Not stated"</option>
                            <option value="female">"Female"</option>
                            <option value="male">"Male"</option>
                            <option value="other">"Other"</option>
                            <option value="unknown">"Unknown"</option>
                        </select>
                    </label>
                </div>
                {text_field(draft, Field::PresentingComplaint, 1, "Why the patient is here, in a phrase")}
                {text_field(draft, Field::History, 4, "The story so far: onset, course, what helps and what does not")}
                {problem_list("case-problems", "Active problems", "Add a problem, e.g. Type 2 diabetes", draft.active_problems)}
                {problem_list("case-past", "Past medical history", "Add past history, e.g. Appendicectomy 2004", draft.past_history)}
                <ItemList
                    id="case-medications"
                    label="Medications"
                    placeholder="Add a medication, e.g. Ramipril 10 mg once daily"
                    items=Signal::derive(move || draft.medications.get().iter().map(medication_line).collect())
                    on_add=Callback::new(move |name: String| draft.medications.update(|l| l.push(Medication { name, ..Default::default() })))
                    on_remove=Callback::new(move |i: usize| draft.medications.update(|l| { l.remove(i); }))
                />
                <ItemList
                    id="case-allergies"
                    label="Allergies"
                    placeholder="Add an allergy, e.g. Penicillin: rash"
                    items=Signal::derive(move || draft.allergies.get().iter().map(allergy_line).collect())
                    on_add=Callback::new(move |text: String| draft.allergies.update(|l| l.push(allergy(&text))))
                    on_remove=Callback::new(move |i: usize| draft.allergies.update(|l| { l.remove(i); }))
                />
                {text_field(draft, Field::SocialHistory, 2, "Smoking, alcohol, occupation, travel, home")}
                {text_field(draft, Field::FamilyHistory, 2, "Relevant family history")}
                {text_field(draft, Field::Examination, 3, "Examination findings")}
                <Timeline />
                <ItemList
                    id="case-reports"
                    label="Reports (imaging, ECG…)"
                    placeholder=""
                    items=Signal::derive(move || draft.reports.get().iter().map(|r| dated(&r.title, r.date.as_ref(), &r.text)).collect())
                    on_remove=Callback::new(move |i: usize| draft.reports.update(|l| { l.remove(i); }))
                />
                <ItemList
                    id="case-notes"
                    label="Imported notes"
                    placeholder=""
                    items=Signal::derive(move || draft.notes.get().iter().map(|n| dated(n.title.as_deref().unwrap_or("Note"), n.date.as_ref(), &n.text)).collect())
                    on_remove=Callback::new(move |i: usize| draft.notes.update(|l| { l.remove(i); }))
                />
                {text_field(draft, Field::Note, 6, "Anything else, or paste a whole letter here (Ctrl+Enter to reason)")}
                <Show when=move || !flags.with(Vec::is_empty)>
                    <ul id="case-flags" class="warning" role="status" aria-label="Check these in the case">
                        {move || flags.get().into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}
                    </ul>
                </Show>
                <div class="actions">
                    <button type="submit" id="reason" disabled=move || !can_reason()>
                        "Reason over this case"
                    </button>
                    {move || {
                        case.read_ahead.get().filter(|&(_, held)| held > 0).map(|(tokens, held)| {
                            // All but the last two tokens: the answer reads
                            // those itself.
                            let text = match held + 2 >= tokens {
                                true => format!("The case is read: the answer starts at once ({held} of {tokens} tokens)."),
                                false => format!("The case is partly read ({held} of {tokens} tokens)."),
                            };
                            view! {
                                <span id="case-read-ahead" class="detail" role="status">{text}</span>
                            }
                        })
                    }}
                    <Show when=answered>
                        <button type="button" id="regenerate" disabled=move || !can_reason() on:click=regenerate>
                            "Regenerate"
                        </button>
                    </Show>
                    <button
                        type="button"
                        id="case-stop"
                        disabled=move || case.state.get() != AnswerState::Streaming
                        on:click=move |_| assistant.stop_case()
                    >
                        "Stop"
                    </button>
                    <button type="button" id="case-clear" class="secondary"
                        disabled=move || {
                            case.state.get().busy() || (!has_case.get() && case.state.get() == AnswerState::Idle)
                        }
                        on:click=move |_| pending.set(Some(Pending::Clear))>
                        "Clear case"
                    </button>
                    <span class="hint">
                        {move || (!ready()).then_some("Reason becomes available when the model has loaded.")}
                    </span>
                </div>
            </form>
        </section>
    }
}

/// A labelled text field bound to `field` of the draft.
fn text_field(
    draft: CaseDraft,
    field: Field,
    rows: u32,
    placeholder: &'static str,
) -> impl IntoView {
    let signal = draft.text(field);
    let id = field.element_id();
    view! {
        <label for=id>{field.label()}</label>
        <textarea
            id=id
            rows=rows
            placeholder=placeholder
            prop:value=move || signal.get()
            on:input=move |ev| signal.set(event_target_value(&ev))
        ></textarea>
    }
}

/// A list of problems (active, or past), each added by its name.
fn problem_list(
    id: &'static str,
    label: &'static str,
    placeholder: &'static str,
    list: RwSignal<Vec<Problem>>,
) -> impl IntoView {
    view! {
        <ItemList
            id=id
            label=label
            placeholder=placeholder
            items=Signal::derive(move || list.get().iter().map(problem_line).collect())
            on_add=Callback::new(move |name: String| list.update(|l| l.push(problem(name))))
            on_remove=Callback::new(move |i: usize| list.update(|l| { l.remove(i); }))
        />
    }
}

fn problem(name: String) -> Problem {
    Problem {
        name,
        onset: None,
        note: None,
    }
}

fn allergy(text: &str) -> Allergy {
    match text.split_once(':') {
        Some((s, r)) if !r.trim().is_empty() => Allergy {
            substance: s.trim().to_string(),
            reaction: Some(r.trim().to_string()),
        },
        _ => Allergy {
            substance: text.trim_end_matches(':').trim().to_string(),
            reaction: None,
        },
    }
}

fn problem_line(p: &Problem) -> String {
    let mut s = p.name.clone();
    if let Some(onset) = &p.onset {
        s.push_str(&format!(" (since {onset})"));
    }
    if let Some(note) = &p.note {
        s.push_str(&format!(": {note}"));
    }
    s
}

fn medication_line(m: &Medication) -> String {
    let mut parts = vec![m.name.clone()];
    parts.extend(
        [&m.dose, &m.route, &m.frequency, &m.instructions]
            .into_iter()
            .flatten()
            .cloned(),
    );
    let mut s = parts.join(" ");
    match (&m.start, &m.stop) {
        (Some(a), Some(b)) => s.push_str(&format!(" (from {a}, stopped {b})")),
        (Some(a), None) => s.push_str(&format!(" (from {a})")),
        (None, Some(b)) => s.push_str(&format!(" (stopped {b})")),
        (None, None) => {}
    }
    s
}

fn allergy_line(a: &Allergy) -> String {
    match &a.reaction {
        Some(r) => format!("{}: {r}", a.substance),
        None => a.substance.clone(),
    }
}

fn dated(title: &str, date: Option<&locum_clinical::Timestamp>, text: &str) -> String {
    match date {
        Some(d) => format!("{title} ({d}): {text}"),
        None => format!("{title}: {text}"),
    }
}
