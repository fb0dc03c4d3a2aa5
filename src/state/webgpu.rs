//! Does this browser offer WebGPU? Asked on the page before the worker (and
//! a large download) is started.
//!
//! Plain `js_sys::Reflect` calls rather than web-sys's `Gpu` bindings, which
//! are unstable and need a cfg flag; two property reads and one call are
//! all this needs.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The adapter the page was offered, as the browser describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageAdapter {
    /// e.g. "google swiftshader"; empty when the browser says nothing.
    pub name: String,
    /// A software adapter (SwiftShader and the like): everything works,
    /// slowly.
    pub software: bool,
}

/// The adapter when `navigator.gpu.requestAdapter()` gives one, else the
/// browser's reason in a few technical words (shown as a detail, below the
/// plain-language explanation).
pub async fn detect() -> Result<PageAdapter, String> {
    let window = web_sys::window().ok_or("no browser window")?;
    let navigator: JsValue = window.navigator().into();
    let gpu = Reflect::get(&navigator, &JsValue::from_str("gpu")).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err("navigator.gpu is missing: WebGPU is not available in this browser".into());
    }
    let request = Reflect::get(&gpu, &JsValue::from_str("requestAdapter"))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or("navigator.gpu.requestAdapter is missing")?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter failed: {}", describe(&e)))?
        .dyn_into()
        .map_err(|_| "requestAdapter did not return a promise".to_string())?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter failed: {}", describe(&e)))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("WebGPU is present but the browser offers no GPU adapter".into());
    }
    Ok(describe_adapter(&adapter))
}

/// Reads `adapter.info` (vendor, architecture, description) and
/// `isFallbackAdapter`, all optional in browsers.
fn describe_adapter(adapter: &JsValue) -> PageAdapter {
    let get =
        |o: &JsValue, k: &str| Reflect::get(o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
    let info = get(adapter, "info");
    let text = |k: &str| get(&info, k).as_string().unwrap_or_default();
    let description = text("description");
    let name = if description.trim().is_empty() {
        format!("{} {}", text("vendor"), text("architecture"))
    } else {
        description
    };
    let name = name.trim().to_string();
    let fallback = get(&info, "isFallbackAdapter").as_bool().unwrap_or(false)
        || get(adapter, "isFallbackAdapter").as_bool().unwrap_or(false);
    let software = fallback || name.to_lowercase().contains("swiftshader");
    PageAdapter { name, software }
}

/// A JavaScript exception in words.
pub fn describe(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}
