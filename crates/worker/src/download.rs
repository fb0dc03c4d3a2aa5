//! Downloading the model with progress, from a `fetch` body's stream reader.
//!
//! The whole file is gathered in wasm memory because `Session::load` takes a
//! GGUF held in memory; sharded loading straight into GPU buffers is a later
//! step (see ARCHITECTURE.md, decision 1).

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response, WorkerGlobalScope};

/// Reports progress about every 0.5 % of the file (or every 4 MiB when the
/// size is unknown): often enough for a smooth bar, rarely enough that the
/// page is not flooded with messages.
const STEPS: u64 = 200;
const UNKNOWN_SIZE_STEP: u64 = 4 << 20;

/// The largest file wasm32 could hold next to everything else.
const MAX_BYTES: u64 = 3 << 30;

/// Fetches `url` and returns its bytes, calling `progress(loaded, total)` as
/// they arrive and once at the end. Errors are sentences for the user.
pub async fn download(
    url: &str,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<Vec<u8>, String> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: Response = JsFuture::from(scope.fetch_with_str(url))
        .await
        .map_err(|e| {
            format!(
                "The model could not be downloaded ({}). Check the network connection and try again.",
                describe(&e)
            )
        })?
        .unchecked_into();
    if !response.ok() {
        return Err(format!(
            "The model could not be downloaded: the server answered {} {} for {url}.",
            response.status(),
            response.status_text()
        ));
    }
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|s| s.parse::<u64>().ok());
    if total.is_some_and(|t| t > MAX_BYTES) {
        return Err(format!(
            "The model is {} MB, more than a browser tab can hold; choose a smaller model.",
            total.unwrap_or_default() >> 20
        ));
    }
    let body = response
        .body()
        .ok_or("The model could not be downloaded: the server sent no content.")?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();

    let step = total.map_or(UNKNOWN_SIZE_STEP, |t| (t / STEPS).max(1));
    let mut bytes = Vec::with_capacity(total.unwrap_or(0) as usize);
    let mut reported = 0u64;
    progress(0, total);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| {
            format!(
                "The model download was interrupted ({}). Try again.",
                describe(&e)
            )
        })?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &JsValue::from_str("value"))
            .map_err(|_| "The model download returned something unreadable.".to_string())?
            .unchecked_into();
        let start = bytes.len();
        let len = value.length() as usize;
        if (start + len) as u64 > MAX_BYTES {
            return Err(
                "The model is larger than a browser tab can hold; choose a smaller model.".into(),
            );
        }
        bytes.resize(start + len, 0);
        value.copy_to(&mut bytes[start..]);
        let loaded = bytes.len() as u64;
        if loaded - reported >= step {
            reported = loaded;
            progress(loaded, total);
        }
    }
    let loaded = bytes.len() as u64;
    if let Some(t) = total {
        // A content-encoded body may legitimately differ in length; a
        // shorter identity body means the connection dropped.
        if loaded < t
            && response
                .headers()
                .get("content-encoding")
                .ok()
                .flatten()
                .is_none()
        {
            return Err(format!(
                "The model download stopped early ({loaded} of {t} bytes). Try again."
            ));
        }
    }
    progress(loaded, total.or(Some(loaded)));
    Ok(bytes)
}

/// A JavaScript exception in words.
pub fn describe(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}
