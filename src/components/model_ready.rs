//! What the status says once the model is loaded.

use leptos::prelude::*;

use super::units;
use crate::state::{use_assistant, ModelInfo};

/// The model's name and size, the graphics processor it runs on, how long it
/// took to load and whether it came from this device or was downloaded.
///
/// Test hooks on `#model-ready`: `data-from-device` ("true" when nothing was
/// downloaded), `data-downloaded-bytes`, `data-model-bytes`,
/// `data-wasm-memory-bytes`, `data-load-ms`, `data-not-stored` (shards the
/// device could not keep); `#not-stored` says so in words.
#[component]
pub fn ModelReady() -> impl IntoView {
    let assistant = use_assistant();
    move || {
        assistant.model.get().map(|m| {
            let software = m.software;
            let not_stored = m.not_stored_shards > 0;
            view! {
                <p
                    id="model-ready"
                    data-from-device=m.came_from_this_device().to_string()
                    data-downloaded-bytes=m.downloaded_bytes.to_string()
                    data-model-bytes=m.model_bytes.to_string()
                    data-wasm-memory-bytes=m.wasm_memory_bytes.to_string()
                    data-load-ms=format!("{:.0}", m.load_ms)
                    data-not-stored=m.not_stored_shards.to_string()
                >
                    {ready_sentence(&m)}
                </p>
                <Show when=move || not_stored>
                    <p id="not-stored" class="warning" role="status">
                        "This device's storage is full, so the model could not be kept here: \
                         it works now, but the next visit will download it again. Free some \
                         disk space to keep it."
                    </p>
                </Show>
                <p class="detail">
                    {format!("The engine's memory after loading: {}.", units::size(m.wasm_memory_bytes))}
                </p>
                <Show when=move || software>
                    <p class="detail">
                        "The browser runs the model on a software stand-in for a graphics processor, "
                        "which is slow: an answer may take several minutes."
                    </p>
                </Show>
            }
        })
    }
}

/// "Ready: SmolLM2 (98.3 MB) on `<adapter>`, loaded from this device in 1.6 s."
/// or "…: downloaded 98.3 MB and loaded in 12.0 s."
pub fn ready_sentence(m: &ModelInfo) -> String {
    let name = if m.name.trim().is_empty() {
        "the model"
    } else {
        m.name.trim()
    };
    let took = units::duration(m.load_ms);
    let how = if m.came_from_this_device() {
        format!("loaded from this device in {took}")
    } else if m.downloaded_bytes < m.model_bytes {
        format!(
            "downloaded {} (the rest was already on this device) and loaded in {took}",
            units::size(m.downloaded_bytes)
        )
    } else {
        format!(
            "downloaded {} and loaded in {took}",
            units::size(m.downloaded_bytes)
        )
    };
    format!(
        "Ready: {name} ({}) on {}, {how}.",
        units::size(m.model_bytes),
        m.adapter
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(downloaded_bytes: u64) -> ModelInfo {
        ModelInfo {
            name: "SmolLM2-135M-Instruct".into(),
            adapter: "SwiftShader".into(),
            software: true,
            load_ms: 1_640.0,
            downloaded_bytes,
            model_bytes: 98_300_000,
            wasm_memory_bytes: 40_000_000,
            not_stored_shards: 0,
        }
    }

    #[test]
    fn says_where_the_model_came_from() {
        assert_eq!(
            ready_sentence(&info(0)),
            "Ready: SmolLM2-135M-Instruct (98.3 MB) on SwiftShader, loaded from this device in 1.6 s."
        );
        assert_eq!(
            ready_sentence(&info(98_300_000)),
            "Ready: SmolLM2-135M-Instruct (98.3 MB) on SwiftShader, downloaded 98.3 MB and loaded in 1.6 s."
        );
        assert!(ready_sentence(&info(40_000_000))
            .contains("downloaded 40.0 MB (the rest was already on this device)"));
    }
}
