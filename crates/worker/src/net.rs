//! The network and the device's storage, as the loader needs them: fetch
//! with retries and a streamed body, Cache Storage keyed by content hash,
//! the storage estimate, a sleep. Every failure is a sentence.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Cache, ReadableStreamDefaultReader, RequestCache, RequestInit, Response, WorkerGlobalScope,
};

/// The Cache Storage cache that holds verified shards, keyed by sha256.
pub const SHARD_CACHE: &str = "locum-shards-v1";
/// The Cache Storage cache that holds the last manifest seen at each URL,
/// for visits without a network.
pub const MANIFEST_CACHE: &str = "locum-manifests-v1";

/// A JavaScript exception in words.
pub fn describe(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    if let Some(ex) = e.dyn_ref::<web_sys::DomException>() {
        return format!("{}: {}", ex.name(), ex.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// `relative` resolved against `base` (both URLs as strings).
pub fn resolve(relative: &str, base: &str) -> Result<String, String> {
    web_sys::Url::new_with_base(relative, base)
        .map(|u| u.href())
        .map_err(|e| format!("{relative} is not a valid address ({})", describe(&e)))
}

/// The worker's own address, the base for the page's relative URLs.
pub fn here() -> String {
    scope().location().href()
}

/// Waits `ms` milliseconds.
pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await
}

/// Why a fetch failed, for the retry decision and the message.
#[derive(Debug)]
pub enum FetchError {
    /// No answer at all: offline, server gone, connection reset.
    Network(String),
    /// The server answered with an error status.
    Status(u16, String),
}

impl FetchError {
    pub fn describe(&self) -> String {
        match self {
            FetchError::Network(m) => format!("the connection failed ({m})"),
            FetchError::Status(code, text) => format!("the server answered {code} {text}"),
        }
    }
}

/// GETs `url`; `reload` bypasses the HTTP cache (a second try after a bad
/// checksum must not be served the same bad bytes).
pub async fn get(url: &str, reload: bool) -> Result<Response, FetchError> {
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_cache(if reload {
        RequestCache::Reload
    } else {
        RequestCache::NoCache
    });
    let response: Response = JsFuture::from(scope().fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| FetchError::Network(describe(&e)))?
        .unchecked_into();
    if !response.ok() {
        return Err(FetchError::Status(
            response.status(),
            response.status_text(),
        ));
    }
    Ok(response)
}

/// The body of `response` as text.
pub async fn text(response: &Response) -> Result<String, String> {
    let p = response.text().map_err(|e| describe(&e))?;
    JsFuture::from(p)
        .await
        .map_err(|e| describe(&e))?
        .as_string()
        .ok_or_else(|| "the answer was not text".to_string())
}

/// Reads `response`'s body chunk by chunk, calling `chunk` with each piece
/// (copied into wasm memory by the callee). `cancelled()` is checked between
/// chunks and ends the read early with `Ok(false)`.
pub async fn stream_body(
    response: &Response,
    mut chunk: impl FnMut(&Uint8Array) -> Result<(), String>,
    cancelled: impl Fn() -> bool,
) -> Result<bool, String> {
    let body = response
        .body()
        .ok_or_else(|| "the server sent no content".to_string())?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    loop {
        if cancelled() {
            let _ = reader.cancel();
            return Ok(false);
        }
        let next = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("the download was interrupted ({})", describe(&e)))?;
        let done = Reflect::get(&next, &JsValue::from_str("done"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(true);
        }
        let value: Uint8Array = Reflect::get(&next, &JsValue::from_str("value"))
            .map_err(|_| "the download returned something unreadable".to_string())?
            .unchecked_into();
        if let Err(e) = chunk(&value) {
            let _ = reader.cancel();
            return Err(e);
        }
    }
}

/// Opens a Cache Storage cache; `None` where the browser has none (private
/// modes, insecure origins), in which case the model is simply not kept.
pub async fn open_cache(name: &str) -> Option<Cache> {
    let caches = scope().caches().ok()?;
    JsFuture::from(caches.open(name))
        .await
        .ok()
        .map(|c| c.unchecked_into())
}

/// The stored response for `key`, if any.
pub async fn cached(cache: &Cache, key: &str) -> Option<Response> {
    let v = JsFuture::from(cache.match_with_str(key)).await.ok()?;
    v.dyn_into::<Response>().ok()
}

/// Stores `bytes` under `key`. The bytes are copied out of wasm memory.
pub async fn store(cache: &Cache, key: &str, bytes: &mut [u8]) -> Result<(), String> {
    let response = Response::new_with_opt_u8_array(Some(bytes)).map_err(|e| describe(&e))?;
    JsFuture::from(cache.put_with_str(key, &response))
        .await
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// Stores `text` under `key`.
pub async fn store_text(cache: &Cache, key: &str, text: &str) -> Result<(), String> {
    let response = Response::new_with_opt_str(Some(text)).map_err(|e| describe(&e))?;
    JsFuture::from(cache.put_with_str(key, &response))
        .await
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// Forgets `key` (a stored shard that no longer matches its hash).
pub async fn forget(cache: &Cache, key: &str) {
    let _ = JsFuture::from(cache.delete_with_str(key)).await;
}

/// The whole body of a stored response, copied into `out` (resized to fit).
pub async fn read_all(response: &Response, out: &mut Vec<u8>) -> Result<(), String> {
    let p = response.array_buffer().map_err(|e| describe(&e))?;
    let buf = JsFuture::from(p).await.map_err(|e| describe(&e))?;
    let view = Uint8Array::new(&buf);
    out.clear();
    out.resize(view.length() as usize, 0);
    view.copy_to(out);
    Ok(())
}

/// The browser's storage estimate for this origin: (usage, quota) in bytes.
pub async fn storage_estimate() -> Option<(u64, u64)> {
    let nav = scope().navigator();
    let storage = Reflect::get(&nav, &JsValue::from_str("storage")).ok()?;
    let storage: web_sys::StorageManager = storage.dyn_into().ok()?;
    let est = JsFuture::from(storage.estimate().ok()?).await.ok()?;
    let get = |k: &str| {
        Reflect::get(&est, &JsValue::from_str(k))
            .ok()
            .and_then(|v| v.as_f64())
    };
    Some((get("usage")? as u64, get("quota")? as u64))
}

/// The worker's wasm memory in bytes. Wasm memory only grows, so this is
/// the peak so far.
pub fn wasm_memory_bytes() -> u64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as u64
}
