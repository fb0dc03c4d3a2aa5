//! The models this site offers: each with its size, architecture, types and
//! licence, how much of it this device already holds (so the download is
//! known before it starts), a way to switch to it without losing the case,
//! and a way to remove it from this device.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::units;
use crate::state::models::{self, ModelEntry, ModelIndex, Stored};
use crate::state::{use_assistant, Phase};

/// The model list. Hidden when the site has no `model-shards/index.json`.
///
/// Test hooks: `#model-picker`, one `li[data-model]` per model with
/// `data-current` and `data-stored` (all, some, none), `button.use-model`,
/// `button.remove-model`, `#model-picker-status`.
#[component]
pub fn ModelPicker() -> impl IntoView {
    let assistant = use_assistant();
    let index = RwSignal::new(None::<ModelIndex>);
    let stored = RwSignal::new(HashMap::<String, Stored>::new());
    let status = RwSignal::new(None::<String>);

    // Async work may finish after the page swapped this view out (no
    // WebGPU, say): it then writes nothing (`try_` setters).
    let refresh = move || {
        let Some(list) = index.try_get_untracked().flatten() else {
            return;
        };
        spawn_local(async move {
            for entry in list.models {
                match models::stored(&entry).await {
                    Ok(s) => {
                        stored.try_update(|m| {
                            m.insert(entry.id.clone(), s);
                        });
                    }
                    Err(e) => log::warn!("{}: {e}", entry.id),
                }
            }
        });
    };
    // The list is read once the browser has WebGPU and the model is
    // loading or ready: a browser that cannot run the assistant requests
    // nothing under model-shards/.
    let asked = StoredValue::new(false);
    Effect::new(move |_| {
        let phase = assistant.phase.get();
        if asked.get_value() || !matches!(phase, Phase::Loading { .. } | Phase::Ready) {
            return;
        }
        asked.set_value(true);
        spawn_local(async move {
            match models::load_index().await {
                Ok(i) => {
                    index.try_set(Some(i));
                    refresh();
                }
                // A site without an index serves one model: nothing to pick.
                Err(e) => log::info!("no model list: {e}"),
            }
        });
    });
    // A finished load has stored shards: look again.
    Effect::new(move |_| {
        if assistant.phase.get() == Phase::Ready {
            refresh();
        }
    });

    let current = move || models::id_of(&assistant.manifest_url.get()).map(str::to_string);
    let switch = move |entry: ModelEntry| {
        status.set(None);
        if !assistant.switch_model(entry.manifest_url(), &entry.id) {
            status.set(Some(
                "Wait until the model has loaded and no answer is being written, then switch."
                    .into(),
            ));
        }
    };
    let remove = move |entry: ModelEntry| {
        let all = index.get_untracked().map(|i| i.models).unwrap_or_default();
        spawn_local(async move {
            status.try_set(Some(match models::remove(&entry, &all).await {
                Ok(freed) => {
                    let in_use = current().as_deref() == Some(entry.id.as_str())
                        && assistant.phase.get_untracked() == Phase::Ready;
                    format!(
                        "Removed {} from this device ({} freed).{}",
                        entry.name,
                        units::size(freed),
                        if in_use {
                            " It stays loaded until this page is closed; the next visit downloads it again."
                        } else {
                            ""
                        }
                    )
                }
                Err(e) => format!("{} could not be removed from this device: {e}.", entry.name),
            }));
            refresh();
        });
    };

    let rows = move || {
        let list = index.get().map(|i| i.models).unwrap_or_default();
        let now = current();
        let busy = assistant.busy() || matches!(assistant.phase.get(), Phase::Loading { .. });
        list.into_iter()
            .map(|entry| {
                let is_current = now.as_deref() == Some(entry.id.as_str());
                let have = stored.with(|m| m.get(&entry.id).copied());
                let slug = have.map(Stored::slug).unwrap_or("unknown");
                let where_ = match have {
                    Some(s) if s.slug() == "all" => "on this device".to_string(),
                    Some(s) if s.slug() == "some" => format!(
                        "{} of it on this device, {} to download",
                        units::size(s.bytes),
                        units::size(s.total.saturating_sub(s.bytes))
                    ),
                    _ => format!("{} to download", units::size(entry.bytes)),
                };
                let details = format!(
                    "{}; {}{}",
                    entry.architecture,
                    entry.quant_types.join(", "),
                    entry.license.as_deref().map(|l| format!("; licence {l}")).unwrap_or_default()
                );
                let name = entry.name.clone();
                let (use_entry, remove_entry) = (entry.clone(), entry.clone());
                let removable = have.is_some_and(|s| s.bytes > 0);
                view! {
                    <li data-model=entry.id.clone() data-current=is_current.to_string() data-stored=slug>
                        <strong>{name.clone()}</strong>
                        " · " {units::size(entry.bytes)} " · " <span class="stored">{where_}</span>
                        <br />
                        <span class="detail">{details}</span>
                        <br />
                        <button type="button" class="use-model secondary" disabled=is_current || busy
                            aria-label=format!("Use {name}")
                            on:click=move |_| switch(use_entry.clone())>
                            {if is_current { "In use" } else { "Use this model" }}
                        </button>
                        " "
                        {removable.then(|| view! {
                            <button type="button" class="remove-model secondary"
                                aria-label=format!("Remove {name} from this device")
                                on:click=move |_| remove(remove_entry.clone())>
                                "Remove from this device"
                            </button>
                        })}
                    </li>
                }
            })
            .collect_view()
    };

    view! {
        <Show when=move || index.with(|i| i.as_ref().is_some_and(|i| !i.models.is_empty()))>
            <details id="model-picker" class="model-picker" open=move || index.with(|i| i.as_ref().is_some_and(|i| i.models.len() > 1))>
                <summary>"Models on this site"</summary>
                <ul>{rows}</ul>
                <p id="model-picker-status" role="status">{move || status.get()}</p>
            </details>
        </Show>
    }
}
